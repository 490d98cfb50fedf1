"""
The Public Suffix List (publicsuffix.org), read from the file that
environment.publicsuffix names, for DMARC's organizational domain.

Rules are matched as the list's own algorithm says: the longest matching
rule wins, a wildcard label matches any one label, an exception rule (!)
beats the wildcard it names, and a name no rule matches has its last label
as the public suffix. Without a list, only that default rule applies.
"""


class PublicSuffixList:
    def __init__(self, rules=()):
        self._rules = set()
        self._exceptions = set()
        for rule in rules:
            rule = rule.strip().lower()
            if not rule or rule.startswith("//"):
                continue
            rule = rule.split()[0]
            if rule.startswith("!"):
                self._exceptions.add(rule[1:])
            else:
                self._rules.add(rule)

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(f)

    def public_suffix(self, domain):
        """The public suffix of C{domain} (lower case, no trailing dot), or None."""
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
