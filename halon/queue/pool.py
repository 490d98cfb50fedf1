"""
Delivery connections: the global limit and the pool of idle ones.

Every open delivery connection, busy or idle in the pool, holds one slot of
C{queues.concurrency.total} (queue.connections.concurrent).  After a
transaction, a connection whose delivery settings enable pooling waits in
the pool, keyed by everything that makes two connections interchangeable
(remote address and port, source address, HELO name, TLS mode,
credentials), until the next message for the same key takes it, its idle
timeout passes (an expire), or room is needed (an evict, least recently
used first, never a connection marked non-evictable).  When the pool is
full of non-evictable connections the new one is closed instead (a skip).

Counters: queue.connections.concurrent, queue.connections.pooling.size,
.hits, .misses, .expires, .evicts, .skips.
"""

from collections import OrderedDict


class _Idle:
    __slots__ = ("key", "protocol", "evictable", "call")

    def __init__(self, key, protocol, evictable, call):
        self.key = key
        self.protocol = protocol
        self.evictable = evictable
        self.call = call


class ConnectionPool:
    def __init__(self, clock, size=1024, total=10000, stats=None):
        self._clock = clock
        self.size = size
        self.total = total
        self.open = 0
        self._idle = OrderedDict()
        self._by_key = {}
        # Every connection ever pooled and not closed yet -> its latest idle record.
        self._by_protocol = {}
        self._waiters = []
        if stats is not None:
            stats.gauge("queue.connections.concurrent", lambda: self.open)
            stats.gauge("queue.connections.pooling.size", lambda: len(self._idle))
            self._hits = stats.counter("queue.connections.pooling.hits")
            self._misses = stats.counter("queue.connections.pooling.misses")
            self._expires = stats.counter("queue.connections.pooling.expires")
            self._evicts = stats.counter("queue.connections.pooling.evicts")
            self._skips = stats.counter("queue.connections.pooling.skips")
        else:
            from halon.stats import Counter

            self._hits, self._misses, self._expires, self._evicts, self._skips = (Counter() for _ in range(5))

    # -- the concurrency limit --------------------------------------------------------

    def has_room(self):
        """Whether a new connection may be opened now (evicting an idle one if that makes room)."""
        if self.open < self.total:
            return True
        return self._evict_one()

    def opened(self):
        """Count a connection that was just opened (call only after L{has_room})."""
        self.open += 1

    def closed(self):
        """Count a connection that is gone."""
        self.open -= 1
        for waiter in list(self._waiters):
            waiter()

    def on_room(self, listener):
        """Call C{listener()} whenever a connection closes (the scheduler tries a pickup)."""
        self._waiters.append(listener)

    # -- the pool of idle connections -------------------------------------------------

    def take(self, key, pooling=True):
        """
        An idle usable connection for C{key}, or None.  Counts a hit or a
        miss when the delivery uses pooling.
        """
        idles = self._by_key.get(key)
        while idles:
            idle = idles.pop()
            self._forget(idle)
            if idle.protocol.usable:
                if pooling:
                    self._hits.increment()
                return idle.protocol
            idle.protocol.transport.abortConnection()
        if pooling:
            self._misses.increment()
        return None

    def put(self, key, protocol, timeout, evictable=True):
        """
        Keep C{protocol} idle for C{timeout} seconds; False (and the
        connection is closed) when there is no room for it.
        """
        if not protocol.usable or self.size <= 0 or timeout <= 0:
            protocol.quit()
            return False
        if len(self._idle) >= self.size and not self._evict_one():
            self._skips.increment()
            protocol.quit()
            return False
        idle = _Idle(key, protocol, evictable, None)
        idle.call = self._clock.callLater(timeout, self._expire, idle)
        self._idle[idle] = None
        self._by_key.setdefault(key, []).append(idle)
        if protocol not in self._by_protocol:
            # Once per connection, not per put: a connection that carries
            # thousands of messages would otherwise gather a callback for each.
            protocol.closed.addCallback(lambda _: self._lost(protocol))
        self._by_protocol[protocol] = idle
        return True

    def _expire(self, idle):
        idle.call = None
        if idle in self._idle:
            self._forget(idle)
            self._expires.increment()
            idle.protocol.quit()

    def _lost(self, protocol):
        idle = self._by_protocol.pop(protocol, None)
        if idle is not None and idle in self._idle:
            self._forget(idle)

    def _evict_one(self):
        for idle in self._idle:
            if idle.evictable:
                self._forget(idle)
                self._evicts.increment()
                idle.protocol.quit()
                return True
        return False

    def _forget(self, idle):
        self._idle.pop(idle, None)
        idles = self._by_key.get(idle.key)
        if idles is not None:
            if idle in idles:
                idles.remove(idle)
            if not idles:
                del self._by_key[idle.key]
        if idle.call is not None and idle.call.active():
            idle.call.cancel()
        idle.call = None

    def close_all(self):
        """Close every idle connection (at shutdown)."""
        for idle in list(self._idle):
            self._forget(idle)
            idle.protocol.quit()

    def __len__(self):
        return len(self._idle)
