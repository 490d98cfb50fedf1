"""
DLP rules: what dlpd-app.yaml (or a script's custom rule) says to look for.

A rule has an id (C{id}, or C{name} as the dlp() plugin spells it) and one
or more conditions; it matches an item (a MIME part or a file unpacked from
an archive) when every condition it has matches, and a list condition
matches when any of its entries does:

- C{regex}: patterns searched in the content, case-insensitive unless
  written C{/pattern/flags}; C{(?# comment)} is allowed.  As in PCRE
  without UCP, C{\d}, C{\w}, C{\b} and case folding are ASCII's (which
  also halves the time a search over a large text takes).
- C{keywords}: words or phrases searched case-insensitively, whole words only.
- C{cards}: payment card numbers that pass the Luhn check.
- C{iban}: IBANs that pass their country length and mod-97 check.
- C{count}: how many content hits (regex, keywords, cards, iban together)
  are needed; 1 by default.
- C{filename}: patterns on the item's file name.
- C{mimetype}: patterns on its type, as libmagic detects it or as declared.
- C{size}: C{min} and/or C{max} bytes.
- C{md5hash}, C{sha1hash}, C{sha2hash}: hex digests of the content.
"""

import hashlib
import re

from halon.dlpd import detect

CONTENT = ("regex", "keywords", "cards", "iban")
KNOWN = {"id", "name", "regex", "keywords", "cards", "iban", "count", "filename", "mimetype", "size",
         "md5hash", "sha1hash", "sha2hash", "description"}  # fmt: skip
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class RuleError(ValueError):
    """A rule that cannot be compiled; the message names the rule and the field."""


def compile_pattern(text, where, default_flags=re.IGNORECASE):
    """A pattern as written in a rule: C{/body/flags} or a bare pattern (case-insensitive)."""
    flags = default_flags
    if len(text) >= 2 and text.startswith("/") and text.rfind("/") > 0:
        end = text.rfind("/")
        body, letters = text[1:end], text[end + 1 :]
        if all(ch in _FLAGS for ch in letters):
            text = body
            flags = 0
            for ch in letters:
                flags |= _FLAGS[ch]
    try:
        return re.compile(text, flags | re.ASCII)
    except re.error as e:
        raise RuleError("%s: bad regular expression %r: %s" % (where, text, e))


class Rule:
    def __init__(self, spec, where="rule"):
        if not isinstance(spec, dict):
            raise RuleError("%s: a rule must be a mapping" % (where,))
        unknown = set(spec) - KNOWN
        if unknown:
            raise RuleError("%s: unknown field %s" % (where, ", ".join(sorted(unknown))))
        self.id = str(spec.get("id", spec.get("name", "")))
        if not self.id:
            raise RuleError("%s: a rule needs an id" % (where,))
        where = "%s (%s)" % (where, self.id)
        self.regex = [compile_pattern(p, where + ".regex") for p in _strings(spec, "regex", where)]
        # Searched with str.find in the lower-cased text: a literal search
        # is many times faster than a case-insensitive regex alternation;
        # word ends are checked per hit.
        self.keywords = [w.lower() for w in _strings(spec, "keywords", where) if w]
        self.cards = bool(spec.get("cards", False))
        self.iban = bool(spec.get("iban", False))
        self.count = int(spec.get("count", 1))
        self.filename = [compile_pattern(p, where + ".filename") for p in _strings(spec, "filename", where)]
        self.mimetype = [compile_pattern(p, where + ".mimetype") for p in _strings(spec, "mimetype", where)]
        size = spec.get("size") or {}
        self.min_size, self.max_size = size.get("min"), size.get("max")
        self.hashes = {}
        for field, algorithm in (("md5hash", "md5"), ("sha1hash", "sha1"), ("sha2hash", "sha2")):
            digests = {h.lower() for h in _strings(spec, field, where)}
            if digests:
                self.hashes[algorithm] = digests
        self.has_content = bool(self.regex or self.keywords or self.cards or self.iban)
        if not (self.has_content or self.filename or self.mimetype or size or self.hashes):
            raise RuleError("%s: the rule has no condition" % (where,))

    def matches(self, item):
        """Whether every condition of this rule holds for C{item} (a L{ScanItem})."""
        if self.min_size is not None and item.size < self.min_size:
            return False
        if self.max_size is not None and item.size > self.max_size:
            return False
        if self.filename and not (item.filename and _any(self.filename, item.filename)):
            return False
        if self.mimetype and not any(_any(self.mimetype, t) for t in item.types() if t):
            return False
        if self.hashes and not self._hash_matches(item):
            return False
        return not self.has_content or self._content_hits(item) >= self.count

    def _hash_matches(self, item):
        for algorithm, digests in self.hashes.items():
            if algorithm == "sha2":
                if item.digest("sha256") in digests or item.digest("sha512") in digests:
                    return True
            elif item.digest(algorithm) in digests:
                return True
        return False

    def _content_hits(self, item):
        text = item.text()
        hits = 0
        for pattern in self.regex:
            for _ in pattern.finditer(text):
                hits += 1
                if hits >= self.count:
                    return hits
        if self.keywords:
            lowered = item.lower()
            for word in self.keywords:
                start = lowered.find(word)
                while start >= 0:
                    end = start + len(word)
                    if (start == 0 or not lowered[start - 1].isalnum()) and (
                        end == len(lowered) or not lowered[end].isalnum()
                    ):
                        hits += 1
                        if hits >= self.count:
                            return hits
                    start = lowered.find(word, start + 1)
        if self.cards and hits < self.count:
            hits += len(detect.find_card_numbers(text))
        if self.iban and hits < self.count:
            hits += len(detect.find_ibans(text))
        return hits


class ScanItem:
    """
    One thing to test rules against: a MIME part's decoded body or an
    unpacked file, with its name and types.  Text and digests are computed
    once, on first use.
    """

    def __init__(
        self, partid, data, filename=None, declared_type=None, detected_type=None, charset=None, path=None, extra=b""
    ):
        self.partid = partid
        self.data = data
        self.extra = extra
        self.filename = filename
        self.declared_type = declared_type
        self.detected_type = detected_type
        self.charset = charset
        self.path = path
        self.size = len(data)
        self.textual = True
        self._text = None
        self._lower = None
        self._digests = {}

    def types(self):
        return (self.detected_type, self.declared_type)

    def text(self):
        """
        The content as text: declared text decoded by its charset, anything
        else byte for byte (latin-1), so patterns still find ASCII in binary;
        then the C{extra} text (the part's headers, a PDF's page text).  An
        item the scanner found holds no text (an image, an archive) has
        only its extra text.
        """
        if self._text is None:
            encoding = "latin-1"
            if self.declared_type and self.declared_type.startswith("text/"):
                encoding = self.charset or "utf-8"
            data = self.data if self.textual else b""
            try:
                text = data.decode(encoding, "replace")
            except LookupError:
                text = data.decode("utf-8", "replace")
            if self.extra:
                text = self.extra.decode("utf-8", "replace") + "\n" + text
            self._text = text
        return self._text

    def lower(self):
        if self._lower is None:
            self._lower = self.text().lower()
        return self._lower

    def digest(self, algorithm):
        if algorithm not in self._digests:
            self._digests[algorithm] = hashlib.new(algorithm, self.data).hexdigest()
        return self._digests[algorithm]


def compile_rules(specs, where="rules"):
    """Rules from a list of mappings; ids must be unique."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise RuleError("%s: must be a list" % (where,))
    rules, seen = [], set()
    for i, spec in enumerate(specs):
        rule = Rule(spec, "%s[%d]" % (where, i))
        if rule.id in seen:
            raise RuleError("%s[%d]: rule id %r is used twice" % (where, i, rule.id))
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _strings(spec, field, where):
    value = spec.get(field)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError("%s.%s: must be a list of strings" % (where, field))
    return value


def _any(patterns, text):
    return any(p.search(text) for p in patterns)
