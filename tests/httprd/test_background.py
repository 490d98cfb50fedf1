"""Background http() requests through httprd's real IPC socket, retried on a Clock."""

import os
import stat

from twisted.internet import defer, reactor, threads
from twisted.internet.task import Clock
from twisted.trial import unittest

from halon.httprd.client import HTTPService, SocketBackground
from halon.httprd.fetch import Fetcher
from halon.httprd.service import HttprdService
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from halon.stats import Stats
from tests.httprd.webserver import listen
from tests.rated.helpers import short_tempdir, wait_until


def arr(**items):
    return HSLArray({k.encode(): v for k, v in items.items()})


class BackgroundTests(unittest.TestCase):
    def setUp(self):
        self.site, port = listen(reactor, self)
        self.url = b"http://127.0.0.1:%d/flaky" % port
        self.clock = Clock()
        self.stats = Stats()
        folder = short_tempdir(self)
        self.path = os.path.join(folder, "httprd.sock")
        startup = {"environment": {"socket": {"path": self.path}}, "queues": {"count": 2}}
        self.httprd = HttprdService(reactor, startup, self.stats, clock=self.clock)
        self.httprd.startService()
        self.addCleanup(self.httprd.stopService)
        background = SocketBackground(self.path)
        self.addCleanup(background.close)
        fetcher = Fetcher(reactor)
        self.addCleanup(fetcher.close)
        self.http = HTTPService(Host(reactor=reactor), fetcher, background)

    def wait(self, predicate):
        return defer.Deferred.fromCoroutine(wait_until(predicate, 5))

    def test_socketMode(self):
        """httprd's IPC socket is mode 0660."""
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o660)

    @defer.inlineCallbacks
    def test_queuedAndSent(self):
        """background returns true at once and httprd makes the request."""
        result = yield threads.deferToThread(self.http.http, self.url, arr(background=True), None, b"payload")
        self.assertIs(result, True)
        yield self.wait(lambda: self.stats.value("httprd.requests.finished") == 1)
        self.assertEqual(self.site.flaky_hits, [b"payload"])
        self.assertEqual(self.stats.value("httprd.requests.received"), 1)

    @defer.inlineCallbacks
    def test_retriedAfterTheDelay(self):
        """A failing request is retried background_retry_count times, background_retry_delay apart."""
        self.site.fail_times = 2
        options = arr(background=True, background_retry_count=3.0, background_retry_delay=30.0)
        yield threads.deferToThread(self.http.http, self.url, options)
        yield self.wait(lambda: self.stats.value("httprd.requests.retries") == 1)
        self.assertEqual(len(self.site.flaky_hits), 1)
        self.clock.advance(29)
        self.assertEqual(self.httprd.queues.pending(), 1)
        self.clock.advance(1)
        yield self.wait(lambda: self.stats.value("httprd.requests.retries") == 2)
        self.clock.advance(30)
        yield self.wait(lambda: self.stats.value("httprd.requests.finished") == 1)
        self.assertEqual(len(self.site.flaky_hits), 3)
        self.assertEqual(self.stats.value("httprd.requests.failed"), 0)

    @defer.inlineCallbacks
    def test_givesUpAfterTheRetries(self):
        """After the last retry the request is dropped and counted as failed."""
        self.site.fail_times = 10
        options = arr(background=True, background_retry_count=1.0, background_retry_delay=5.0)
        yield threads.deferToThread(self.http.http, self.url, options)
        yield self.wait(lambda: self.stats.value("httprd.requests.retries") == 1)
        self.clock.advance(5)
        yield self.wait(lambda: self.stats.value("httprd.requests.failed") == 1)
        self.assertEqual(len(self.site.flaky_hits), 2)
        self.assertEqual(self.httprd.queues.pending(), 0)

    @defer.inlineCallbacks
    def test_sameHashKeepsOrder(self):
        """Requests with one background_hash are sent one after another, in order."""
        for i in range(5):
            yield threads.deferToThread(
                self.http.http, self.url, arr(background=True, background_hash=7.0), None, b"%d" % i
            )
        yield self.wait(lambda: self.stats.value("httprd.requests.finished") == 5)
        self.assertEqual(self.site.flaky_hits, [b"0", b"1", b"2", b"3", b"4"])

    @defer.inlineCallbacks
    def test_noHttprdIsNone(self):
        """With httprd down, a background request returns none."""
        yield self.httprd.stopService()
        result = yield threads.deferToThread(self.http.http, self.url, arr(background=True))
        self.assertIsNone(result)
