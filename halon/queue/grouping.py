"""
The grouping of a queued recipient (C{queues.grouping} of smtpd-app.yaml).

A grouping puts recipients whose destinations are really one receiver
under one name, so that a policy keyed on C{grouping} counts them in one
bucket and halonctl lists and groups them together: every domain hosted by
one big provider, say, whatever the domain.  Each item of C{groupings}
has an id and lists of C{remotemx}, C{remoteip} and C{recipientdomain}
values (the condition syntax of L{halon.queue.matching}: C{*.domain},
networks, C{/regex/}, C{@list}); a recipient matching any value of an item
belongs to it, first item first, and its grouping is C{&id}.  Otherwise
C{default} decides: C{recipientdomain} (the default) makes the domain its
grouping, C{remotemx} the MX host it is sent to, and an empty string
leaves it without one.

The MX and address are known only after DNS, so the queue decides a
recipient's grouping in each attempt once they are; before that (suspends
checked before the pre-delivery hook) the grouping of its last attempt,
or what the recipient domain alone decides, stands in.
"""

from halon.queue.matching import compile_value

__all__ = ["Groupings", "PREFIX"]

PREFIX = "&"
DEFAULTS = ("recipientdomain", "remotemx", "")
_FIELDS = ("recipientdomain", "remotemx", "remoteip")


class Groupings:
    """
    C{queues.grouping} compiled; C{Groupings(None)} is the default (the
    recipient domain).  Raises ValueError naming the bad value.
    """

    def __init__(self, conf=None, lists=None):
        conf = conf or {}
        self.default = conf.get("default", "recipientdomain")
        if self.default not in DEFAULTS:
            raise ValueError("queues.grouping.default: expected one of %s, got %r"
                             % (", ".join(repr(d) for d in DEFAULTS), self.default))
        self.items = []
        for i, item in enumerate(conf.get("groupings") or ()):
            where = "queues.grouping.groupings[%d]" % (i,)
            tests = [
                (field, compile_value(field, item[field], lists, "%s.%s" % (where, field)))
                for field in _FIELDS if item.get(field)
            ]
            self.items.append((PREFIX + item["id"], tests))

    def of(self, domain, remotemx="", remoteip=""):
        """The grouping of a recipient of C{domain} sent to C{remotemx} at C{remoteip} ("" when not known)."""
        for name, tests in self.items:
            for field, test in tests:
                value = domain if field == "recipientdomain" else remotemx if field == "remotemx" else remoteip
                if value and test(value):
                    return name
        if self.default == "recipientdomain":
            return domain
        if self.default == "remotemx":
            return remotemx.lower().rstrip(".")
        return ""
