"""Counters shared through a real redis-server."""

import os

from twisted.internet import defer, reactor, threads
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.trial import unittest

from halon.rated.backends import RedisBackend
from halon.rated.protocol import RateClient
from halon.rated.resp import RedisClient, RedisError, RESPProtocol
from halon.rated.window import RateTable
from tests.rated.helpers import short_tempdir, twistd, write_yaml
from tests.rated.redisserver import start_redis



class RESPTests(unittest.TestCase):
    def test_parsesEveryReplyType(self):
        """Simple strings, errors, integers, bulk, null and nested arrays, split anywhere."""
        from twisted.internet.testing import StringTransport

        proto = RESPProtocol()
        proto.makeConnection(StringTransport())
        results = []
        for _ in range(6):
            proto.execute("X").addBoth(results.append)
        wire = b"+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*2\r\n*1\r\n:1\r\n$1\r\nz\r\n"
        for i in range(len(wire)):
            proto.dataReceived(wire[i : i + 1])
        self.assertEqual(results[0], b"OK")
        self.assertIsInstance(results[1].value, RedisError)
        self.assertEqual(results[2:], [42, b"he\r\nl", None, [[1], b"z"]])


class RedisBackendTests(unittest.TestCase):
    def setUp(self):
        self.port, _ = start_redis(self)

    def backend(self):
        client = RedisClient(reactor, TCP4ClientEndpoint(reactor, "127.0.0.1", self.port))
        client.start()
        self.addCleanup(client.stop)
        return RedisBackend(client, RateTable(reactor))

    @defer.inlineCallbacks
    def test_limitAcrossTwoClients(self):
        """Two rated nodes on one Redis share a limit of 5."""
        a, b = self.backend(), self.backend()
        results = []
        for _ in range(4):
            results.append((yield a.rate(b"out", b"u", 5, 60)))
            results.append((yield b.rate(b"out", b"u", 5, 60)))
        self.assertEqual(results, [1.0] * 5 + [0.0] * 3)
        self.assertEqual((yield a.rate(b"out", b"u", 0, 60)), 5.0)

    @defer.inlineCallbacks
    def test_listAndClear(self):
        """Rows come from Redis with this node's own count; clear deletes by filter."""
        a, b = self.backend(), self.backend()
        yield a.rate(b"ns", b"one", 10, 60)
        yield b.rate(b"ns", b"one", 10, 60)
        yield b.rate(b"ns", b"two:with}odd{chars", 10, 60)
        yield a.rate(b"other", b"one", 10, 60, sync=False)
        rows = yield a.rows()
        self.assertEqual([r[:4] for r in rows], [(b"ns", b"one", 2, 1), (b"ns", b"two:with}odd{chars", 1, 0), (b"other", b"one", 1, 1)])
        self.assertGreaterEqual(rows[0][4], rows[0][5])
        self.assertEqual((yield b.clear(entry=b"one")), 1)
        self.assertEqual((yield a.clear(entry=b"one")), 1)
        rows = yield a.rows()
        self.assertEqual([r[1] for r in rows], [b"two:with}odd{chars"])

    @defer.inlineCallbacks
    def test_windowSlidesOnServerTime(self):
        """Hits older than the window (by redis-server's clock) neither count nor stay."""
        a = self.backend()
        yield a.rate(b"n", b"e", 5, 10)
        hits, _ = a._keys(b"n", b"e")
        sec, usec = yield a.client.execute("TIME")
        now = int(sec) * 1000000 + int(usec)
        for i, age in enumerate((30, 12, 9)):
            yield a.client.execute("ZADD", hits, now - age * 1000000, b"old%d" % i)
        self.assertEqual((yield a.rate(b"n", b"e", 0, 20)), 3.0)
        self.assertEqual((yield a.client.execute("ZCARD", hits)), 3)
        self.assertEqual((yield a.rate(b"n", b"e", 0, 10)), 2.0)
        self.assertEqual((yield a.client.execute("ZCARD", hits)), 2)
        self.assertEqual((yield a.rate(b"n", b"e", 3, 10)), 1.0)
        self.assertEqual((yield a.rate(b"n", b"e", 3, 10)), 0.0)


class ThreeProcessTests(unittest.TestCase):
    """Three `twistd halon-rated` processes, one Redis: what three smtpd hosts see."""

    def setUp(self):
        self.port, _ = start_redis(self)
        self.folder = short_tempdir(self)
        self.clients = []

    def start_nodes(self):
        for i in range(3):
            path = os.path.join(self.folder, "rated%d.sock" % i)
            startup = {"redis": {"address": "127.0.0.1", "port": self.port}, "environment": {"socket": {"path": path}}}
            twistd(self, "halon-rated", write_yaml(self.folder, "rated%d.yaml" % i, startup), path)
            client = RateClient(path, timeout=5)
            self.addCleanup(client.close)
            self.clients.append(client)

    @defer.inlineCallbacks
    def test_concurrentCallersShareOneLimit(self):
        """Callers hammering three rated processes at once get exactly the limit, no more."""
        yield threads.deferToThread(self.start_nodes)
        limit = 100

        def hammer(client):
            return sum(client.rate(b"shared", b"customer", limit, 60) for _ in range(80))

        accepted = yield defer.gatherResults(
            [threads.deferToThread(hammer, client) for client in self.clients for _ in range(2)]
        )
        self.assertEqual(sum(accepted), limit)
        counts = yield defer.gatherResults(
            [threads.deferToThread(client.rate, b"shared", b"customer", 0, 60) for client in self.clients]
        )
        self.assertEqual(counts, [limit] * 3)
