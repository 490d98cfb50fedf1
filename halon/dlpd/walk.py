"""
The MIME walk: a message's parts with their transfer encoding undone, as
L{ScanItem}s.

Every part is yielded, containers included, with the headers people
write (subject, addresses, descriptions; encoded words decoded) as extra
text: a subject line is scanned like a body.  Structural headers are left
out: a boundary or a message id full of digits is not a card number.  Part ids are dotted paths: the
message is "1", its parts "1.1", "1.2", a part of "1.2" is "1.2.1".  A
message/rfc822 part is walked as a message of its own under "<id>.1".

Only header blocks go through the email package; bodies are split at
their boundaries with C{bytes.find} and decoded with binascii, which keeps
a 10 MB message to a few milliseconds of parsing.  A malformed message
still yields what can be read: an unclosed multipart ends at the end of
the data, bad base64 decodes as far as it goes.
"""

import binascii
import email.errors
import email.header
import email.parser
import email.policy

from halon.dlpd.rules import ScanItem

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)
TEXT_HEADERS = ("subject", "from", "to", "cc", "bcc", "reply-to", "sender", "comments", "keywords", "content-description")
MAX_DEPTH = 50


def walk(data, root="1"):
    """ScanItems for C{data} (a whole message as bytes), depth-first."""
    yield from _entity(data, root, 0)


def _entity(data, partid, depth):
    header, body = _split_head(data)
    headers = _HEADERS.parsebytes(header)
    extra = _header_text(headers)
    content_type = headers.get_content_type()
    if content_type.startswith("multipart/") and depth < MAX_DEPTH:
        boundary = headers.get_boundary()
        yield ScanItem(partid, b"", declared_type=content_type, extra=extra)
        if boundary:
            for i, part in enumerate(_split_multipart(body, boundary.encode("latin-1", "replace")), 1):
                yield from _entity(part, "%s.%d" % (partid, i), depth + 1)
        return
    decoded = _decode(body, headers.get("content-transfer-encoding", ""))
    if content_type == "message/rfc822" and depth < MAX_DEPTH:
        yield ScanItem(partid, b"", declared_type=content_type, extra=extra)
        yield from _entity(decoded, partid + ".1", depth + 1)
        return
    yield ScanItem(
        partid,
        decoded,
        filename=_filename(headers),
        declared_type=content_type,
        charset=headers.get_content_charset(),
        extra=extra,
    )


def _header_text(headers):
    lines = []
    for name, value in headers.items():
        if name.lower() in TEXT_HEADERS:
            lines.append("%s: %s" % (name, _decode_words(value)))
    return "\n".join(lines).encode("utf-8", "replace")


def _decode_words(value):
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return str(value)


def _split_head(data):
    """(header block, body): the body starts after the first empty line."""
    if data.startswith((b"\r\n", b"\n")):
        return b"", data[2 if data.startswith(b"\r\n") else 1 :]
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[: crlf + 2], data[crlf + 4 :]
    if lf >= 0:
        return data[: lf + 1], data[lf + 2 :]
    return data, b""


def _split_multipart(body, boundary):
    """The body parts between C{--boundary} lines, up to C{--boundary--} (or the end)."""
    delimiter = b"--" + boundary
    parts = []
    pos = _next_delimiter(body, delimiter, 0)
    while pos >= 0:
        after = pos + len(delimiter)
        if body[after : after + 2] == b"--":
            break
        line_end = body.find(b"\n", after)
        if line_end < 0:
            break
        start = line_end + 1
        nxt = _next_delimiter(body, delimiter, start)
        end = len(body) if nxt < 0 else nxt - 1
        if end > start and body[end - 1 : end] == b"\r":
            end -= 1
        parts.append(body[start:max(start, end)])
        pos = nxt
    return parts


def _next_delimiter(body, delimiter, start):
    """Where the next delimiter line begins at or after C{start}, or -1."""
    if start == 0 and body.startswith(delimiter) and _ends_delimiter(body, len(delimiter)):
        return 0
    pos = max(start - 1, 0)
    while True:
        found = body.find(b"\n" + delimiter, pos)
        if found < 0:
            return -1
        if _ends_delimiter(body, found + 1 + len(delimiter)):
            return found + 1
        pos = found + 1


def _ends_delimiter(body, index):
    return index >= len(body) or body[index : index + 1] in (b"\r", b"\n", b"-", b" ", b"\t")


def _decode(body, encoding):
    encoding = encoding.strip().lower()
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            clean = b"".join(body.split())
            return binascii.a2b_base64(clean[: len(clean) // 4 * 4])
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _filename(headers):
    name = headers.get_filename()
    return None if name is None else _decode_words(name)
