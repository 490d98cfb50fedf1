"""
Iconv: character set conversion, on Python's codecs rather than the C
library's iconv.  Charset names are iconv's (UTF-8, ISO-8859-1,
WINDOWS-1252, SHIFT_JIS ...; Python knows them as aliases).  The
target's //IGNORE suffix drops what cannot be converted and //TRANSLIT
replaces it with the closest ASCII (accents stripped) or "?".

Like iconv(3), a failed conversion returns none and errno() tells why:
EILSEQ (84) for an invalid or unconvertible sequence, EINVAL (22) for an
incomplete sequence at the end of the input.
"""

import codecs
import errno as _errno
import unicodedata

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, string
from halon.hsl.values import HSLObject

__all__ = ["Iconv"]


def _translit(error):
    """Encode error handler for //TRANSLIT: decomposed base letters, else '?'."""
    text = error.object[error.start : error.end]
    out = []
    for ch in text:
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        try:
            base.encode(error.encoding)
            out.append(base or "?")
        except (UnicodeEncodeError, LookupError):
            out.append("?")
    return "".join(out), error.end


codecs.register_error("halon-translit", _translit)


def _codec(name, what):
    try:
        return codecs.lookup(name).name
    except LookupError:
        fail("Iconv", "unsupported %s character set %r", what, name)


@core.cls("Iconv")
class Iconv(HSLObject):
    """Iconv(string $fromcharset, string $tocharset)."""

    __slots__ = ("_from", "_to", "_errors", "_errno", "_open")
    hsl_class_name = "Iconv"
    hsl_methods = {"convert": "convert", "errno": "errno", "close": "close"}

    def __init__(self, fromcharset, tocharset):
        source = string("Iconv", fromcharset, "fromcharset").decode("ascii", "replace").split("//", 1)[0]
        target, *flags = string("Iconv", tocharset, "tocharset").decode("ascii", "replace").split("//")
        flags = {f.upper() for f in flags}
        self._from = _codec(source, "source")
        self._to = _codec(target, "target")
        self._errors = "halon-translit" if "TRANSLIT" in flags else "ignore" if "IGNORE" in flags else "strict"
        self._errno = 0
        self._open = True

    def convert(self, text):
        data = string("convert", text, "text")
        if not self._open:
            self._errno = _errno.EBADF
            return None
        decode_errors = "ignore" if self._errors == "ignore" else "strict"
        try:
            decoded = codecs.decode(data, self._from, decode_errors)
        except UnicodeDecodeError as e:
            self._errno = _errno.EINVAL if e.end >= len(data) and "end of data" in e.reason else _errno.EILSEQ
            return None
        try:
            return codecs.encode(decoded, self._to, self._errors)
        except UnicodeEncodeError:
            self._errno = _errno.EILSEQ
            return None

    def errno(self):
        return float(self._errno)

    def close(self):
        self._open = False
        return None
