"""
What halonctl queue list and groupby show: fields, views, pages and groups.

A list is read in pages from a L{Cursor}, which walks a snapshot of the
message table, so a listing of a million recipients can be streamed across
reactor turns while deliveries go on.  Grouping counts tuples with
C{collections.Counter} over C-level iterators (C{map(attrgetter(...))}),
which is what keeps a million-recipient groupby well under a second.
"""

import datetime
from bisect import bisect_right
from collections import Counter
from itertools import chain, islice
from operator import attrgetter

from halon.queue import states

_recipients_of = attrgetter("recipients")


def _iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(r, now):
    return ",".join("%s=%s" % item for item in sorted((r.metadata or {}).items()))


def _retrydelay(r, now):
    if r.state == states.DEFER and r.next_retry > now:
        return round(r.next_retry - now, 3)
    return 0


# field -> function(recipient, now) -> str or number
FIELDS = {
    "id": lambda r, now: r.id,
    "transportid": lambda r, now: r.transportid,
    "jobid": lambda r, now: r.message.jobid,
    "tenantid": lambda r, now: r.message.tenantid,
    "serverid": lambda r, now: r.message.serverid,
    "sender": lambda r, now: r.message.sender,
    "senderdomain": lambda r, now: r.message.sender_domain,
    "recipient": lambda r, now: r.address,
    "recipientdomain": lambda r, now: r.domain,
    "state": lambda r, now: states.NAMES[r.state],
    "retrycount": lambda r, now: r.retry,
    "retrydelay": _retrydelay,
    "age": lambda r, now: int(now - r.message.ts),
    "ts": lambda r, now: _iso(r.message.ts),
    "size": lambda r, now: r.message.size,
    "priority": lambda r, now: r.message.priority,
    "grouping": lambda r, now: r.grouping,
    "remotemx": lambda r, now: r.remotemx,
    "remoteip": lambda r, now: r.remoteip,
    "localip": lambda r, now: r.localip,
    "metadata": _metadata,
}

DEFAULT_FIELDS = ("id", "state", "transportid", "sender", "recipient", "retrycount", "age")

# groupby key -> attribute path on a recipient
GROUP_KEYS = {
    "transportid": "transportid",
    "jobid": "message.jobid",
    "tenantid": "message.tenantid",
    "serverid": "message.serverid",
    "sender": "message.sender",
    "senderdomain": "message.sender_domain",
    "recipient": "address",
    "recipientdomain": "domain",
    "state": "state",
    "grouping": "grouping",
    "remotemx": "remotemx",
    "remoteip": "remoteip",
    "localip": "localip",
    "retrycount": "retry",
}
DEFAULT_GROUP = ("transportid", "recipientdomain")
# The state view's columns, in the order the seed's table shows them.
STATE_COLUMNS = ("ACTIVE", "DEFER", "HOLD", "UNKNOWN", "SENDING", "UPDATE")
# The age view: bucket upper bounds in seconds (the last bucket is older than all).
AGE_BOUNDS = (60.0, 300.0, 3600.0, 86400.0)
GROUP_VIEWS = ("state", "age")


def check_fields(fields, known=FIELDS):
    for name in fields:
        if name not in known:
            raise ValueError("unknown field %r (one of %s)" % (name, ", ".join(known)))


class Cursor:
    """
    The matching recipients of one listing, read page by page.

    The message table is copied when the cursor is made (a list of
    references, milliseconds for a million), so later pages keep working
    while messages come and go; a recipient removed meanwhile may be
    skipped, one added is not shown.
    """

    def __init__(self, index, predicate=None, fields=DEFAULT_FIELDS, now=0.0):
        check_fields(fields)
        self.fields = tuple(fields)
        self.now = now
        records = chain.from_iterable(map(_recipients_of, list(index.messages.values())))
        self._records = filter(predicate, records) if predicate is not None else records
        self._getters = [FIELDS[name] for name in self.fields]
        self.done = False

    def recipients(self, limit):
        """The next C{limit} matching recipient records."""
        page = list(islice(self._records, limit))
        if len(page) < limit:
            self.done = True
        return page

    def page(self, limit):
        """The next C{limit} rows, each a list of values in field order."""
        now = self.now
        getters = self._getters
        return [[get(r, now) for get in getters] for r in self.recipients(limit)]


def groupby(index, predicate=None, keys=DEFAULT_GROUP, view=None, now=0.0, age_bounds=AGE_BOUNDS):
    """
    C{(columns, rows)}: one row per distinct key tuple, with a total and the
    view's columns, biggest groups first.
    """
    keys = tuple(keys) or DEFAULT_GROUP
    check_fields(keys, GROUP_KEYS)
    if view not in (None, "", "state", "age"):
        raise ValueError("unknown groupby view %r (one of %s)" % (view, ", ".join(GROUP_VIEWS)))
    records = index.recipients()
    if predicate is not None:
        records = filter(predicate, records)
    paths = [GROUP_KEYS[k] for k in keys]
    state_key = keys.index("state") if "state" in keys else None
    if view == "state":
        counts = Counter(map(attrgetter(*paths, "state"), records))
        columns = list(keys) + ["total"] + list(STATE_COLUMNS)
        order = [states.BY_NAME[name] for name in STATE_COLUMNS]
        folded = {}
        for key, n in counts.items():
            group, state = key[:-1], key[-1]
            row = folded.get(group)
            if row is None:
                row = folded[group] = [0] * len(states.NAMES)
            row[state] += n
        rows = [_key_values(g, state_key) + [sum(c)] + [c[s] for s in order] for g, c in folded.items()]
    elif view == "age":
        bounds = tuple(age_bounds)
        counts = Counter(map(_age_bucket(now, bounds, attrgetter(*paths)), records))
        folded = {}
        for (bucket, group), n in counts.items():
            group = group if len(paths) > 1 else (group,)
            row = folded.get(group)
            if row is None:
                row = folded[group] = [0] * (len(bounds) + 1)
            row[bucket] += n
        columns = list(keys) + ["total"] + ["<%g" % b for b in bounds] + [">=%g" % bounds[-1]]
        rows = [_key_values(g, state_key) + [sum(c)] + c for g, c in folded.items()]
    else:
        counts = Counter(map(attrgetter(*paths), records))
        if len(paths) == 1:
            counts = {(k,): n for k, n in counts.items()}
        columns = list(keys) + ["total"]
        rows = [_key_values(g, state_key) + [n] for g, n in counts.items()]
    rows.sort(key=lambda row: -row[len(keys)])
    return columns, rows


def _age_bucket(now, bounds, group):
    """A function recipient -> (number of its age bucket, its group)."""

    def bucket(r):
        return bisect_right(bounds, now - r.message.ts), group(r)

    return bucket


def _key_values(group, state_key):
    values = list(group)
    if state_key is not None:
        values[state_key] = states.NAMES[values[state_key]]
    return values
