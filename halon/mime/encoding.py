"""
Content-Transfer-Encoding: undoing it for getBody(), choosing and applying
it for setBody() and the MIME builder.

Decoding is forgiving (a damaged base64 attachment decodes as far as it
goes, unknown encodings come back as they are); encoding always produces
lines a relay will carry (at most 76 characters, the message's own line
endings).
"""

import binascii
import re

__all__ = ["decode_body", "choose_encoding", "encode_body"]

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_HIGH = bytes(range(128, 256))
_CONTROLS = bytes(range(1, 9)) + b"\x0b\x0c" + bytes(range(14, 32)) + b"\x7f"


def _decode_base64(data):
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    clean = _NOT_BASE64.sub(b"", data.split(b"=", 1)[0] if b"=" in data else data)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def decode_body(data, cte):
    """C{data} with the transfer encoding C{cte} (bytes, any case) undone."""
    cte = (cte or b"").strip().lower()
    if cte == b"base64":
        return _decode_base64(data)
    if cte == b"quoted-printable":
        return binascii.a2b_qp(data)
    return data


def choose_encoding(data, allow_7bit=True):
    """
    The most readable encoding that carries C{data} safely: 7bit for short
    ASCII lines, quoted-printable for mostly-ASCII text, base64 otherwise.
    """
    if not data:
        return "7bit" if allow_7bit else "quoted-printable"
    if b"\0" in data:
        return "base64"
    high = len(data) - len(data.translate(None, _HIGH))
    controls = len(data) - len(data.translate(None, _CONTROLS))
    if allow_7bit and high == 0 and controls == 0:
        lines = _LINE_BREAK.split(data)
        if max(len(line) for line in lines) <= 998 and b"\r" not in data.replace(b"\r\n", b""):
            return "7bit"
    if (high + controls) * 3 <= len(data):
        return "quoted-printable"
    return "base64"


def encode_body(data, encoding, eol=b"\r\n"):
    """C{data} encoded as C{encoding}, lines ending in C{eol} (the last one too)."""
    if encoding == "base64":
        encoded = binascii.b2a_base64(data, newline=False)
        lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
        return b"".join(line + eol for line in lines)
    text = data.replace(b"\r\n", b"\n")
    if encoding == "quoted-printable":
        text = binascii.b2a_qp(text, istext=True)
    body = text.replace(b"\n", eol)
    if body and not body.endswith(eol):
        body += eol
    return body
