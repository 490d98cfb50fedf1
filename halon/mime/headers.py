"""
Header fields: reading them as scripts want them, writing them as RFC 5322
wants them.

Reading never fails.  Senders put raw 8-bit text, broken encoded words and
odd parameter syntax into headers; what a script gets back is always valid
UTF-8 (encoded words decoded, folding removed), falling back from UTF-8 to
the part's charset to Latin-1 so that no byte is lost to an exception.

Writing folds at whitespace below 78 columns and turns non-ASCII words into
RFC 2047 encoded words, leaving ASCII words (addresses in particular) as
they are, so that C{From: Fålk <a@example.com>} stays a usable address.
"""

import base64
import binascii
import email.message
import email.utils
import re

__all__ = [
    "FIELD_NAME",
    "unfold",
    "decode_text",
    "decode_words",
    "field_value",
    "encode_value",
    "fold",
    "ContentParams",
]

# A field name is printable ASCII without the colon.  Whitespace before the
# colon ("Subject : x") is obsolete syntax that real mail still has.
FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]+")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_MAX_PARAM_INPUT = 65536


def unfold(raw):
    """A field value with its line breaks removed and outer whitespace stripped."""
    return _FOLD.sub(b"", raw).strip(b" \t\r\n")


def decode_text(raw, charset=None):
    """
    Bytes to str without ever failing: UTF-8 when valid, else the declared
    charset, else Latin-1 (every byte maps to a character).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset:
        try:
            return raw.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass
    return raw.decode("latin-1")


def _decode_word(charset, encoding, text):
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        if encoding in "Bb":
            data = base64.b64decode(text + "=" * (-len(text) % 4))
        else:
            data = binascii.a2b_qp(text.replace("_", " ").encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return None
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return decode_text(data)


def decode_words(text):
    """
    RFC 2047 encoded words decoded; whitespace between two adjacent encoded
    words dropped, as the RFC says.  A malformed word is left as written.
    """
    if "=?" not in text:
        return text
    out = []
    pos = 0
    previous_end = None
    for m in _ENCODED_WORD.finditer(text):
        decoded = _decode_word(*m.groups())
        if decoded is None:
            continue
        gap = text[pos : m.start()]
        if not (previous_end == pos and _BETWEEN_WORDS.fullmatch(gap)):
            out.append(gap)
        out.append(decoded)
        pos = previous_end = m.end()
    out.append(text[pos:])
    return "".join(out)


def field_value(raw, charset=None):
    """The value of a raw field's body (after the colon) as a script sees it (str)."""
    return decode_words(decode_text(unfold(raw), charset))


# -- writing ---------------------------------------------------------------


def _needs_encoding(word):
    return any(ord(c) > 126 or (ord(c) < 32 and c != "\t") for c in word)


def _encoded_words(text, room):
    """C{text} as base64 encoded words of at most C{room} characters each."""
    words = []
    chunk = ""
    for ch in text:
        candidate = chunk + ch
        if len(_b_word(candidate)) > room and chunk:
            words.append(_b_word(chunk))
            chunk = ch
        else:
            chunk = candidate
    if chunk:
        words.append(_b_word(chunk))
    return words


def _b_word(text):
    return "=?utf-8?B?%s?=" % base64.b64encode(text.encode("utf-8")).decode("ascii")


def encode_value(value):
    """
    A value (str) as a list of ASCII words: ASCII words as written, runs of
    words with non-ASCII characters as encoded words (the space between
    them encoded too, so decoding gives back the same text).
    """
    words = value.split(" ")
    out = []
    run = []
    for word in words:
        if _needs_encoding(word):
            run.append(word)
            continue
        if run:
            out.extend(_encoded_words(" ".join(run), 75))
            run = []
        out.append(word)
    if run:
        out.extend(_encoded_words(" ".join(run), 75))
    return out


def fold(name, words, eol=b"\r\n", width=78):
    """
    C{name: words...} as a field (bytes, ending with C{eol}), folded at the
    spaces between words so that lines stay under C{width} where possible.
    """
    line = name.encode("ascii", "replace") + b":"
    lines = []
    for word in words:
        w = word.encode("ascii", "replace") if isinstance(word, str) else word
        if len(line) + 1 + len(w) > width and line.strip():
            lines.append(line)
            line = b" " + w
        else:
            line += b" " + w
    lines.append(line)
    return eol.join(lines) + eol


def make_field(name, value, encode=True, eol=b"\r\n"):
    """
    A complete header field for C{name} and C{value} (bytes or str).  With
    C{encode}, non-ASCII is encoded and long values refolded; without, the
    value goes in as given (scripts use that for DKIM-Signature headers they
    made themselves), only its line endings adapted to the message.
    """
    if isinstance(value, bytes):
        text = value.decode("utf-8", "surrogateescape")
    else:
        text = value
    name_b = name.encode("ascii", "replace") if isinstance(name, str) else name
    if not encode:
        raw = text.encode("utf-8", "surrogateescape")
        raw = re.sub(rb"\r?\n", eol, raw).rstrip(b"\r\n")
        return name_b + b": " + raw + eol
    text = re.sub(r"\s*\r?\n\s*", " ", text).strip()
    text = "".join(" " if (ord(c) < 32 and c != "\t") else c for c in text)
    return fold(name_b.decode("ascii", "replace"), encode_value(text), eol)


# -- parameters ------------------------------------------------------------


class ContentParams:
    """
    The type and parameters of a Content-Type or Content-Disposition value,
    read with the email package (RFC 2231 continuations and charsets), with
    encoded words inside quoted values decoded as mail clients write them.
    """

    def __init__(self, value):
        self._msg = email.message.Message()
        self._msg["X"] = value[:_MAX_PARAM_INPUT]

    @property
    def type(self):
        """The value before the first ";", lower case (no default applied)."""
        raw = self._msg.get("X") or ""
        return raw.split(";", 1)[0].strip().lower()

    def param(self, name):
        try:
            value = self._msg.get_param(name, header="X")
        except (ValueError, LookupError, TypeError, IndexError):
            return None
        if value is None:
            return None
        try:
            value = email.utils.collapse_rfc2231_value(value)
        except (LookupError, ValueError):
            value = value[2] if isinstance(value, tuple) else value
        if not isinstance(value, str):
            value = str(value)
        return decode_words(value)
