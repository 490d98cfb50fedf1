"""
The asynchronous DNS resolver of smtpd: a TTL/LRU cache with the resolver.*
counters in front of a stub resolver.

Like twisted.names' own composition (a cache in front of a chain in front of
a client), this is a small object with the same interface as the thing it
wraps: L{Resolver.query}C{(name, rrtype, timeout)} returns a Deferred
L{halon.dns.client.Answer}, exactly like L{halon.dns.client.StubResolver},
so anything that takes a stub resolver (the "resolver" service behind
dns_query(), the queue's MX lookups) takes this one and gets the cache.

    resolver = Resolver(reactor, nameservers=[("127.0.0.1", 5353)], stats=stats)
    answer = yield resolver.lookup_mx("example.com")   # answer.records: [(10, "mx.example.com")]
    answer.error    # None, "NXDOMAIN", "SERVFAIL", "TIMEOUT" ...; no records and no error is NODATA

What is cached: answers with records for their TTL (clamped to
C{ttl_min}..C{ttl_max}), NXDOMAIN and NODATA for C{negative_ttl}.  Failures
(SERVFAIL, timeouts, refusals) are never cached: they count as skips.
Identical queries in flight share one upstream query; at most C{concurrency}
upstream queries run at once, the rest wait (resolver.pending).
C{halonctl resolver clear} calls L{Resolver.clear}.

Counters: resolver.pending, resolver.running, resolver.cache.size,
resolver.cache.hits, .misses, .expires, .evicts, .skips.
"""

from collections import OrderedDict, deque

from twisted.internet import defer, task

from halon.dns.client import TYPES, Answer, StubResolver


class Resolver:
    """
    @param nameservers: [(address, port)], or None for /etc/resolv.conf.
    @param upstream: any object with C{query(name, rrtype, timeout)}
        returning a Deferred L{Answer}; by default a StubResolver on
        C{nameservers}.
    @param clock: what cache expiry is measured on (the reactor unless a
        test passes a task.Clock).
    """

    def __init__(
        self,
        reactor,
        nameservers=None,
        cache_size=10000,
        ttl_min=0,
        ttl_max=86400,
        negative_ttl=60,
        timeout=5.0,
        concurrency=100,
        stats=None,
        upstream=None,
        clock=None,
    ):
        self._reactor = reactor
        self._clock = clock or reactor
        self.upstream = upstream or StubResolver(reactor, nameservers, timeout)
        self.cache_size = cache_size
        self.ttl_min = ttl_min
        self.ttl_max = ttl_max
        self.negative_ttl = negative_ttl
        self.timeout = timeout
        self.concurrency = concurrency
        self._cache = OrderedDict()
        self._inflight = {}
        self._waiting = deque()
        self._running = 0
        self._sweeper = None
        stats = stats if stats is not None else _NoStats()
        stats.gauge("resolver.pending", lambda: len(self._waiting))
        stats.gauge("resolver.running", lambda: self._running)
        stats.gauge("resolver.cache.size", lambda: len(self._cache))
        self._hits = stats.counter("resolver.cache.hits")
        self._misses = stats.counter("resolver.cache.misses")
        self._expires = stats.counter("resolver.cache.expires")
        self._evicts = stats.counter("resolver.cache.evicts")
        self._skips = stats.counter("resolver.cache.skips")

    # -- the Python API ----------------------------------------------------------

    def lookup_a(self, name, timeout=None):
        return self.query(name, "a", timeout)

    def lookup_aaaa(self, name, timeout=None):
        return self.query(name, "aaaa", timeout)

    def lookup_mx(self, name, timeout=None):
        return self.query(name, "mx", timeout)

    def lookup_txt(self, name, timeout=None):
        return self.query(name, "txt", timeout)

    def lookup_ptr(self, name, timeout=None):
        return self.query(name, "ptr", timeout)

    def query(self, name, rrtype, timeout=None):
        """A Deferred L{Answer} for C{name} and C{rrtype} (a key of L{TYPES}); never fails."""
        if rrtype not in TYPES:
            return defer.fail(ValueError("unsupported record type %r" % (rrtype,)))
        key = (name.rstrip(".").lower(), rrtype)
        entry = self._cache.get(key)
        if entry is not None:
            answer, expires = entry
            if expires > self._clock.seconds():
                self._cache.move_to_end(key)
                self._hits.increment()
                return defer.succeed(answer)
            del self._cache[key]
            self._expires.increment()
        self._misses.increment()
        waiters = self._inflight.get(key)
        if waiters is None:
            waiters = self._inflight[key] = []
            self._waiting.append((key, timeout))
            self._pump()
        d = defer.Deferred()
        waiters.append(d)
        return d

    def clear(self):
        """Empty the cache (halonctl resolver clear); the number of entries dropped."""
        dropped = len(self._cache)
        self._cache.clear()
        return dropped

    # -- upstream queries ------------------------------------------------------------

    def _pump(self):
        while self._waiting and self._running < self.concurrency:
            key, timeout = self._waiting.popleft()
            self._running += 1
            d = defer.maybeDeferred(self.upstream.query, key[0], key[1], timeout or self.timeout)
            d.addErrback(lambda failure, key=key: Answer(key[0], key[1], error="SERVFAIL"))
            d.addCallback(self._answered, key)

    def _answered(self, answer, key):
        self._running -= 1
        self._store(key, answer)
        for d in self._inflight.pop(key, ()):
            d.callback(answer)
        self._pump()

    def _store(self, key, answer):
        if answer.error not in (None, "NXDOMAIN"):
            self._skips.increment()
            return
        if answer.records:
            ttl = min(max(answer.ttl or 0, self.ttl_min), self.ttl_max)
        else:
            ttl = self.negative_ttl
        if ttl <= 0 or self.cache_size <= 0:
            self._skips.increment()
            return
        self._cache[key] = (answer, self._clock.seconds() + ttl)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
            self._evicts.increment()

    # -- housekeeping --------------------------------------------------------------

    def sweep(self):
        """Drop every expired entry now (also done lazily on lookup)."""
        now = self._clock.seconds()
        for key in [k for k, (_, expires) in self._cache.items() if expires <= now]:
            del self._cache[key]
            self._expires.increment()

    def start(self, interval=60):
        if self._sweeper is None:
            self._sweeper = task.LoopingCall(self.sweep)
            self._sweeper.clock = self._clock
            self._sweeper.start(interval, now=False)

    def stop(self):
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None


class _NoStats:
    def gauge(self, name, read):
        pass

    def counter(self, name, value=0):
        from halon.stats import Counter

        return Counter(value)
