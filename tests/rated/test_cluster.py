"""Two and three rated nodes synchronising over real UDP on loopback."""

import hashlib
import hmac

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial import unittest

from halon.rated.cluster import ClusterSync, parse_peer
from halon.rated.service import RatedService
from halon.rated.window import RateTable
from halon.stats import Stats
from tests.rated.helpers import short_tempdir, wait_until

KEY = "a3faf19660fea508afaab8648b4aa3b9f685acd0"
SYNCDELAY_US = 25
# How long nodes may take to agree before a test gives up: generous, for a
# loaded machine.  How fast they agree (the target: syncdelay + 100 ms) is
# measured by bench/rated, not asserted here.
PATIENCE = 10.0


class Capture(DatagramProtocol):
    def __init__(self):
        self.packets = []

    def datagramReceived(self, data, address):
        self.packets.append(data)


class ClusterTests(unittest.TestCase):
    def setUp(self):
        self.folder = short_tempdir(self)

    def node(self, name, key=KEY):
        startup = {
            "key": key,
            "syncdelay": SYNCDELAY_US,
            "listen": {"port": 0, "address": "127.0.0.1"},
            "environment": {"socket": {"path": "%s/%s.sock" % (self.folder, name)}},
        }
        stats = Stats()
        svc = RatedService(reactor, startup, {}, stats)
        svc.privilegedStartService()
        svc.startService()
        self.addCleanup(svc.stopService)
        svc.stats_ = stats
        return svc

    @staticmethod
    def address(node):
        return ("127.0.0.1", node.cluster.port.getHost().port)

    @defer.inlineCallbacks
    def link(self, *nodes):
        for node in nodes:
            yield node.ready
            yield node.cluster.sync.set_peers([self.address(o) for o in nodes if o is not node])

    @defer.inlineCallbacks
    def test_hitsReachThePeer(self):
        """A hit accepted on one node is counted on the other."""
        a, b = self.node("a"), self.node("b")
        yield self.link(a, b)
        for i in range(20):
            self.assertEqual(a.backend.rate(b"out", b"customer%d" % (i % 4), 10, 60), 1.0)
        yield defer.Deferred.fromCoroutine(wait_until(lambda: b.backend.rate(b"out", b"customer3", 0, 60) == 5, PATIENCE))
        rows = {r[1]: r for r in b.table.rows()}
        self.assertEqual((rows[b"customer0"][2], rows[b"customer0"][3]), (5, 0))
        self.assertEqual(a.table.rows()[0][2:4], (5, 5))

    @defer.inlineCallbacks
    def test_limitIsSharedAcrossNodes(self):
        """A limit of 6 is reached by hits on two nodes together."""
        a, b = self.node("a"), self.node("b")
        yield self.link(a, b)
        for _ in range(3):
            a.backend.rate(b"n", b"e", 6, 60)
            b.backend.rate(b"n", b"e", 6, 60)
        yield defer.Deferred.fromCoroutine(
            wait_until(lambda: a.table.check(b"n", b"e", 0, 60) == 6 == b.table.check(b"n", b"e", 0, 60), PATIENCE)
        )
        self.assertEqual(a.backend.rate(b"n", b"e", 6, 60), 0.0)
        self.assertEqual(b.backend.rate(b"n", b"e", 6, 60), 0.0)

    @defer.inlineCallbacks
    def test_unsyncedHitsStayLocal(self):
        """rate() with sync off is not sent to peers."""
        a, b = self.node("a"), self.node("b")
        yield self.link(a, b)
        a.backend.rate(b"n", b"private", 5, 60, sync=False)
        a.backend.rate(b"n", b"public", 5, 60)
        yield defer.Deferred.fromCoroutine(wait_until(lambda: b.table.check(b"n", b"public", 0, 60) == 1, PATIENCE))
        self.assertEqual(b.table.check(b"n", b"private", 0, 60), 0)

    @defer.inlineCallbacks
    def test_wrongKeyIsRejected(self):
        """A peer with another key is not believed, and the rejection is counted."""
        a, b = self.node("a"), self.node("b", key="00" * 20)
        yield self.link(a, b)
        a.backend.rate(b"n", b"e", 5, 60)
        yield defer.Deferred.fromCoroutine(
            wait_until(lambda: b.stats_.value("rated.sync.packets.rejected") >= 1, PATIENCE)
        )
        self.assertEqual(b.table.check(b"n", b"e", 0, 60), 0)
        self.assertEqual(b.stats_.value("rated.sync.packets.received"), 0)

    @defer.inlineCallbacks
    def test_replayedPacketIsDropped(self):
        """A captured packet sent again does not count its hits twice."""
        a, b = self.node("a"), self.node("b")
        yield a.ready
        capture = Capture()
        port = reactor.listenUDP(0, capture, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        yield a.cluster.sync.set_peers([("127.0.0.1", port.getHost().port), self.address(b)])
        a.backend.rate(b"n", b"e", 5, 60)
        yield defer.Deferred.fromCoroutine(wait_until(lambda: capture.packets, PATIENCE))
        yield defer.Deferred.fromCoroutine(wait_until(lambda: b.table.check(b"n", b"e", 0, 60) == 1, PATIENCE))
        port.write(capture.packets[0], self.address(b))
        port.write(capture.packets[0][:-1] + b"X", self.address(b))
        yield defer.Deferred.fromCoroutine(
            wait_until(lambda: b.stats_.value("rated.sync.packets.rejected") == 2, PATIENCE)
        )
        self.assertEqual(b.table.check(b"n", b"e", 0, 60), 1)

    @defer.inlineCallbacks
    def test_newNodeLearnsExistingHits(self):
        """A node that starts later asks its peers and receives the hits they hold."""
        a = self.node("a")
        yield a.ready
        for _ in range(4):
            a.backend.rate(b"n", b"e", 10, 60)
        c = self.node("c")
        yield c.ready
        yield c.cluster.sync.set_peers([self.address(a)], hello=True)
        yield defer.Deferred.fromCoroutine(wait_until(lambda: c.table.check(b"n", b"e", 0, 60) == 4, PATIENCE))
        self.assertEqual(c.table.rows()[0][3], 0)


class PacketTests(unittest.TestCase):
    def test_packetIsAuthenticatedWithHMACSHA1(self):
        """The first 20 bytes are HMAC-SHA1 of the rest under the shared key."""
        from twisted.internet.task import Clock

        clock = Clock()
        sync = ClusterSync(clock, RateTable(clock), b"k" * 20, node_id=7)
        packet = sync._packet(1, b"payload")
        self.assertEqual(packet[:20], hmac.new(b"k" * 20, packet[20:], hashlib.sha1).digest())

    def test_parsePeer(self):
        """Peers are written as host, host:port, [v6]:port or {address, port}."""
        self.assertEqual(parse_peer("mta2.example.com"), ("mta2.example.com", 13131))
        self.assertEqual(parse_peer("10.0.0.2:9000"), ("10.0.0.2", 9000))
        self.assertEqual(parse_peer("[2001:db8::1]:9000"), ("2001:db8::1", 9000))
        self.assertEqual(parse_peer("2001:db8::1"), ("2001:db8::1", 13131))
        self.assertEqual(parse_peer({"address": "10.0.0.3", "port": 1}), ("10.0.0.3", 1))
