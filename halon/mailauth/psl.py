"""
The Public Suffix List (publicsuffix.org), read from the file that
environment.publicsuffix names (or the system's copy), for DMARC's
organizational domain and HSL's domain_publicsuffix().

Rules are matched as the list's own algorithm says: an exception rule (!)
wins, otherwise the matching rule with the most labels, a wildcard label
matching any one label; a name no rule matches has its last label as the
public suffix. Unicode rules are kept in their IDNA (A-label) form, so
names are matched in lower-case ASCII.
"""

import os
import threading

import idna

SYSTEM_PATH = "/usr/share/publicsuffix/public_suffix_list.dat"


def _ascii_rule(text):
    """A list rule in lower-case ASCII (Unicode rules through IDNA), or None."""
    prefix = ""
    if text.startswith("!"):
        prefix, text = "!", text[1:]
    if text.startswith("*."):
        prefix, text = prefix + "*.", text[2:]
    try:
        return (prefix + text).encode("ascii").decode().lower()
    except UnicodeEncodeError:
        try:
            return prefix + idna.encode(text, uts46=True).decode().lower()
        except (idna.IDNAError, UnicodeError):
            return None


class PublicSuffixList:
    def __init__(self, lines=()):
        self._rules = set()
        self._exceptions = set()
        self.tlds = set()
        for line in lines:
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            rule = _ascii_rule(line.split()[0])
            if rule is None:
                continue
            if rule.startswith("!"):
                self._exceptions.add(rule[1:])
            else:
                self._rules.add(rule)
            self.tlds.add(rule.rsplit(".", 1)[-1].lstrip("!"))

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(f)

    def public_suffix(self, domain):
        """The public suffix of C{domain} (lower-case ASCII, no trailing dot), or None if malformed."""
        labels = domain.lower().rstrip(".").split(".")
        if not all(labels):
            return None
        n = len(labels)
        for i in range(n):
            if ".".join(labels[i:]) in self._exceptions:
                return ".".join(labels[i + 1 :]) or None
        for i in range(n):
            if ".".join(labels[i:]) in self._rules or ".".join(["*"] + labels[i + 1 :]) in self._rules:
                return ".".join(labels[i:])
        return labels[-1]

    def organizational_domain(self, domain):
        """The public suffix plus one label (RFC 7489 3.2), or the domain itself."""
        domain = domain.lower().rstrip(".")
        suffix = self.public_suffix(domain)
        if suffix is None or suffix == domain:
            return domain
        labels = domain.split(".")
        return ".".join(labels[-(suffix.count(".") + 2) :])


_loaded = {}
_lock = threading.Lock()


def load(path=None):
    """
    The list at C{path} (else the system's copy), parsed once per process;
    None when there is no readable list.
    """
    if path is None:
        path = SYSTEM_PATH if os.path.exists(SYSTEM_PATH) else None
        if path is None:
            return None
    with _lock:
        if path not in _loaded:
            try:
                _loaded[path] = PublicSuffixList.from_file(path)
            except OSError:
                _loaded[path] = None
        return _loaded[path]
