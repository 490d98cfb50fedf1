"""
The MIME walk: a message's parts with their transfer encoding undone, as
L{ScanItem}s.

Every part is yielded, containers included, with its headers as extra
text: a subject line is scanned like a body.  Part ids are dotted paths: the
message is "1", its parts "1.1", "1.2", a part of "1.2" is "1.2.1".  A
message/rfc822 attachment is walked as a message of its own under its id.
"""

import email
import email.policy

from halon.dlpd.rules import ScanItem


def walk(data, root="1"):
    """ScanItems for C{data} (a whole message as bytes), depth-first."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    yield from _walk(message, root)


def _walk(part, partid):
    headers = "".join("%s: %s\n" % (k, v) for k, v in part.items()).encode("utf-8", "replace")
    content_type = part.get_content_type()
    if part.is_multipart():
        if content_type == "message/rfc822":
            for i, inner in enumerate(part.get_payload(), 1):
                yield from _walk(inner, "%s.%d" % (partid, i))
            return
        yield ScanItem(partid, b"", declared_type=content_type, extra=headers)
        for i, child in enumerate(part.get_payload(), 1):
            yield from _walk(child, "%s.%d" % (partid, i))
        return
    body = _decoded(part)
    if content_type == "message/rfc822" and body:
        yield from walk(body, partid + ".1")
        return
    yield ScanItem(
        partid,
        body,
        filename=_filename(part),
        declared_type=content_type,
        charset=part.get_content_charset(),
        extra=headers,
    )


def _decoded(part):
    """The body with base64 / quoted-printable undone; bad encoding yields what decodes."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("latin-1", "replace") if isinstance(raw, str) else b""
    return payload


def _filename(part):
    name = part.get_filename()
    if name is None:
        return None
    try:
        decoded = email.header.make_header(email.header.decode_header(name))
        return str(decoded)
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return name
