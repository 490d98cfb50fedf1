"""
Encodings: base32/base64/base64url, URL and xtext escaping, MIME encoded
words, zlib, and pack()/unpack().

Decoders are forgiving where the input is commonly sloppy (whitespace and
missing padding in base64) and give C{none} for input they cannot decode
at all, rather than raising.
"""

import base64
import binascii
import re
import struct
import zlib

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, integer, string
from halon.hsl.values import HSLArray, to_bytes, to_number
from halon.mime.headers import decode_text, decode_words

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_B64URL_JUNK = re.compile(rb"[^A-Za-z0-9_\-+/]")
_B32_JUNK = re.compile(rb"[\s=]")
_URL_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_URL_TABLE = [bytes((b,)) if b in _URL_SAFE else b"%%%02X" % b for b in range(256)]
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
_XTEXT_TABLE = [bytes((b,)) if 33 <= b <= 126 and b not in b"+=" else b"+%02X" % b for b in range(256)]
_XTEXT_ESCAPE = re.compile(rb"\+([0-9A-Fa-f]{2})")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_TABLE = [bytes((b,)) if b in _Q_SAFE else b"_" if b == 32 else b"=%02X" % b for b in range(256)]


def _hex_byte(m):
    return bytes((int(m.group(1), 16),))


@core.function()
def base64_encode(string_):
    return base64.b64encode(string("base64_encode", string_))


@core.function()
def base64_decode(string_):
    """Characters outside the alphabet (line breaks ...) are skipped; padding is optional."""
    data = _B64_JUNK.sub(b"", string("base64_decode", string_).split(b"=", 1)[0])
    if len(data) % 4 == 1:
        data = data[:-1]
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


@core.function()
def base64url_encode(string_):
    """The URL-safe alphabet (RFC 4648 section 5) without padding."""
    return base64.urlsafe_b64encode(string("base64url_encode", string_)).rstrip(b"=")


@core.function()
def base64url_decode(string_):
    data = string("base64url_decode", string_).split(b"=", 1)[0]
    data = _B64URL_JUNK.sub(b"", data).replace(b"-", b"+").replace(b"_", b"/")
    if len(data) % 4 == 1:
        data = data[:-1]
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


@core.function()
def base32_encode(string_):
    return base64.b32encode(string("base32_encode", string_))


@core.function()
def base32_decode(string_):
    """RFC 4648 base32, any case, padding optional; none when not base32."""
    data = _B32_JUNK.sub(b"", string("base32_decode", string_))
    try:
        return base64.b32decode(data + b"=" * (-len(data) % 8), casefold=True)
    except (binascii.Error, ValueError):
        return None


@core.function()
def url_encode(string_):
    """Percent-encode all but RFC 3986's unreserved characters."""
    table = _URL_TABLE
    return b"".join([table[b] for b in string("url_encode", string_)])


@core.function()
def url_decode(string_):
    """%XX sequences decoded; a % without two hex digits stays as it is."""
    return _PERCENT.sub(_hex_byte, string("url_decode", string_))


@core.function()
def xtext_encode(text):
    """RFC 1891 xtext: printable ASCII but + and = as is, everything else +XX."""
    table = _XTEXT_TABLE
    return b"".join([table[b] for b in string("xtext_encode", text)])


@core.function()
def xtext_decode(text):
    return _XTEXT_ESCAPE.sub(_hex_byte, string("xtext_decode", text))


@core.function()
def mimeword_encode(string_):
    """One RFC 2047 encoded word, =?utf-8?Q?...?=."""
    table = _Q_TABLE
    return b"=?utf-8?Q?" + b"".join([table[b] for b in string("mimeword_encode", string_)]) + b"?="


@core.function()
def mimeword_decode(string_):
    """Every encoded word decoded to UTF-8 (whitespace between adjacent words dropped)."""
    return decode_words(decode_text(string("mimeword_decode", string_))).encode("utf-8", "surrogateescape")


def _windowbits(fn, value, default):
    if value is None:
        return default
    bits = integer(fn, value, "windowbits")
    if not (8 <= abs(bits) <= 15 or 24 <= bits <= 31 or 40 <= bits <= 47):
        fail(fn, "windowbits %d is out of range", bits)
    return bits


@core.function()
def zlib_compress(string_, compression=None, windowbits=None):
    """zlib format by default; windowbits -8..-15 for raw deflate, 24..31 for gzip."""
    data = string("zlib_compress", string_)
    level = -1 if compression is None else integer("zlib_compress", compression, "compression")
    if not -1 <= level <= 9:
        fail("zlib_compress", "compression must be between 0 and 9")
    bits = _windowbits("zlib_compress", windowbits, 15)
    if bits > 31:
        fail("zlib_compress", "windowbits %d is for decompression only", bits)
    c = zlib.compressobj(level, zlib.DEFLATED, bits)
    return c.compress(data) + c.flush()


@core.function()
def zlib_uncompress(string_, windowbits=None):
    """By default zlib or gzip data (detected); none when the data does not decompress."""
    data = string("zlib_uncompress", string_)
    bits = _windowbits("zlib_uncompress", windowbits, 47)
    try:
        d = zlib.decompressobj(bits)
        out = d.decompress(data) + d.flush()
    except zlib.error:
        return None
    if not d.eof:
        return None
    return out


# -- pack / unpack -----------------------------------------------------------

_FORMAT = re.compile(rb"\s*([aCceEHnNvVxZ])(\*|[0-9]+)?")
_NUMBERS = {
    b"C": struct.Struct("B"),
    b"c": struct.Struct("b"),
    b"n": struct.Struct(">H"),
    b"N": struct.Struct(">I"),
    b"v": struct.Struct("<H"),
    b"V": struct.Struct("<I"),
    b"e": struct.Struct("<d"),
    b"E": struct.Struct(">d"),
}
_MASKS = {b"C": 0xFF, b"n": 0xFFFF, b"N": 0xFFFFFFFF, b"v": 0xFFFF, b"V": 0xFFFFFFFF}


def _codes(fmt):
    """(code, count) pairs; count is an int, '*' or None; ValueError when malformed."""
    pos = 0
    out = []
    fmt = fmt.rstrip()
    while pos < len(fmt):
        m = _FORMAT.match(fmt, pos)
        if not m:
            raise ValueError("bad format at %d" % pos)
        count = m.group(2)
        out.append((m.group(1), None if count is None else "*" if count == b"*" else int(count)))
        pos = m.end()
    return out


def _pack(fmt, args):
    out = []
    args = list(args)
    for code, count in _codes(fmt):
        if code == b"x":
            if count == "*":
                raise ValueError("x* in pack")
            out.append(b"\0" * (1 if count is None else count))
        elif code in (b"a", b"Z", b"H"):
            if not args:
                raise ValueError("too few arguments")
            s = to_bytes(args.pop(0))
            if code == b"H":
                digits = s if count in (None, "*") else s[:count]
                if count is None:
                    digits = s[:1]
                if len(digits) % 2:
                    digits += b"0"
                out.append(binascii.unhexlify(digits))
            elif count == "*":
                out.append(s + (b"\0" if code == b"Z" else b""))
            else:
                n = 1 if count is None else count
                if code == b"Z" and n:
                    s = s[: n - 1]
                out.append(s[:n].ljust(n, b"\0"))
        else:
            if code == b"c":
                raise ValueError("c is for unpack only")
            n = len(args) if count == "*" else 1 if count is None else count
            if n > len(args):
                raise ValueError("too few arguments")
            st = _NUMBERS[code]
            mask = _MASKS.get(code)
            for _ in range(n):
                value = to_number(args.pop(0))
                out.append(st.pack(value) if mask is None else st.pack(int(value) & mask))
    if args:
        raise ValueError("%d unused arguments" % len(args))
    return b"".join(out)


@core.function()
def pack(format, *args):
    try:
        return _pack(string("pack", format, "format"), args)
    except (ValueError, OverflowError, struct.error, binascii.Error):
        return None


def _unpack(fmt, data, pos):
    values = []
    for code, count in _codes(fmt):
        rest = len(data) - pos
        if code == b"x":
            n = rest if count == "*" else 1 if count is None else count
            if n > rest:
                raise ValueError("data too short")
            pos += n
        elif code in (b"a", b"Z"):
            n = rest if count == "*" else 1 if count is None else count
            if n > rest:
                raise ValueError("data too short")
            chunk = data[pos : pos + n]
            if code == b"Z":
                nul = chunk.find(b"\0")
                if count == "*" and nul >= 0:
                    n = nul + 1
                chunk = chunk if nul < 0 else chunk[:nul]
            values.append(chunk)
            pos += n
        elif code == b"H":
            nibbles = rest * 2 if count == "*" else 1 if count is None else count
            n = (nibbles + 1) // 2
            if n > rest:
                raise ValueError("data too short")
            values.append(binascii.hexlify(data[pos : pos + n])[:nibbles])
            pos += n
        else:
            st = _NUMBERS[code]
            n = rest // st.size if count == "*" else 1 if count is None else count
            if n * st.size > rest:
                raise ValueError("data too short")
            for _ in range(n):
                values.append(float(st.unpack_from(data, pos)[0]))
                pos += st.size
    return values


@core.function()
def unpack(format, data, offset=0.0):
    fmt = string("unpack", format, "format")
    data = string("unpack", data, "data")
    start = integer("unpack", offset, "offset")
    if start < 0 or start > len(data):
        return None
    try:
        return HSLArray.from_list(_unpack(fmt, data, start))
    except (ValueError, struct.error):
        return None
