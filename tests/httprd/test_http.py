"""http() from a script thread against a real local twisted.web server."""

import json

from twisted.internet import defer, reactor, ssl, threads
from twisted.trial import unittest

from halon.httprd.client import HTTPService
from halon.httprd.fetch import Fetcher
from halon.hsl.errors import HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from tests.util.certs import make_ca, make_leaf
from tests.httprd.webserver import listen


def arr(**items):
    return HSLArray({k.encode(): v for k, v in items.items()})


class HTTPTestCase(unittest.TestCase):
    def setUp(self):
        self.site, self.port = listen(reactor, self)
        self.base = "http://127.0.0.1:%d" % (self.port,)
        self.fetcher = Fetcher(reactor)
        self.addCleanup(self.fetcher.close)
        self.http = HTTPService(Host(reactor=reactor), self.fetcher)

    def call(self, url, options=None, get=None, post=None):
        return threads.deferToThread(self.http.http, url.encode(), options, get, post)


class ForegroundTests(HTTPTestCase):
    @defer.inlineCallbacks
    def test_bodyOn2xx(self):
        """A 2xx answer returns the body as a string."""
        self.assertEqual((yield self.call(self.base + "/ok")), b"hello")

    @defer.inlineCallbacks
    def test_noneOnErrorStatus(self):
        """A 404 returns none, and with extended_result the status and content."""
        self.assertIsNone((yield self.call(self.base + "/status/404")))
        result = yield self.call(self.base + "/status/404", arr(extended_result=True))
        self.assertEqual(result, arr(status=404.0, content=b"status 404"))

    @defer.inlineCallbacks
    def test_connectionRefusedIsNone(self):
        """Nothing listening: none, not an exception."""
        from socket import socket

        with socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        self.assertIsNone((yield self.call("http://127.0.0.1:%d/" % free, arr(extended_result=True))))

    @defer.inlineCallbacks
    def test_postArrayHeadersAndGetSubstitution(self):
        """post arrays are form-encoded, headers are sent, $1 is replaced URL-encoded."""
        result = yield self.call(
            self.base + "/echo?q=$1&r=$2",
            arr(headers=HSLArray.from_list([b"X-Test: 1", b"Accept: application/json"])),
            HSLArray.from_list([b"a b&c", 5.0]),
            arr(name=b"J\xc3\xb6rg", n=2.0),
        )
        echo = json.loads(result)
        self.assertEqual(echo["method"], "POST")
        self.assertEqual(echo["uri"], "/echo?q=a%20b%26c&r=5")
        self.assertEqual(echo["body"], "name=J%C3%B6rg&n=2")
        self.assertEqual(echo["headers"]["x-test"], "1")
        self.assertEqual(echo["headers"]["content-type"], "application/x-www-form-urlencoded")

    @defer.inlineCallbacks
    def test_methodAndRawBody(self):
        """method overrides the default and a string post is sent as is."""
        headers = HSLArray.from_list([b"Content-Type: application/json"])
        result = yield self.call(self.base + "/echo", arr(method=b"put", headers=headers), None, b'{"a":1}')
        echo = json.loads(result)
        self.assertEqual((echo["method"], echo["body"]), ("PUT", '{"a":1}'))
        self.assertEqual(echo["headers"]["content-type"], "application/json")

    @defer.inlineCallbacks
    def test_timeout(self):
        """A server that never answers gives none after the timeout."""
        result = yield self.call(self.base + "/slow", arr(timeout=0.2, extended_result=True))
        self.assertIsNone(result)
        self.assertEqual(len(self.site.stalled), 1)

    @defer.inlineCallbacks
    def test_redirects(self):
        """Redirects are not followed by default, followed up to the count, or all with -1."""
        result = yield self.call(self.base + "/redirect/2", arr(extended_result=True))
        self.assertEqual(result.get(b"status"), 302.0)
        self.assertIsNone((yield self.call(self.base + "/redirect/3", arr(redirects=2.0))))
        self.assertEqual((yield self.call(self.base + "/redirect/3", arr(redirects=3.0))), b"landed GET")
        self.assertEqual((yield self.call(self.base + "/redirect/5", arr(redirects=-1.0))), b"landed GET")

    @defer.inlineCallbacks
    def test_seeOtherTurnsPostIntoGet(self):
        """A 303 after a POST is followed with a GET and no body."""
        result = yield self.call(self.base + "/see-other", arr(redirects=1.0), None, b"data")
        self.assertEqual(json.loads(result)["method"], "GET")

    @defer.inlineCallbacks
    def test_maxFileSize(self):
        """A body larger than max_file_size is not returned."""
        self.assertEqual(len((yield self.call(self.base + "/big/5000", arr(max_file_size=5000.0)))), 5000)
        self.assertIsNone((yield self.call(self.base + "/big/5001", arr(max_file_size=5000.0))))

    @defer.inlineCallbacks
    def test_responseHeaders(self):
        """response_headers returns the status line and headers before the body."""
        result = yield self.call(self.base + "/echo", arr(response_headers=True))
        self.assertTrue(result.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertIn(b"\r\nX-Echo: yes\r\n", result)
        result = yield self.call(self.base + "/echo", arr(response_headers=True, extended_result=True))
        self.assertIn(b"X-Echo: yes", result.get(b"headers").to_list())

    @defer.inlineCallbacks
    def test_connectionsArePooled(self):
        """Ten sequential requests to one server reuse one connection."""
        for _ in range(10):
            yield self.call(self.base + "/ok")
        self.assertEqual(len(self.site.requests), 10)
        self.assertEqual(len(set(map(id, self.site.channels))), 1)
        [(_, pool)] = self.fetcher._agents.values()
        self.assertEqual(sum(len(c) for c in pool._connections.values()), 1)

    def test_badOptions(self):
        """Unknown options, bad headers and other schemes are script errors, not none."""
        for options in (arr(nosuch=1.0), arr(headers=HSLArray.from_list([b"no colon"])), arr(timeout=-1.0)):
            self.assertRaises(HSLRuntimeError, self.http.http, b"http://x/", options)
        self.assertRaises(HSLRuntimeError, self.http.http, b"ftp://x/")


class TLSTests(unittest.TestCase):
    def setUp(self):
        ca_pem, ca_key = make_ca()
        self.site, self.port = listen(reactor, self, tls=make_leaf(ca_pem, ca_key, ("localhost",)))
        self.trusted = Fetcher(reactor, trust_root=ssl.Certificate.loadPEM(ca_pem))
        other_ca, _ = make_ca("Someone Else")
        self.untrusted = Fetcher(reactor, trust_root=ssl.Certificate.loadPEM(other_ca))
        for fetcher in (self.trusted, self.untrusted):
            self.addCleanup(fetcher.close)

    def call(self, fetcher, host, options=None):
        service = HTTPService(Host(reactor=reactor), fetcher)
        return threads.deferToThread(service.http, b"https://%s:%d/ok" % (host, self.port), options)

    @defer.inlineCallbacks
    def test_verifiedPeer(self):
        """A certificate from the trusted CA is accepted."""
        self.assertEqual((yield self.call(self.trusted, b"localhost")), b"hello")

    @defer.inlineCallbacks
    def test_unknownCAIsRefused(self):
        """With tls_verify_peer (the default) an unknown CA gives none; without, it works."""
        self.assertIsNone((yield self.call(self.untrusted, b"localhost")))
        self.assertEqual((yield self.call(self.untrusted, b"localhost", arr(tls_verify_peer=False))), b"hello")

    @defer.inlineCallbacks
    def test_hostnameCheckedOnlyWhenAsked(self):
        """The name is not checked by default (Halon's tls_verify_host false), and is when asked."""
        self.assertEqual((yield self.call(self.trusted, b"127.0.0.1")), b"hello")
        self.assertIsNone((yield self.call(self.trusted, b"127.0.0.1", arr(tls_verify_host=True))))
        self.assertEqual((yield self.call(self.trusted, b"localhost", arr(tls_verify_host=True))), b"hello")
