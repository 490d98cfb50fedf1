"""
Active queue suspensions: what must not be picked up for delivery now.

Three sources feed one table: the static file (environment.suspendconf,
smtpd-suspend.yaml, replaced on `halonctl queue suspend reload`), dynamic
entries with a ttl (halonctl queue suspend add, queue_suspend() in HSL), and
the policy engine, which suspends a counter's key while its concurrency or
rate limit is exceeded.  A recipient is held back while any entry matches
its delivery context (see L{halon.queue.matching.Condition}).

Every change bumps L{Suspends.epoch}; the scheduler caches "is this sub-queue
suspended" per epoch and calls L{Suspends.on_change} listeners to try a
pickup when something was lifted.  Time comes from an injected clock.
"""

from halon.queue.matching import FIELDS, Condition

STATIC, DYNAMIC, POLICY = "config", "dynamic", "policy"


class Suspend:
    """
    @ivar expires: clock time it lapses, or None (static, or until lifted).
    """

    __slots__ = ("id", "source", "condition", "expires", "tag", "properties", "kind", "_call")

    def __init__(self, id, source, condition, expires=None, tag="", properties=None, kind=None):
        self.id = id
        self.source = source
        self.condition = condition
        self.expires = expires
        self.tag = tag or ""
        self.properties = properties or {}
        self.kind = kind
        self._call = None

    def ttl(self, now):
        return None if self.expires is None else max(0.0, self.expires - now)

    def __repr__(self):
        return "<Suspend %s %s %r>" % (self.id, self.source, self.condition.spec)


def parse_file(config, lists=None):
    """
    The entries of a parsed smtpd-suspend.yaml, as (condition, tag,
    properties); ValueError("path: reason") when one is unusable.
    """
    config = config or {}
    items = config.get("suspends") or []
    if not isinstance(items, list):
        raise ValueError("suspends: expected a list")
    lists = lists or {}
    out = []
    for i, item in enumerate(items):
        where = "suspends[%d]" % (i,)
        if not isinstance(item, dict):
            raise ValueError("%s: expected a mapping" % (where,))
        spec = {k: v for k, v in item.items() if k in FIELDS}
        unknown = set(item) - set(FIELDS) - {"tag", "properties"}
        if unknown:
            raise ValueError("%s: unknown field %s" % (where, ", ".join(sorted(unknown))))
        tag = item.get("tag") or ""
        if len(tag) > 32:
            raise ValueError("%s.tag: longer than 32 characters" % (where,))
        out.append((Condition(spec, lists, where), tag, item.get("properties") or {}))
    return out


class Suspends:
    def __init__(self, clock, ids, stats=None):
        """
        @param ids: a callable returning fresh numeric ids (shared with policies).
        """
        self._clock = clock
        self._ids = ids
        self.entries = {}
        self.epoch = 0
        self._listeners = []
        self._stats = stats
        self._dynamic = stats.counter("queue.policy.dynamic.suspends") if stats is not None else None

    def on_change(self, listener):
        self._listeners.append(listener)

    def _changed(self, lifted):
        self.epoch += 1
        if lifted:
            for listener in list(self._listeners):
                listener()

    def load(self, entries):
        """Replace the static entries (from L{parse_file}); dynamic ones stay."""
        for suspend in [s for s in self.entries.values() if s.source == STATIC]:
            del self.entries[suspend.id]
        for condition, tag, properties in entries:
            suspend = Suspend(self._ids(), STATIC, condition, tag=tag, properties=properties)
            self.entries[suspend.id] = suspend
        self._changed(True)

    def add(self, fields, ttl=None, tag="", properties=None, update=True, source=DYNAMIC, kind=None):
        """
        Suspend what matches C{fields} (field -> value) for C{ttl} seconds
        (None: until deleted).  With C{update}, an entry with the same
        fields, source and tag only gets the new ttl.  Returns the entry.
        """
        if tag and len(tag) > 32:
            raise ValueError("tag longer than 32 characters")
        now = self._clock.seconds()
        if update:
            for suspend in self.entries.values():
                if suspend.source == source and suspend.condition.spec == fields and suspend.tag == (tag or ""):
                    self._expire_at(suspend, None if ttl is None else now + ttl)
                    return suspend
        suspend = Suspend(self._ids(), source, Condition(fields), tag=tag, properties=properties, kind=kind)
        self.entries[suspend.id] = suspend
        self._expire_at(suspend, None if ttl is None else now + ttl)
        if source == DYNAMIC and self._dynamic is not None:
            self._dynamic.increment()
        self._changed(False)
        return suspend

    def _expire_at(self, suspend, when):
        suspend.expires = when
        if suspend._call is not None and suspend._call.active():
            suspend._call.cancel()
        suspend._call = None
        if when is not None:
            delay = max(0.0, when - self._clock.seconds())
            suspend._call = self._clock.callLater(delay, self._lapse, suspend.id)

    def _lapse(self, id):
        suspend = self.entries.get(id)
        if suspend is not None:
            suspend._call = None
            self.delete(id)

    def delete(self, id):
        """Remove the entry C{id}; whether it existed."""
        suspend = self.entries.pop(id, None)
        if suspend is None:
            return False
        if suspend._call is not None and suspend._call.active():
            suspend._call.cancel()
        if suspend.source == DYNAMIC and self._dynamic is not None:
            self._dynamic.decrement()
        self._changed(True)
        return True

    def matching(self, context):
        """The first entry that holds back C{context}, or None."""
        for suspend in self.entries.values():
            if suspend.condition.matches(context):
                return suspend
        return None

    def listing(self):
        """Every entry, static ones first, as the list command shows them."""
        order = {STATIC: 0, DYNAMIC: 1, POLICY: 2}
        return sorted(self.entries.values(), key=lambda s: (order[s.source], s.id))

    def stop(self):
        for suspend in self.entries.values():
            if suspend._call is not None and suspend._call.active():
                suspend._call.cancel()
            suspend._call = None
