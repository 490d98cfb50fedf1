"""
Changes to bodies and to the part structure, as patches on the message.

Each function makes one change (a group of patches) and touches only the
bytes it must: setBody replaces the body and the Content-Transfer-Encoding
field, appendPart inserts a delimiter line and the new part before the
close delimiter, remove() cuts the part out from its delimiter line to the
next one.  Appending to a part that is not a multipart turns it into one:
its Content-* fields move into the first inner part, the new part follows,
and later appends and prepends go into that same multipart.

New text uses the message's own line ending; parts to add are anything
with C{render(eol)} (the MIME builder) or a L{halon.mime.part.Part}.
"""

import re
import uuid

from halon.mime.encoding import choose_encoding, encode_body
from halon.mime.headers import make_field

__all__ = ["set_body", "set_preamble", "set_epilogue", "add_part", "replace_part", "remove", "to_eol", "split_entity"]

_BARE_LF = re.compile(rb"(?<!\r)\n")


def to_eol(data, eol):
    """C{data} with every line break made C{eol}."""
    if eol == b"\n":
        return data.replace(b"\r\n", b"\n")
    return _BARE_LF.sub(b"\r\n", data)


def split_entity(raw):
    """(header fields, body) of an entity's bytes; the blank line belongs to neither."""
    pos = 0
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        end = len(raw) if nl < 0 else nl + 1
        if raw[pos:end] in (b"\n", b"\r\n"):
            return raw[:pos], raw[end:]
        pos = end
    return raw, b""


def _entity_bytes(entity, eol):
    render = getattr(entity, "render", None)
    if render is not None:
        return render(eol)
    return to_eol(entity.to_bytes(), eol)


def _strip_eol(data, eol):
    return data[: -len(eol)] if data.endswith(eol) else data


def _at_line_start(buf, pos):
    return pos == 0 or buf[pos - 1 : pos] == b"\n"


def _ends_line(part):
    """Whether the part's body ends with a line break (root bodies do; parts before a delimiter don't)."""
    buf = part.message.buffer
    if part.body_end > part.body_start:
        return buf[part.body_end - 1 : part.body_end] == b"\n"
    return part.parent is None or not part.parent.is_multipart


def _has_separator(part):
    return part.body_start > part.header_end


def set_body(part, data, encode=True):
    """Replace a single part's body; False for a multipart."""
    if part.is_multipart:
        return False
    message = part.message
    eol = message.eol
    patches = []
    if encode:
        encoding = choose_encoding(data)
        body = encode_body(data, encoding, eol)
        ctes = part.fields_named("content-transfer-encoding")
        field = make_field("Content-Transfer-Encoding", encoding, True, eol)
        if ctes:
            patches.append((ctes[0].start, ctes[0].end - ctes[0].start, field))
            patches.extend((f.start, f.end - f.start, b"") for f in ctes[1:])
        elif encoding != "7bit":
            prefix = b"" if _at_line_start(message.buffer, part.header_end) else eol
            patches.append((part.header_end, 0, prefix + field))
    else:
        body = to_eol(data, eol)
    if _ends_line(part):
        if body and not body.endswith(eol):
            body += eol
    else:
        body = _strip_eol(body, eol)
    separator = b"" if _has_separator(part) else eol
    patches.append((part.body_start, part.body_end - part.body_start, separator + body))
    message.change(patches)
    return True


def set_preamble(part, data):
    """Replace a multipart's preamble; False for a single part."""
    if not part.is_multipart:
        return False
    eol = part.message.eol
    data = to_eol(data, eol)
    if part.delimiters:
        first = part.delimiters[0]
        part.message.change([(part.body_start, first - part.body_start, data + eol if data else b"")])
    else:
        part.message.change([(part.body_start, part.body_end - part.body_start, data)])
    return True


def set_epilogue(part, data):
    """Replace a multipart's epilogue (closing it first if it was unclosed); False for a single part."""
    if not part.is_multipart:
        return False
    message = part.message
    eol = message.eol
    data = to_eol(data, eol)
    if part.close_end is not None:
        prefix = eol if data and not _at_line_start(message.buffer, part.close_end) else b""
        message.change([(part.close_end, part.body_end - part.close_end, prefix + data)])
    else:
        prefix = b"" if _at_line_start(message.buffer, part.body_end) else eol
        close = prefix + b"--" + part.boundary + b"--" + eol + data
        message.change([(part.body_end, 0, close, "last")])
    return True


def add_part(part, entity, multipart_type, prepend):
    """prependPart()/appendPart(): a new first or last child."""
    message = part.message
    eol = message.eol
    new = _strip_eol(_entity_bytes(entity, eol), eol)
    if part.is_multipart:
        dash = b"--" + part.boundary
        if prepend and part.delimiters:
            message.change([(part.delimiters[0], 0, dash + eol + new + eol, "stack")])
        elif part.close_end is not None:
            message.change([(part.delimiters[-1], 0, dash + eol + new + eol)])
        else:
            prefix = b"" if _at_line_start(message.buffer, part.body_end) else eol
            message.change([(part.body_end, 0, prefix + dash + eol + new + eol)])
        return True
    key = ("wrap", part.id)
    patches = []
    boundary = message.state.get(key)
    if boundary is None:
        boundary = ("=_" + uuid.uuid4().hex).encode("ascii")
        patches.extend(_wrap(part, boundary, multipart_type))
        message.state[key] = boundary
    block = b"--" + boundary + eol + new + eol
    if prepend:
        patches.append((part.body_start, 0, block, "stack"))
    else:
        patches.append((part.body_end, 0, block))
    message.change(patches)
    return True


def _wrap(part, boundary, multipart_type):
    """Patches that make a single part a multipart whose first child is the old content."""
    message = part.message
    buf = message.buffer
    eol = message.eol
    dash = b"--" + boundary
    content = [f for f in part.fields if f.lname.startswith("content-")]
    inner = b"".join(to_eol(bytes(buf[f.start : f.end]), eol) for f in content)
    if inner and not inner.endswith(eol):
        inner += eol
    top = make_field("Content-Type", '%s; boundary="%s"' % (multipart_type, boundary.decode()), False, eol)
    ctype = part.fields_named("content-type")
    patches = [(f.start, f.end - f.start, b"") for f in content if not ctype or f is not ctype[0]]
    if ctype:
        patches.append((ctype[0].start, ctype[0].end - ctype[0].start, top))
    else:
        patches.append((part.start, 0, top, "stack"))
    if part.parent is None and not part.fields_named("mime-version"):
        patches.append((part.start, 0, b"MIME-Version: 1.0" + eol, "stack"))
    if not _has_separator(part):
        prefix = b"" if _at_line_start(buf, part.header_end) else eol
        patches.append((part.body_start, 0, prefix + eol, "first"))
    patches.append((part.body_start, 0, dash + eol + inner + eol))
    ends_line = _ends_line(part)
    if part.body_end > part.body_start and not ends_line:
        patches.append((part.body_end, 0, eol, "first"))
    close = dash + b"--" + (eol if ends_line or part.parent is None else b"")
    patches.append((part.body_end, 0, close, "last"))
    return patches


def replace_part(part, entity):
    """Replace a part with another; the message's own fields stay when it is the root."""
    message = part.message
    eol = message.eol
    new = _entity_bytes(entity, eol)
    if part.parent is not None:
        if not _ends_line(part) or part.end == part.start:
            new = _strip_eol(new, eol)
        message.change([(part.start, part.end - part.start, new)])
        return True
    fields, body = split_entity(new)
    patches = [(f.start, f.end - f.start, b"") for f in part.fields if f.lname.startswith("content-")]
    if fields:
        patches.append((part.start, 0, fields, "stack"))
    separator = b"" if _has_separator(part) else eol
    patches.append((part.body_start, part.body_end - part.body_start, separator + body))
    message.change(patches)
    return True


def remove(part):
    """Cut a part out of its parent (a no-op for the message itself)."""
    parent = part.parent
    if parent is None:
        return False
    if parent.encapsulated:
        part.message.change([(part.start, part.end - part.start, b"")])
        return True
    index = parent.children.index(part)
    start = parent.delimiters[index]
    stop = parent.delimiters[index + 1] if index + 1 < len(parent.delimiters) else parent.body_end
    part.message.change([(start, stop - start, b"")])
    return True
