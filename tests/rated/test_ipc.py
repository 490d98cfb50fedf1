"""rate() from script threads over rated's real Unix socket."""

import os
import stat

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from halon.rated.ipc import IPCError
from halon.rated.protocol import RateClient
from halon.rated.service import RatedService
from halon.stats import Stats
from tests.rated.helpers import short_tempdir


class IPCTests(unittest.TestCase):
    def setUp(self):
        self.folder = short_tempdir(self)
        self.path = os.path.join(self.folder, "rated.sock")
        self.stats = Stats()
        self.rated = self.start()
        self.client = RateClient(self.path, timeout=2)
        self.addCleanup(self.client.close)

    def start(self):
        svc = RatedService(reactor, {"environment": {"socket": {"path": self.path}}}, {}, self.stats)
        svc.startService()
        self.addCleanup(svc.stopService)
        return svc

    def test_socketMode(self):
        """The IPC socket is a socket with mode 0660, as the seed prescribes."""
        mode = os.stat(self.path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)

    @defer.inlineCallbacks
    def test_rateFromAThread(self):
        """Three calls with a limit of 2 give True, True, False; a count of 0 reads 2."""

        def calls():
            return [self.client.rate(b"outbound", b"alice", 2, 60) for _ in range(3)] + [
                self.client.rate(b"outbound", b"alice", 0, 60)
            ]

        results = yield threads.deferToThread(calls)
        self.assertEqual(results, [True, True, False, 2.0])
        self.assertEqual(self.stats.value("rated.requests"), 4)
        self.assertEqual(self.stats.value("rated.hits.accepted"), 2)
        self.assertEqual(self.stats.value("rated.hits.denied"), 1)

    @defer.inlineCallbacks
    def test_manyThreads(self):
        """Concurrent callers on several threads never let more than the limit through."""
        results = yield defer.gatherResults(
            [threads.deferToThread(lambda: [self.client.rate(b"n", b"e", 50, 60) for _ in range(40)]) for _ in range(4)]
        )
        self.assertEqual(sum(sum(r) for r in results), 50)

    @defer.inlineCallbacks
    def test_badArgumentsAreAnError(self):
        """A negative count comes back as an error naming the problem."""
        e = yield self.assertFailure(threads.deferToThread(self.client.rate, b"n", b"e", -1, 60), IPCError)
        self.assertIn("count", str(e))

    @defer.inlineCallbacks
    def test_daemonRestart(self):
        """After rated restarts, the next call reconnects instead of failing."""
        yield threads.deferToThread(self.client.rate, b"n", b"e", 5, 60)
        yield self.rated.stopService()
        e = yield self.assertFailure(threads.deferToThread(self.client.rate, b"n", b"e", 5, 60), IPCError)
        self.assertIn(self.path, str(e))
        self.start()
        result = yield threads.deferToThread(self.client.rate, b"n", b"e", 5, 60)
        self.assertIs(result, True)
