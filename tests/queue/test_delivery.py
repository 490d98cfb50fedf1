"""Delivery attempts against real SMTP servers and a real DNS server on loopback."""

from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial import unittest

from halon.queue import delivery_settings
from halon.queue.delivery import Deliverer, Session, resolve_destination
from halon.queue.pool import ConnectionPool
from halon.resolver import Resolver
from halon.stats import Stats

from tests.queue.smtpserver import SMTPServer, make_ca_and_cert, tls_server_context, trust_root
from tests.util.dnsserver import DNSServer

ZONE = {
    ("example.com", "mx"): [(10, "mx1.example.com"), (20, "mx2.example.com")],
    ("mx1.example.com", "a"): ["127.0.0.1"],
    ("mx2.example.com", "a"): ["127.0.0.1"],
    ("fallback.example", "mx"): [(10, "dead.fallback.example"), (20, "mx1.example.com")],
    ("dead.fallback.example", "a"): ["127.0.0.2"],
    ("nomx.example", "a"): ["127.0.0.1"],
    ("nullmx.example", "mx"): [(0, "")],
    ("broken.example", "*"): "SERVFAIL",
    ("noaddress.example", "mx"): [(10, "gone.noaddress.example")],
}

DATA = b"Subject: test\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n"


def settings(**overrides):
    return delivery_settings.resolve({}, None, {}, overrides)


class DestinationTests(unittest.TestCase):
    def setUp(self):
        dns = DNSServer(reactor, dict(ZONE))
        port = dns.start()
        self.addCleanup(dns.stop)
        self.resolver = Resolver(reactor, [("127.0.0.1", port)], timeout=2.0)

    async def test_mxOrder(self):
        """MX hosts come in preference order with their addresses."""
        resolution = await resolve_destination(self.resolver, "example.com", ipv6=False)
        self.assertEqual(resolution.hops, [("mx1.example.com", "127.0.0.1"), ("mx2.example.com", "127.0.0.1")])

    async def test_implicitMX(self):
        """A domain without MX records is its own mail exchanger."""
        resolution = await resolve_destination(self.resolver, "nomx.example", ipv6=False)
        self.assertEqual(resolution.hops, [("nomx.example", "127.0.0.1")])

    async def test_permanentAndTemporaryErrors(self):
        """NXDOMAIN and null MX are permanent; SERVFAIL and MX hosts without addresses are temporary."""
        for domain, kind, permanent in [
            ("nowhere.example", "nxdomain", True),
            ("nullmx.example", "nullmx", True),
            ("broken.example", "other", False),
            ("noaddress.example", "nodata", False),
        ]:
            resolution = await resolve_destination(self.resolver, domain, ipv6=False)
            self.assertEqual((resolution.error[1], resolution.permanent), (kind, permanent), domain)

    async def test_serverAndFilters(self):
        """A transport's server replaces the MX lookup; mx_include/mx_exclude filter by wildcard."""
        resolution = await resolve_destination(self.resolver, "anything.example", server="127.0.0.9")
        self.assertEqual(resolution.hops, [("127.0.0.9", "127.0.0.9")])
        resolution = await resolve_destination(self.resolver, "example.com", mx_exclude=["mx1.*"], ipv6=False)
        self.assertEqual([mx for mx, _ in resolution.hops], ["mx2.example.com"])
        resolution = await resolve_destination(self.resolver, "example.com", mx_include=["*.other.org"], ipv6=False)
        self.assertEqual(resolution.error[1], "excluded")


class DeliveryTests(unittest.TestCase):
    def setUp(self):
        self.stats = Stats()
        self.clock = Clock()
        self.pool = ConnectionPool(self.clock, size=4, total=10, stats=self.stats)
        self.addCleanup(self.pool.close_all)
        self.deliverer = Deliverer(reactor, self.pool)

    def server(self, **kwargs):
        server = SMTPServer(reactor, **kwargs)
        port = server.start()
        self.addCleanup(server.stop)
        return server, Session("client.test", port=port)

    async def test_accepts(self):
        """An accepting server gets the data byte for byte (dot-stuffing undone) and 2xx per recipient."""
        server, session = self.server()
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["b@example.com", "c@example.com"], DATA)
        self.assertEqual([o.delivered for o in outcomes], [True, True])
        self.assertEqual(outcomes[0].connection["remotemx"], "mx1")
        self.assertEqual(server.messages[0].data, DATA)
        self.assertEqual(server.messages[0].recipients, ["b@example.com", "c@example.com"])

    async def test_perRecipientReplies(self):
        """A 4xx and a 5xx RCPT reply are reported per recipient; the others are delivered."""
        server, session = self.server(replies={"RCPT t@example.com": b"451 4.3.0 later",
                                               "RCPT p@example.com": b"550 5.1.1 no such user"})
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["ok@example.com", "t@example.com", "p@example.com"], DATA)
        self.assertEqual([o.delivered for o in outcomes], [True, False, False])
        self.assertEqual([o.permanent for o in outcomes], [False, False, True])
        self.assertEqual(outcomes[2].reply.enhanced, (5, 1, 1))
        self.assertEqual(outcomes[2].reply.reason, ["no such user"])
        self.assertEqual(outcomes[2].reply.state, "RCPT")
        self.assertEqual(server.messages[0].recipients, ["ok@example.com"])

    async def test_withoutPipelining(self):
        """Servers without PIPELINING get one command at a time, with the same results."""
        server, session = self.server(pipelining=False, replies={"RCPT p@example.com": b"550 no"})
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["ok@example.com", "p@example.com"], DATA)
        self.assertEqual([o.delivered for o in outcomes], [True, False])

    async def test_mailRefused(self):
        """A refused MAIL FROM refuses every recipient with its reply; no data is sent."""
        server, session = self.server(replies={"MAIL": b"553 5.7.1 sender rejected"})
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertEqual((outcomes[0].reply.code, outcomes[0].reply.state), (553, "MAIL"))
        self.assertEqual(server.messages, [])

    async def test_eodRefused(self):
        """A 5xx after the data is permanent for every accepted recipient."""
        server, session = self.server(replies={"EOD": b"554 5.6.0 content rejected"})
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertEqual((outcomes[0].reply.code, outcomes[0].reply.state, outcomes[0].permanent), (554, "EOD", True))

    async def test_dropDuringData(self):
        """A connection cut during DATA is a temporary network error, and no other MX is tried."""
        server, session = self.server(drop={"EOD"})
        other, _ = self.server()
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1"), ("mx2", "127.0.0.1")], session,
                                                settings(), "a@x.org", ["b@example.com"], DATA)
        self.assertEqual((outcomes[0].error["type"], outcomes[0].error["temporary"]), ("network", True))
        self.assertEqual(server.connections, 1)

    async def test_stallTimesOut(self):
        """A server that stops answering hits the per-state timeout."""
        server, session = self.server(stall={"MAIL"})
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session,
                                                settings(timeout={"smtp": {"MAIL": 0.2}}), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertIn("timeout waiting for the reply to MAIL", outcomes[0].error["message"])
        self.assertTrue(outcomes[0].error["temporary"])

    async def test_nextHopOnConnectionFailure(self):
        """A hop that refuses the connection or greets with 421 is skipped for the next one."""
        busy, session = self.server(replies={"BANNER": b"421 4.3.2 busy"})
        good, good_session = self.server()
        outcomes = await self.deliverer.deliver([("dead", "127.0.0.2")], good_session, settings(), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertEqual(outcomes[0].error["type"], "network")
        outcomes = await self.deliverer.deliver([("busy", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertIn("busy", outcomes[0].error["message"])
        self.assertTrue(outcomes[0].error["temporary"])
        outcomes = await self.deliverer.deliver([("dead", "127.0.0.2"), ("good", "127.0.0.1")], good_session,
                                                settings(), "a@x.org", ["b@example.com"], DATA)
        self.assertTrue(outcomes[0].delivered)
        self.assertEqual(outcomes[0].connection["remotemx"], "good")

    async def test_starttlsOptional(self):
        """Opportunistic TLS starts when offered and is reported; the data arrives intact."""
        ca, cert = make_ca_and_cert("mx1.example.com")
        server, session = self.server(tls=tls_server_context(cert))
        outcomes = await self.deliverer.deliver([("mx1.example.com", "127.0.0.1")], session,
                                                settings(tls={"mode": "optional"}), "a@x.org", ["b@example.com"], DATA)
        self.assertTrue(outcomes[0].delivered)
        tls = outcomes[0].connection["tls"]
        self.assertTrue(tls["started"])
        self.assertTrue(tls["protocol"].startswith("TLSv1."))
        self.assertEqual(server.messages[0].data, DATA)
        self.assertIn(b"STARTTLS", server.commands)

    async def test_tlsRequired(self):
        """require fails (temporarily) when STARTTLS is not offered; optional goes on in plain text."""
        server, session = self.server()
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session,
                                                settings(tls={"mode": "require"}), "a@x.org", ["b@example.com"], DATA)
        self.assertEqual((outcomes[0].error["type"], outcomes[0].error["temporary"]), ("tls", True))
        self.assertEqual(server.messages, [])
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session,
                                                settings(tls={"mode": "optional"}), "a@x.org", ["b@example.com"], DATA)
        self.assertTrue(outcomes[0].delivered)

    async def test_tlsVerify(self):
        """require_verify accepts a certificate from the trusted CA for the MX name and refuses a wrong name."""
        ca, cert = make_ca_and_cert("mx1.example.com")
        server, session = self.server(tls=tls_server_context(cert))
        self.deliverer.trust_root = trust_root(ca)
        outcomes = await self.deliverer.deliver([("mx1.example.com", "127.0.0.1")], session,
                                                settings(tls={"mode": "require_verify"}), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertTrue(outcomes[0].delivered)
        outcomes = await self.deliverer.deliver([("mx9.example.com", "127.0.0.1")], session,
                                                settings(tls={"mode": "require_verify"}), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertFalse(outcomes[0].delivered)
        self.assertEqual(outcomes[0].error["type"], "tls")
        self.assertEqual(len(server.messages), 1)

    async def test_pooling(self):
        """With pooling, the second message reuses the connection (a hit); idle connections expire."""
        server, session = self.server()
        pooled = settings(pooling={"enabled": True, "timeout": 30})
        for _ in range(2):
            outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org",
                                                    ["b@example.com"], DATA)
            self.assertTrue(outcomes[0].delivered)
        self.assertEqual(server.connections, 1)
        self.assertEqual(outcomes[0].connection["transactions"], 2)
        self.assertEqual((self.stats.value("queue.connections.pooling.hits"),
                          self.stats.value("queue.connections.pooling.misses"),
                          self.stats.value("queue.connections.pooling.size")), (1, 1, 1))
        self.clock.advance(30)
        self.assertEqual((self.stats.value("queue.connections.pooling.expires"),
                          self.stats.value("queue.connections.pooling.size")), (1, 0))

    async def test_pooledConnectionWatchedOnce(self):
        """A connection pooled after each of many messages is watched for its close once, not once per message."""
        server, session = self.server()
        pooled = settings(pooling={"enabled": True, "timeout": 30})
        for _ in range(5):
            await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org", ["b@example.com"], DATA)
        (protocol,) = [idle.protocol for idle in self.pool._idle]
        # The connection limit's watch and the pool's.
        self.assertEqual((server.connections, len(protocol.closed.callbacks)), (1, 2))
        self.pool.close_all()
        await protocol.closed
        self.assertEqual((len(self.pool), self.pool.open, self.pool._by_protocol), (0, 0, {}))

    async def test_poolTransactionsLimit(self):
        """A connection that reached pooling.transactions is closed instead of pooled."""
        server, session = self.server()
        pooled = settings(pooling={"enabled": True, "timeout": 30, "transactions": 1})
        for _ in range(2):
            await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org", ["b@example.com"], DATA)
        self.assertEqual(server.connections, 2)

    async def test_stalePooledConnection(self):
        """A pooled connection the server closed meanwhile is replaced by a new one without failing the message."""
        server, session = self.server()
        pooled = settings(pooling={"enabled": True, "timeout": 30})
        await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org", ["b@example.com"], DATA)
        for open_session in list(server.open):
            open_session.transport.loseConnection()
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertTrue(outcomes[0].delivered)
        self.assertEqual((server.connections, len(server.messages)), (2, 2))

    async def test_closingReplyIsNotPooled(self):
        """A 421 to MAIL is that recipient's (temporary) answer, and the closing connection is not pooled."""
        server, session = self.server(replies={"MAIL": b"421 4.3.2 shutting down"})
        pooled = settings(pooling={"enabled": True, "timeout": 30})
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertEqual((outcomes[0].reply.code, outcomes[0].permanent), (421, False))
        self.assertEqual(len(self.pool), 0)
        self.assertEqual(server.messages, [])

    async def test_concurrencyLimit(self):
        """Past queues.concurrency.total no connection is opened; an idle pooled one is evicted to make room."""
        server, session = self.server()
        self.pool.total = 1
        pooled = settings(pooling={"enabled": True, "timeout": 30})
        await self.deliverer.deliver([("mx1", "127.0.0.1")], session, pooled, "a@x.org", ["b@example.com"], DATA)
        self.assertEqual(self.stats.value("queue.connections.concurrent"), 1)
        other = Session("client.test", port=session.port, localip="127.0.0.1")
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], other, pooled, "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertTrue(outcomes[0].delivered)
        self.assertEqual(self.stats.value("queue.connections.pooling.evicts"), 1)

    async def test_noRoomIsNotAnAttempt(self):
        """With every connection slot taken nothing is tried: no outcome, no connection."""
        server, session = self.server()
        self.pool.total = 0
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["b@example.com"], DATA)
        self.assertIsNone(outcomes)
        self.assertEqual(server.connections, 0)

    async def test_lmtp(self):
        """LMTP gets one reply per accepted recipient after the data."""
        server, session = self.server(lmtp=True, replies={"EOD c@example.com": b"452 4.2.2 mailbox full"})
        session.lmtp = True
        outcomes = await self.deliverer.deliver([("mx1", "127.0.0.1")], session, settings(), "a@x.org",
                                                ["b@example.com", "c@example.com"], DATA)
        self.assertEqual([o.reply.code for o in outcomes], [250, 452])
        self.assertIn(b"LHLO client.test", server.commands)


class DANETests(unittest.TestCase):
    """TLS mode dane/dane_require: TLSA records from a real DNS server, signed (AD bit) or not."""

    def setUp(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        import hashlib

        ca, cert = make_ca_and_cert("mx.dane.example")
        spki = x509.load_pem_x509_certificate(cert).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.good = (3, 1, 1, hashlib.sha256(spki).digest())
        self.server = SMTPServer(reactor, tls=tls_server_context(cert))
        self.port = self.server.start()
        self.addCleanup(self.server.stop)
        self.zone = {}
        self.dns = DNSServer(reactor, self.zone, signed=["_%d._tcp.mx.dane.example" % self.port])
        dns_port = self.dns.start()
        self.addCleanup(self.dns.stop)
        self.pool = ConnectionPool(Clock(), size=0, total=10)
        self.deliverer = Deliverer(reactor, self.pool, resolver=Resolver(reactor, [("127.0.0.1", dns_port)], timeout=2.0))
        self.session = Session("client.test", port=self.port)

    def tlsa(self, *records, name=None):
        self.zone[(name or "_%d._tcp.mx.dane.example" % self.port, "tlsa")] = list(records)

    def send(self, mode, mx="mx.dane.example"):
        return self.deliverer.deliver([(mx, "127.0.0.1")], self.session, settings(tls={"mode": mode}),
                                      "a@x.org", ["b@example.com"], DATA)

    async def test_matchingRecord(self):
        """A signed TLSA record matching the server's key: delivered over TLS, the records in the result."""
        self.tlsa(self.good)
        (outcome,) = await self.send("dane")
        self.assertTrue(outcome.delivered)
        tlsa = outcome.connection["tls"]["tlsa"]
        self.assertEqual((tlsa["error"], tlsa["records"][0]["usage"]), (None, 3))

    async def test_mismatchRefuses(self):
        """A signed record that matches nothing: temporary dane error, nothing sent."""
        self.tlsa((3, 1, 1, b"\0" * 32))
        (outcome,) = await self.send("dane")
        self.assertEqual((outcome.error["type"], outcome.error["temporary"]), ("dane", True))
        self.assertIn("no TLSA record matched", outcome.error["message"])
        self.assertEqual(self.server.messages, [])

    async def test_unsignedOrMissing(self):
        """Records without DNSSEC do not count: dane falls back to opportunistic TLS, dane_require refuses."""
        self.tlsa((3, 1, 1, b"\0" * 32), name="_%d._tcp.other.dane.example" % self.port)
        self.zone[("other.dane.example", "a")] = ["127.0.0.1"]
        (outcome,) = await self.send("dane", mx="other.dane.example")
        self.assertTrue(outcome.delivered)
        self.assertTrue(outcome.connection["tls"]["started"])
        (outcome,) = await self.send("dane_require", mx="other.dane.example")
        self.assertEqual(outcome.error["type"], "dane")
        self.assertEqual(len(self.server.messages), 1)
