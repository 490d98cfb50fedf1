"""
String functions.  HSL strings are bytes and these functions work on
bytes: lengths and offsets count bytes, and case mapping touches US-ASCII
letters only (Python's bytes.lower/upper do exactly that).
"""

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, integer, string
from halon.hsl.values import HSLArray

_WHITESPACE = b" \t\r\n"


@core.function()
def chr(number):
    """The byte with value C{number}, taken modulo 256 like a C char."""
    return bytes((integer("chr", number) & 0xFF,))


@core.function()
def ord(character):
    """The value of the first byte; 0 for the empty string (its C terminator)."""
    s = string("ord", character)
    return float(s[0]) if s else 0.0


@core.function()
def str_repeat(string_, multiplier):
    return string("str_repeat", string_) * max(0, integer("str_repeat", multiplier))


@core.function()
def str_replace(search, replace, subject):
    search = string("str_replace", search, "search")
    replace = string("str_replace", replace, "replace")
    subject = string("str_replace", subject, "subject")
    if not search:
        return subject
    return subject.replace(search, replace)


@core.function()
def str_split(string_, delimiter, limit=0.0):
    """
    Split on C{delimiter}.  A positive C{limit} keeps at most that many parts
    with the rest of the string in the last; a negative one counts from the
    right.  An empty delimiter does not split.
    """
    s = string("str_split", string_)
    d = string("str_split", delimiter, "delimiter")
    n = integer("str_split", limit, "limit")
    if not d:
        parts = [s]
    elif n > 0:
        parts = s.split(d, n - 1)
    elif n < 0:
        parts = s.rsplit(d, -n - 1)
    else:
        parts = s.split(d)
    return HSLArray.from_list(parts)


@core.function()
def str_find(string_, substring, offset=0.0):
    s = string("str_find", string_)
    sub = string("str_find", substring, "substring")
    start = integer("str_find", offset, "offset")
    if start < 0:
        start = max(0, len(s) + start)
    if start > len(s):
        return -1.0
    return float(s.find(sub, start))


@core.function()
def str_rfind(string_, substring, offset=0.0):
    """The last occurrence that starts at most C{offset} bytes before the end."""
    s = string("str_rfind", string_)
    sub = string("str_rfind", substring, "substring")
    back = max(0, integer("str_rfind", offset, "offset"))
    last_start = len(s) - back
    if last_start < 0:
        return -1.0
    return float(s.rfind(sub, 0, last_start + len(sub)))


@core.function()
def str_lower(string_):
    return string("str_lower", string_).lower()


@core.function()
def str_upper(string_):
    return string("str_upper", string_).upper()


@core.function()
def str_slice(string_, offset, length=None):
    """
    The substring from C{offset} (negative: from the end), C{length} bytes
    long, or to the end; a negative C{length} leaves that many bytes off
    the end.
    """
    s = string("str_slice", string_)
    start = integer("str_slice", offset, "offset")
    size = len(s)
    if start < 0:
        start = max(0, size + start)
    if length is None:
        return s[start:]
    n = integer("str_slice", length, "length")
    end = size + n if n < 0 else start + n
    return s[start:end]


def _strip(fn, string_, characters, method):
    s = string(fn, string_)
    chars = _WHITESPACE if characters is None else string(fn, characters, "characters")
    return getattr(s, method)(chars)


@core.function()
def str_strip(string_, characters=None):
    return _strip("str_strip", string_, characters, "strip")


@core.function()
def str_lstrip(string_, characters=None):
    return _strip("str_lstrip", string_, characters, "lstrip")


@core.function()
def str_rstrip(string_, characters=None):
    return _strip("str_rstrip", string_, characters, "rstrip")


@core.function()
def str_chunk(string_, length, firstlength=None):
    """Chunks of C{length} bytes; the first may be C{firstlength} bytes instead."""
    s = string("str_chunk", string_)
    size = integer("str_chunk", length, "length")
    if size <= 0:
        fail("str_chunk", "length must be above 0")
    chunks = []
    start = 0
    if firstlength is not None:
        first = integer("str_chunk", firstlength, "firstlength")
        if first <= 0:
            fail("str_chunk", "firstlength must be above 0")
        if s:
            chunks.append(s[:first])
        start = first
    chunks.extend(s[i : i + size] for i in range(start, len(s), size))
    return HSLArray.from_list(chunks)
