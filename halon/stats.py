"""
The process-stats counters every service publishes.

A counter is registered under the name `halonctl process-stats` prints
(``queue.queue.defer.size``, ``servers[0].connections.concurrent`` ...).  A
value is either a L{Counter} the service updates, or a function read at
snapshot time, so sizes of live structures never drift from the truth.
Only counters that a running service really maintains are registered: no
name is printed for something this process does not do.
"""

import threading


class Counter:
    """A number updated from any thread."""

    __slots__ = ("_value", "_lock")

    def __init__(self, value=0):
        self._value = value
        self._lock = threading.Lock()

    def increment(self, n=1):
        with self._lock:
            self._value += n

    def decrement(self, n=1):
        with self._lock:
            self._value -= n

    def set(self, value):
        self._value = value

    @property
    def value(self):
        return self._value


class Stats:
    """Ordered name -> Counter or callable; one per process."""

    def __init__(self):
        self._entries = {}
        self._sources = []
        self._lock = threading.Lock()

    def add_source(self, read):
        """
        Add C{read()}'s (name, number) pairs to every snapshot: the counters
        of other processes doing the same work (smtpd's workers), summed
        with this process's of the same name.
        """
        self._sources.append(read)

    def counter(self, name, value=0):
        """The counter called C{name}, created on first use."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                entry = self._entries[name] = Counter(value)
            elif not isinstance(entry, Counter):
                raise ValueError("%s is a computed value, not a counter" % (name,))
            return entry

    def gauge(self, name, read):
        """Publish C{read()} under C{name}, evaluated at every snapshot."""
        with self._lock:
            self._entries[name] = read

    def remove(self, prefix):
        """Forget every name starting with C{prefix} (a service that stopped)."""
        with self._lock:
            for name in [n for n in self._entries if n.startswith(prefix)]:
                del self._entries[name]

    def snapshot(self):
        """[(name, value)] in registration order."""
        with self._lock:
            entries = list(self._entries.items())
        values = [(name, e.value if isinstance(e, Counter) else e()) for name, e in entries]
        if not self._sources:
            return values
        totals = dict(values)
        order = [name for name, _ in values]
        for read in self._sources:
            for name, value in read():
                if name not in totals:
                    order.append(name)
                    totals[name] = value
                elif isinstance(totals[name], (int, float)) and not isinstance(totals[name], bool):
                    totals[name] += value
        return [(name, totals[name]) for name in order]

    def value(self, name):
        e = self._entries[name]
        return e.value if isinstance(e, Counter) else e()
