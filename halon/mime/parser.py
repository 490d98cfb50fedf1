"""
Parsing a message into a tree of parts by byte offsets.

Nothing is copied or normalised: a part records where its header fields,
body, preamble, delimiters and epilogue lie in the message's buffer (bytes
or an mmap), so that serialising an unmodified message gives back exactly
the bytes received and a modification replaces only the bytes it must.

The parse is linear in the size of the message at every nesting level:
boundaries are found with C{find} inside the parent's range, never by
splitting into lines.  Hostile input degrades, it never raises: nesting
deeper than L{MAX_DEPTH} and parts beyond L{MAX_PARTS} are left as opaque
bodies, a header block past L{MAX_FIELDS} fields ends there, a header
line that is not a field is a C{bad_header} error and starts the body (as
in the email package), and a multipart without its closing delimiter is an
C{unclosed_boundary} error whose last part runs to the end.
"""

from halon.mime.headers import FIELD_NAME, ContentParams, decode_text

__all__ = ["MAX_DEPTH", "MAX_PARTS", "MAX_FIELDS", "Field", "parse_tree"]

MAX_DEPTH = 50
MAX_PARTS = 10000
MAX_FIELDS = 10000

_ENCAPSULATING = {b"", b"7bit", b"8bit", b"binary"}


class Field:
    """One header field: C{start}..C{end} includes its final line break."""

    __slots__ = ("name", "lname", "start", "colon", "end")

    def __init__(self, name, start, colon, end):
        self.name = name
        self.lname = name.lower()
        self.start = start
        self.colon = colon
        self.end = end


class _Budget:
    """How many more parts the whole parse may create."""

    __slots__ = ("parts",)

    def __init__(self):
        self.parts = MAX_PARTS


def parse_tree(message, part_class):
    """The root part of C{message} (whose C{buffer} is read)."""
    buf = message.buffer
    return _entity(message, part_class, buf, "1", None, 0, len(buf), 0, _Budget())


def _line_end(buf, pos, end):
    """The offset just past the line starting at C{pos} (C{end} if unterminated)."""
    nl = buf.find(b"\n", pos, end)
    return end if nl < 0 else nl + 1


def _entity(message, part_class, buf, pid, parent, start, end, depth, budget):
    part = part_class(message, pid, parent, start, end)
    budget.parts -= 1
    _header_block(part, buf, start, end)
    ctype = part.header_value(b"content-type")
    if ctype is None:
        return part
    params = ContentParams(decode_text(ctype))
    kind = params.type
    if depth >= MAX_DEPTH or budget.parts <= 0:
        return part
    if kind.startswith("multipart/"):
        boundary = params.param("boundary")
        if boundary:
            _multipart(part, buf, boundary.encode("utf-8", "replace"), depth, budget, part_class)
    elif kind == "message/rfc822":
        cte = (part.header_value(b"content-transfer-encoding") or b"").strip().lower()
        if cte in _ENCAPSULATING and part.body_start < part.body_end:
            child = _entity(
                message, part_class, buf, pid + ".1", part, part.body_start, part.body_end, depth + 1, budget
            )
            part.children.append(child)
            part.encapsulated = True
    return part


def _header_block(part, buf, start, end):
    pos = start
    fields = part.fields
    while pos < end:
        line_end = _line_end(buf, pos, end)
        first = buf[pos : pos + 1]
        if first == b"\n" or buf[pos : pos + 2] == b"\r\n":
            part.header_end = pos
            part.body_start = line_end
            return
        if first in (b" ", b"\t") and fields:
            fields[-1].end = line_end
            pos = line_end
            continue
        m = FIELD_NAME.match(buf[pos : min(line_end, pos + 1000)])
        if m is None or len(fields) >= MAX_FIELDS:
            part.errors.append("bad_header")
            part.header_end = part.body_start = pos
            return
        name = m.group(1)
        fields.append(Field(name.decode("ascii"), pos, pos + m.end(), line_end))
        pos = line_end
    part.header_end = part.body_start = end


def _content_end(buf, delimiter, floor):
    """Where the content before a delimiter line ends: before its line break."""
    if delimiter - 2 >= floor and buf[delimiter - 2 : delimiter] == b"\r\n":
        return delimiter - 2
    if delimiter - 1 >= floor and buf[delimiter - 1 : delimiter] == b"\n":
        return delimiter - 1
    return delimiter


def _delimiters(buf, dash_boundary, start, end):
    """(offset, line end, is close) of each delimiter line, up to the close one."""
    n = len(dash_boundary)
    pos = start
    while True:
        at = buf.find(dash_boundary, pos, end)
        if at < 0:
            return
        pos = at + 1
        if at != start and buf[at - 1 : at] != b"\n":
            continue
        line_end = _line_end(buf, at, end)
        rest = buf[at + n : line_end]
        if rest[:2] == b"--":
            yield at, line_end, True
            return
        if rest.strip(b" \t\r\n"):
            continue
        yield at, line_end, False
        pos = line_end


def _multipart(part, buf, boundary, depth, budget, part_class):
    start, end = part.body_start, part.body_end
    part.boundary = boundary
    part.preamble_end = end
    previous = None
    closed = truncated = False
    for at, line_end, close in _delimiters(buf, b"--" + boundary, start, end):
        content_end = _content_end(buf, at, start)
        if previous is None:
            part.preamble_end = content_end
        else:
            _child(part, buf, previous, content_end, depth, budget, part_class)
        part.delimiters.append(at)
        if close:
            part.close_end = line_end
            closed = True
            break
        previous = line_end
        if budget.parts <= 0:
            truncated = True
            break
    if not closed:
        if previous is not None:
            _child(part, buf, previous, end, depth, budget, part_class)
        if not truncated:
            part.errors.append("unclosed_boundary")


def _child(part, buf, start, end, depth, budget, part_class):
    pid = "%s.%d" % (part.id, len(part.children) + 1)
    child = _entity(part.message, part_class, buf, pid, part, start, end, depth + 1, budget)
    part.children.append(child)
