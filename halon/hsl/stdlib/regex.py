"""
Regular expressions: the Regex object, the pcre_* functions, and what the
language needs for C{#/re/flags} literals and the C{=~} / C{!~} operators.

Patterns are PCRE (see L{halon.hsl.stdlib._pcre} for how they are run on
Python's C{re}).  A pattern given as a string may carry flags in the
C{"/pattern/flags"} form (flags from C{imsxuUX}); without flags the
slashes are optional.  Compiled patterns are cached, so a string pattern
used in a loop is compiled once.

For the compiler and runtime:

    compile_regex(pattern, flags)  -> Regex      (HSLRuntimeError if invalid)
    to_regex(value)                -> Regex      (a Regex, or a string pattern)
    regex_match(pattern, subject)  -> bool       (=~: unanchored search)
"""

import re
import warnings

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import _pcre, core
from halon.hsl.stdlib._check import fail, integer, string
from halon.hsl.values import HSLArray, HSLObject, is_function, to_bytes, type_name

__all__ = ["Regex", "compile_regex", "to_regex", "regex_match", "split_delimited"]

_CACHE = {}
_CACHE_LIMIT = 4096
_FLAG_SET = frozenset(_pcre.FLAG_LETTERS)
_QUOTE = re.compile(rb"([\\^$.\[\]|()?*+{}\-#/])")
_REPLACEMENT = re.compile(rb"\$(?:\{([0-9]{1,2})\}|([0-9]{1,2}))")


class Regex(HSLObject):
    """
    A compiled pattern (what C{pcre_compile()} and C{#/re/} give).  With
    the C{u} flag the pattern runs on text: subjects are decoded from
    UTF-8 (undecodable bytes kept as surrogates) and results encoded back.
    """

    __slots__ = ("pattern", "flags", "compiled", "utf8")
    hsl_class_name = "Regex"

    def __init__(self, pattern, flags, compiled, utf8):
        self.pattern = pattern
        self.flags = flags
        self.compiled = compiled
        self.utf8 = utf8

    def subject(self, data):
        return data.decode("utf-8", "surrogateescape") if self.utf8 else data

    def result(self, text):
        return text.encode("utf-8", "surrogateescape") if self.utf8 else text

    def search(self, data):
        """The first match in C{data} (bytes), as a Python match on the subject form."""
        return self.compiled.search(self.subject(data))

    def matches(self, data):
        return self.compiled.search(self.subject(data)) is not None

    def __repr__(self):
        return "Regex(/%s/%s)" % (self.pattern.decode("utf-8", "replace"), self.flags.decode())


def compile_regex(pattern, flags=b""):
    """A Regex for C{pattern} with PCRE flag letters C{flags} (both bytes)."""
    key = (pattern, flags)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    letters = flags.decode("ascii", "replace")
    unknown = set(letters) - _FLAG_SET
    if unknown:
        raise HSLRuntimeError("invalid regex flag %r" % "".join(sorted(unknown)))
    utf8 = "u" in letters
    source = pattern.decode("utf-8", "surrogateescape") if utf8 else pattern.decode("latin-1")
    try:
        translated = _pcre.translate(source, set(letters), utf8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            if utf8:
                compiled = re.compile(translated, re.ASCII | (re.IGNORECASE if "i" in letters else 0))
            else:
                compiled = re.compile(translated.encode("latin-1"), re.IGNORECASE if "i" in letters else 0)
    except (_pcre.PatternError, re.error, OverflowError, RecursionError) as e:
        raise HSLRuntimeError("invalid regex %r: %s" % (pattern.decode("utf-8", "replace"), e))
    regex = Regex(pattern, flags, compiled, utf8)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = regex
    return regex


def split_delimited(value):
    """(pattern, flags) from C{"/pattern/flags"}; other strings are all pattern."""
    if value[:1] == b"/":
        end = value.rfind(b"/")
        if end > 0 and all(chr(c) in _FLAG_SET for c in value[end + 1 :]):
            return value[1:end], value[end + 1 :]
    return value, b""


def to_regex(value, fn="=~"):
    """A Regex from a Regex or a string pattern (C{"/re/flags"} allowed)."""
    if type(value) is Regex:
        return value
    if type(value) is bytes:
        regex = _CACHE.get((value, None))
        if regex is None:
            try:
                regex = compile_regex(*split_delimited(value))
            except HSLRuntimeError as e:
                raise HSLRuntimeError("%s: %s" % (fn if fn == "=~" else fn + "()", e.message))
            _CACHE[(value, None)] = regex
        return regex
    raise HSLRuntimeError(
        "%s: the pattern must be a string or a Regex, not %s" % (fn if fn == "=~" else fn + "()", type_name(value))
    )


def regex_match(pattern, subject):
    """The =~ operator: does C{pattern} match anywhere in C{subject}?"""
    if type(subject) is not bytes:
        subject = to_bytes(subject)
    return to_regex(pattern).matches(subject)


def _groups(regex, match):
    """A match as HSL: [0 => whole, 1 => group 1, ..., name => group]."""
    n = match.re.groups
    last = 0
    for g in range(n, 0, -1):
        if match.start(g) >= 0:
            last = g
            break
    empty = regex.subject(b"")
    values = [regex.result(match.group(g) or empty) for g in range(last + 1)]
    result = HSLArray.from_list(values)
    for name, g in match.re.groupindex.items():
        if g <= last:
            result.set(name.encode() if type(name) is str else name, values[g])
    return result


@core.function()
def pcre_compile(string_):
    return to_regex(string("pcre_compile", string_), "pcre_compile")


@core.function()
def pcre_quote(string_):
    return _QUOTE.sub(rb"\\\1", string("pcre_quote", string_)).replace(b"\x00", b"\\x00")


@core.function()
def pcre_match(pattern, subject):
    regex = to_regex(pattern, "pcre_match")
    match = regex.search(string("pcre_match", subject, "subject"))
    if match is None:
        return HSLArray()
    return _groups(regex, match)


@core.function()
def pcre_match_all(pattern, subject):
    """All matches, grouped by capture group: [0 => [whole ...], 1 => [group 1 ...], ...]."""
    regex = to_regex(pattern, "pcre_match_all")
    text = regex.subject(string("pcre_match_all", subject, "subject"))
    compiled = regex.compiled
    columns = [[] for _ in range(compiled.groups + 1)]
    empty = regex.subject(b"")
    for match in compiled.finditer(text):
        for g, column in enumerate(columns):
            column.append(regex.result(match.group(g) or empty))
    result = HSLArray.from_list([HSLArray.from_list(c) for c in columns])
    for name, g in compiled.groupindex.items():
        result.set(name.encode() if type(name) is str else name, HSLArray.from_list(list(columns[g])))
    return result


def _template(replacement):
    """A replacement string as a list of bytes and group numbers ($n, ${n})."""
    parts = []
    pos = 0
    for m in _REPLACEMENT.finditer(replacement):
        if m.start() > pos:
            parts.append(replacement[pos : m.start()])
        parts.append(int(m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(replacement):
        parts.append(replacement[pos:])
    return parts


@core.function()
def pcre_replace(pattern, replace, subject, limit=0.0):
    """
    Replace matches with a string where C{$0}..C{$n} (or C{${n}}) name the
    match and its groups, or with what a callback returns for the match's
    groups array.  C{limit} 0 replaces every match.
    """
    regex = to_regex(pattern, "pcre_replace")
    text = regex.subject(string("pcre_replace", subject, "subject"))
    count = max(0, integer("pcre_replace", limit, "limit"))
    if is_function(replace):

        def substitute(match):
            return regex.subject(to_bytes(replace(_groups(regex, match))))

    elif type(replace) is bytes:
        parts = [p if type(p) is int else regex.subject(p) for p in _template(replace)]
        if all(type(p) is not int for p in parts):
            literal = "".join(parts) if regex.utf8 else b"".join(parts)

            def substitute(match):
                return literal

        else:
            empty = regex.subject(b"")

            def substitute(match):
                out = []
                for p in parts:
                    if type(p) is int:
                        out.append((match.group(p) if p <= match.re.groups else None) or empty)
                    else:
                        out.append(p)
                return empty.join(out)

    else:
        fail("pcre_replace", "replace must be a string or a function, not %s", type_name(replace))
    return regex.result(regex.compiled.sub(substitute, text, count))
