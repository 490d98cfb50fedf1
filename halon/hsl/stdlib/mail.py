"""
Mail helpers: envelope addresses, From/To/Cc address lists, and DKIM
tag=value lists.

Address lists are parsed as RFC 5322 says (quoted strings, comments, angle
addresses, groups) but leniently, since real headers are often sloppy: a
";" also separates addresses, and bare addresses need no angle brackets.
Display names come back decoded (RFC 2047 words) as UTF-8.
"""

import re

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import array, fail, options, string
from halon.hsl.values import HSLArray, truthy
from halon.mime.headers import decode_text, decode_words

_ATOM = re.compile(rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_PHRASE_SAFE = re.compile(rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*\Z")
_FIELD = re.compile(rb"\A[^:\s]+:")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_TAG = re.compile(rb"[A-Za-z][A-Za-z0-9_]*\Z")


def _unquote(quoted):
    """The content of a quoted string (without the quotes), backslash escapes removed."""
    return re.sub(rb"\\(.)", rb"\1", quoted, flags=re.S)


def _split_address(address):
    """(localpart, domain) split at the last @ outside quotes; ValueError when malformed."""
    in_quote = False
    escaped = False
    at = -1
    for i, c in enumerate(address):
        if escaped:
            escaped = False
        elif c == 0x5C:
            escaped = in_quote
        elif c == 0x22:
            in_quote = not in_quote
        elif c == 0x40 and not in_quote:
            at = i
    if in_quote:
        raise ValueError("unterminated quote")
    if at < 0:
        return address, b""
    return address[:at], address[at + 1 :]


def _localpart(raw):
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        return _unquote(raw[1:-1])
    if raw and not _ATOM.match(raw):
        raise ValueError("invalid localpart")
    return raw


@core.function()
def envelope_address_parse(address):
    """["localpart" => ..., "domain" => ...] of an envelope address; none when malformed."""
    text = string("envelope_address_parse", address, "address").strip()
    if text.startswith(b"<") and text.endswith(b">"):
        text = text[1:-1]
    try:
        local, domain = _split_address(text)
        local = _localpart(local)
    except ValueError:
        return None
    if b"@" in text and (not domain or any(c in domain for c in b' "<>()[],;:\\')):
        return None
    result = HSLArray()
    result.set(b"localpart", local)
    result.set(b"domain", domain)
    return result


@core.function()
def envelope_localpart_escape(localpart):
    """The localpart as a dot-atom if it is one, else as a quoted string."""
    local = string("envelope_localpart_escape", localpart, "localpart")
    if _ATOM.match(local):
        return local
    return b'"' + local.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# -- address lists ---------------------------------------------------------------


def _tokens(value):
    """
    (kind, bytes) tokens of an address list: "quoted", "angle", "word",
    and the specials , ; : and @ as themselves.  Comments are dropped.
    """
    out = []
    i, n = 0, len(value)
    while i < n:
        c = value[i : i + 1]
        if c in b" \t\r\n":
            i += 1
        elif c == b'"':
            j = i + 1
            while j < n and value[j : j + 1] != b'"':
                j += 2 if value[j : j + 1] == b"\\" else 1
            if j >= n:
                raise ValueError("unterminated quoted string")
            out.append(("quoted", _unquote(value[i + 1 : j])))
            i = j + 1
        elif c == b"(":
            depth, j = 0, i
            while j < n:
                ch = value[j : j + 1]
                if ch == b"\\":
                    j += 1
                elif ch == b"(":
                    depth += 1
                elif ch == b")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise ValueError("unterminated comment")
            i = j + 1
        elif c == b"<":
            j = value.find(b">", i)
            if j < 0:
                raise ValueError("unterminated angle address")
            out.append(("angle", value[i + 1 : j].strip()))
            i = j + 1
        elif c in b",;:":
            out.append((c.decode(), c))
            i += 1
        else:
            j = i
            while j < n and value[j : j + 1] not in b' \t\r\n"(<,;:':
                j += 1
            out.append(("word", value[i:j]))
            i = j
    return out


def extract_addresses(value):
    """[(display name, address)] from a header value; ValueError when malformed."""
    result = []
    pending = []
    angle = None
    for kind, text in _tokens(value) + [(",", b",")]:
        if kind in (",", ";"):
            if angle is not None:
                result.append((b" ".join(t for _, t in pending), angle))
            elif pending:
                spec = b"".join(b'"' + t + b'"' if k == "quoted" else t for k, t in pending)
                result.append((b"", spec))
            pending, angle = [], None
        elif kind == ":":
            pending = []
        elif angle is not None:
            continue
        elif kind == "angle":
            angle = text.rsplit(b":", 1)[-1] if text.startswith(b"@") else text
        else:
            pending.append((kind, text))
    return [(n, a) for n, a in result if a]


def _display(name):
    return decode_words(decode_text(name)).encode("utf-8", "surrogateescape")


@core.function()
def header_addresslist_extract(value, options_=None):
    """
    The addresses in a From/To/Cc value (or a whole field with C{field}),
    or with C{name} arrays of "name" and "address"; none when malformed.
    """
    text = string("header_addresslist_extract", value, "value")
    opts = options("header_addresslist_extract", options_, {"field", "name"})
    text = _FOLD.sub(b"", text)
    if truthy(opts.get("field", False)):
        m = _FIELD.match(text)
        if not m:
            return None
        text = text[m.end() :]
    try:
        pairs = extract_addresses(text)
    except ValueError:
        return None
    if truthy(opts.get("name", False)):
        items = []
        for name, address in pairs:
            entry = HSLArray()
            entry.set(b"name", _display(name))
            entry.set(b"address", address)
            items.append(entry)
        return HSLArray.from_list(items)
    return HSLArray.from_list([a for _, a in pairs])


def _phrase(name):
    if _PHRASE_SAFE.match(name):
        return name
    try:
        name.decode("ascii")
    except UnicodeDecodeError:
        from halon.hsl.stdlib.encoding import mimeword_encode

        return mimeword_encode(name)
    return b'"' + name.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@core.function()
def header_addresslist_compile(addresses):
    """A header value from [["name" => ..., "address" => ...], ...] (or plain address strings)."""
    parts = []
    for item in array("header_addresslist_compile", addresses, "addresses").values():
        if type(item) is bytes:
            parts.append(item)
            continue
        if type(item) is not HSLArray or type(item.get(b"address")) is not bytes:
            fail("header_addresslist_compile", "each address must be a string or an array with an address")
        address = item.get(b"address")
        name = item.get(b"name")
        if type(name) is bytes and name:
            parts.append(_phrase(name) + b" <" + address + b">")
        else:
            parts.append(address)
    return b", ".join(parts)


# -- DKIM ------------------------------------------------------------------------


@core.function()
def header_dkim_decode(value, options_=None):
    """The tags of a DKIM-Signature (or ARC-) tag=value list; none when malformed."""
    text = string("header_dkim_decode", value, "value")
    opts = options("header_dkim_decode", options_, {"field"})
    if truthy(opts.get("field", False)):
        m = _FIELD.match(text)
        if not m:
            return None
        text = text[m.end() :]
    result = HSLArray()
    for item in text.split(b";"):
        if not item.strip():
            continue
        tag, eq, val = item.partition(b"=")
        tag = tag.strip()
        if not eq or not _TAG.match(tag) or result.has(tag):
            return None
        val = _FOLD.sub(b"", val).strip(b" \t\r\n")
        if tag in (b"b", b"bh"):
            val = re.sub(rb"\s+", b"", val)
        result.set(tag, val)
    return result
