"""halon.resolver against a real twisted.names server on loopback."""

import socket

from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial import unittest

from halon.resolver import Resolver
from halon.stats import Stats

from tests.util.dnsserver import DNSServer

ZONE = {
    ("example.com", "mx"): [(20, "mx2.example.com"), (10, "mx1.example.com")],
    ("mx1.example.com", "a"): ["127.0.0.1"],
    ("mx1.example.com", "aaaa"): ["::1"],
    ("example.com", "txt"): [b"v=spf1 -all"],
    ("1.0.0.127.in-addr.arpa", "ptr"): ["mx1.example.com"],
    ("broken.example", "*"): "SERVFAIL",
}


class ResolverTests(unittest.TestCase):
    def setUp(self):
        self.server = DNSServer(reactor, dict(ZONE))
        port = self.server.start()
        self.addCleanup(self.server.stop)
        self.clock = Clock()
        self.clock.advance(1000)
        self.stats = Stats()
        self.resolver = Resolver(reactor, [("127.0.0.1", port)], stats=self.stats, clock=self.clock, timeout=2.0,
                                 cache_size=3)

    def counter(self, name):
        return self.stats.value("resolver.cache." + name)

    async def test_recordTypes(self):
        """A, AAAA, MX, TXT and PTR answers come back as Python values."""
        self.assertEqual((await self.resolver.lookup_a("mx1.example.com")).records, ["127.0.0.1"])
        self.assertEqual((await self.resolver.lookup_aaaa("mx1.example.com")).records, ["::1"])
        self.assertEqual(sorted((await self.resolver.lookup_mx("example.com")).records),
                         [(10, "mx1.example.com"), (20, "mx2.example.com")])
        self.assertEqual((await self.resolver.lookup_txt("example.com")).records, [b"v=spf1 -all"])
        self.assertEqual((await self.resolver.lookup_ptr("1.0.0.127.in-addr.arpa")).records, ["mx1.example.com"])

    async def test_cacheHitsAndExpiry(self):
        """A second lookup is a hit without asking the server; after the TTL it is an expire and a miss."""
        await self.resolver.lookup_a("mx1.example.com")
        asked = len(self.server.queries)
        await self.resolver.lookup_a("MX1.example.com.")
        self.assertEqual(len(self.server.queries), asked)
        self.assertEqual((self.counter("hits"), self.counter("misses"), self.counter("size")), (1, 1, 1))
        self.clock.advance(301)
        await self.resolver.lookup_a("mx1.example.com")
        self.assertEqual((self.counter("expires"), self.counter("misses")), (1, 2))
        self.assertEqual(len(self.server.queries), asked + 1)

    async def test_negativeAndFailures(self):
        """NXDOMAIN is cached; SERVFAIL is not (a skip) and is reported as an error."""
        answer = await self.resolver.lookup_a("nowhere.example.com")
        self.assertEqual(answer.error, "NXDOMAIN")
        await self.resolver.lookup_a("nowhere.example.com")
        self.assertEqual(self.counter("hits"), 1)
        answer = await self.resolver.lookup_mx("broken.example")
        self.assertEqual(answer.error, "SERVFAIL")
        self.assertEqual(self.counter("skips"), 1)
        answer = await self.resolver.lookup_aaaa("example.com")
        self.assertEqual((answer.error, answer.records), (None, []))

    async def test_lruEviction(self):
        """Past its size the least recently used entry is evicted."""
        for name in ("a", "b", "c"):
            await self.resolver.lookup_a(name + ".example.com")
        await self.resolver.lookup_a("a.example.com")
        await self.resolver.lookup_a("d.example.com")
        self.assertEqual(self.counter("evicts"), 1)
        before = self.counter("misses")
        await self.resolver.lookup_a("a.example.com")
        self.assertEqual(self.counter("misses"), before)
        await self.resolver.lookup_a("b.example.com")
        self.assertEqual(self.counter("misses"), before + 1)

    async def test_sharedInflight(self):
        """Identical concurrent lookups send one query."""
        asked = len(self.server.queries)
        answers = [self.resolver.lookup_mx("example.com") for _ in range(5)]
        for d in answers:
            self.assertEqual(len((await d).records), 2)
        self.assertEqual(len(self.server.queries), asked + 1)

    async def test_clear(self):
        """clear() empties the cache (halonctl resolver clear)."""
        await self.resolver.lookup_a("mx1.example.com")
        self.assertEqual(self.resolver.clear(), 1)
        self.assertEqual(self.counter("size"), 0)

    async def test_timeout(self):
        """A nameserver that never answers gives TIMEOUT, not a hang, and nothing is cached."""
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        resolver = Resolver(reactor, [silent.getsockname()], stats=self.stats, timeout=0.3)
        answer = await resolver.lookup_a("mx1.example.com")
        self.assertEqual(answer.error, "TIMEOUT")
        self.assertEqual(self.counter("skips"), 1)

    async def test_concurrencyLimit(self):
        """At most `concurrency` upstream queries run; the rest wait as resolver.pending."""
        self.resolver.concurrency = 1
        pending = [self.resolver.lookup_a(name + ".example.com") for name in ("p", "q", "r")]
        self.assertEqual((self.stats.value("resolver.running"), self.stats.value("resolver.pending")), (1, 2))
        for d in pending:
            await d
        self.assertEqual(self.stats.value("resolver.pending"), 0)
