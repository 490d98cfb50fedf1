"""HSL's rate() against a real rated socket."""

import os

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from halon.hsl.errors import HSLNotAvailable, HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from halon.rated.protocol import RateClient
from halon.rated.service import RatedService
from halon.stats import Stats
from tests.rated.helpers import short_tempdir


class RateFunctionTests(unittest.TestCase):
    def setUp(self):
        folder = short_tempdir(self)
        self.path = os.path.join(folder, "rated.sock")
        self.rated = RatedService(reactor, {"environment": {"socket": {"path": self.path}}}, {}, Stats())
        self.rated.startService()
        self.addCleanup(self.rated.stopService)
        self.host = Host(reactor=reactor)
        client = RateClient(self.path)
        self.addCleanup(client.close)
        self.host.services["rate"] = client
        self.rate = self.host.namespace()["rate"]

    @defer.inlineCallbacks
    def test_manualExample(self):
        """The manual's example: 3 messages per minute, the fourth is refused."""
        results = yield threads.deferToThread(lambda: [self.rate(b"outbound", b"alice", 3.0, 60.0) for _ in range(4)])
        self.assertEqual(results, [True, True, True, False])
        count = yield threads.deferToThread(self.rate, b"outbound", b"alice", 0.0, 60.0)
        self.assertEqual(count, 3.0)

    @defer.inlineCallbacks
    def test_syncOption(self):
        """Option sync false keeps the entry on this node (and is accepted)."""
        yield threads.deferToThread(self.rate, b"n", b"e", 5.0, 60.0, HSLArray({b"sync": False}))
        [row] = self.rated.table.rows()
        self.assertEqual(row[:3], (b"n", b"e", 1))
        self.assertFalse(self.rated.table._entries[(b"n", b"e")].sync)

    def test_badArguments(self):
        """Bad counts, intervals and options are script errors."""
        for args in [(b"n", b"e", -1.0, 60.0), (b"n", b"e", 1.0, 0.0), (b"n", b"e", 1.0, 60.0, HSLArray({b"x": 1.0}))]:
            self.assertRaises(HSLRuntimeError, self.rate, *args)

    @defer.inlineCallbacks
    def test_ratedDownIsNone(self):
        """When rated cannot be reached rate() returns none."""
        yield self.rated.stopService()
        result = yield threads.deferToThread(self.rate, b"n", b"e", 1.0, 60.0)
        self.assertIsNone(result)
        self.flushLoggedErrors()

    def test_notAvailableWithoutRated(self):
        """A host without the rate service reports rate() as not available."""
        self.assertRaises(HSLNotAvailable, Host().namespace()["rate"], b"n", b"e", 1.0, 60.0)
