"""
Sliding-window hit counters: what rate() asks about and what halonctl lists.

An entry is a (namespace, entry) pair.  It keeps the time of every hit that
still falls inside the longest interval any caller asked about (its
C{keep}), so a question about any shorter interval is answered exactly by a
binary search.  Hits made on this node are kept apart from hits learned
from cluster peers because halonctl shows both ("Count" and "Local count").

The table lives on the reactor thread (the IPC server and the cluster
socket both run there) and needs no lock.
"""

from bisect import bisect_right, insort


class RateError(ValueError):
    """A rate() call with arguments no window can answer."""


class Entry:
    """
    @ivar hits: times of every hit (local and remote), ascending.
    @ivar local: times of the hits made on this node, ascending.
    @ivar keep: seconds of history to keep: the longest interval asked for.
    @ivar sync: whether local hits of this entry are sent to peers.
    """

    __slots__ = ("hits", "local", "keep", "sync")

    def __init__(self, keep, sync):
        self.hits = []
        self.local = []
        self.keep = keep
        self.sync = sync

    def count(self, since):
        return len(self.hits) - bisect_right(self.hits, since)

    def prune(self, since):
        """Forget hits at or before C{since}; True when nothing is left."""
        for times in (self.hits, self.local):
            cut = bisect_right(times, since)
            if cut:
                del times[:cut]
        return not self.hits


class RateTable:
    """
    Every entry of this node.

    @ivar _clock: an L{IReactorTime}; hit times are its C{seconds()}.
    """

    def __init__(self, clock):
        self._clock = clock
        self._entries = {}
        self.accepted = 0
        self.denied = 0

    def __len__(self):
        return len(self._entries)

    def check(self, namespace, entry, limit, interval, sync=True):
        """
        rate(): with C{limit} 0 the number of hits in the last C{interval}
        seconds; otherwise record one hit and return the time it was recorded
        at, or C{None} (and record nothing) when C{limit} hits are already
        inside the window.
        """
        _validate(limit, interval)
        now = self._clock.seconds()
        key = (namespace, entry)
        item = self._entries.get(key)
        if limit == 0:
            return 0 if item is None else item.count(now - interval)
        if item is None:
            item = self._entries[key] = Entry(interval, sync)
        else:
            if interval > item.keep:
                item.keep = interval
            item.sync = sync
            hits = item.hits
            if len(hits) - bisect_right(hits, now - interval) >= limit:
                self.denied += 1
                return None
        item.hits.append(now)
        item.local.append(now)
        self.accepted += 1
        return now

    def add_local(self, namespace, entry, keep, sync=True):
        """A hit this node made that another store (Redis) already accepted."""
        now = self._clock.seconds()
        item = self._entries.get((namespace, entry))
        if item is None:
            item = self._entries[(namespace, entry)] = Entry(keep, sync)
        else:
            item.keep = max(item.keep, keep)
        item.hits.append(now)
        item.local.append(now)
        self.accepted += 1
        return now

    def keep(self, namespace, entry):
        """Seconds of history kept for an entry (0 when there is none)."""
        item = self._entries.get((namespace, entry))
        return 0 if item is None else item.keep

    def local_count(self, namespace, entry):
        """Hits made on this node still inside the entry's window."""
        item = self._entries.get((namespace, entry))
        if item is None:
            return 0
        return len(item.local) - bisect_right(item.local, self._clock.seconds() - item.keep)

    def add_remote(self, namespace, entry, keep, when, count=1):
        """Hits a peer recorded at C{when} (already in this node's clock)."""
        now = self._clock.seconds()
        if when <= now - keep:
            return
        key = (namespace, entry)
        item = self._entries.get(key)
        if item is None:
            item = self._entries[key] = Entry(keep, True)
        else:
            item.keep = max(item.keep, keep)
        for _ in range(count):
            insort(item.hits, min(when, now))

    def expire(self):
        """Drop hits older than their entry's window, and empty entries."""
        now = self._clock.seconds()
        for key in [k for k, item in self._entries.items() if item.prune(now - item.keep)]:
            del self._entries[key]

    def local_hits(self):
        """(namespace, entry, keep, [times]) of every synchronised entry, for a peer's initial sync."""
        now = self._clock.seconds()
        for (namespace, entry), item in self._entries.items():
            if item.sync:
                times = item.local[bisect_right(item.local, now - item.keep) :]
                if times:
                    yield namespace, entry, item.keep, times

    def rows(self, unsynced_only=False):
        """
        The halonctl table: (namespace, entry, count, local count, oldest,
        newest, rate), ages in seconds, rate in hits per second between the
        oldest and the newest hit.
        """
        self.expire()
        now = self._clock.seconds()
        out = []
        for (namespace, entry), item in sorted(self._entries.items()):
            if unsynced_only and item.sync:
                continue
            oldest, newest = now - item.hits[0], now - item.hits[-1]
            out.append(
                (namespace, entry, len(item.hits), len(item.local), oldest, newest, rate_of(len(item.hits), oldest, newest))
            )
        return out

    def clear(self, namespace=None, entry=None, unsynced_only=False):
        """Delete the entries matching both filters (None matches all); how many."""
        doomed = [
            k
            for k, item in self._entries.items()
            if (namespace is None or k[0] == namespace)
            and (entry is None or k[1] == entry)
            and not (unsynced_only and item.sync)
        ]
        for key in doomed:
            del self._entries[key]
        return len(doomed)


_INF = float("inf")


def _validate(limit, interval):
    if not 0 <= limit <= 2**31 or limit != int(limit):
        raise RateError("count must be a whole number >= 0, not %r" % (limit,))
    if not 0 < interval < _INF:
        raise RateError("interval must be > 0 seconds, not %r" % (interval,))


def rate_of(count, oldest, newest):
    """Hits per second between the oldest and the newest hit, as halonctl shows it."""
    span = oldest - newest
    return count / span if span > 0 else 0.0
