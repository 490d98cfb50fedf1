"""`twistd halon-httprd` as a real process taking background requests."""

import os

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from halon.httprd.client import HTTPService, SocketBackground
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from tests.httprd.webserver import listen
from tests.rated.helpers import short_tempdir, twistd, wait_until, write_yaml


class TwistdTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_backgroundRequestArrives(self):
        """A background http() queued in a separate httprd process reaches the server, retried until it succeeds."""
        site, port = listen(reactor, self)
        site.fail_times = 1
        folder = short_tempdir(self)
        sock = os.path.join(folder, "httprd.sock")
        config = write_yaml(folder, "httprd.yaml", {"environment": {"socket": {"path": sock}}, "queues": {"count": 2}})
        yield threads.deferToThread(twistd, self, "halon-httprd", config, sock)
        background = SocketBackground(sock)
        self.addCleanup(background.close)
        http = HTTPService(Host(reactor=reactor), None, background)
        options = HSLArray({b"background": True, b"background_retry_count": 2.0, b"background_retry_delay": 0.1})
        result = yield threads.deferToThread(http.http, b"http://127.0.0.1:%d/flaky" % port, options, None, b"event=1")
        self.assertIs(result, True)
        yield defer.Deferred.fromCoroutine(wait_until(lambda: len(site.flaky_hits) == 2, 10))
        self.assertEqual(site.flaky_hits, [b"event=1", b"event=1"])
