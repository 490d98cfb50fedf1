"""
The helper daemons' IPC framing (the server protocol fed by hand, real
sockets for sizes and time limits) and the payload of a rate() request.
"""

import os
import socket
import struct

from twisted.internet import defer, reactor, threads
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from halon.rated.ipc import MAX_FRAME, BlockingClient, FramedServerFactory, IPCError, RequestError, UnixSocketService
from halon.rated.protocol import RATE, decode_rate
from tests.rated.helpers import short_tempdir


def frame(payload):
    return struct.pack("!I", len(payload)) + payload


class ProtocolTests(unittest.TestCase):
    """FramedServerProtocol on a StringTransport: how reads are cut and replies ordered."""

    def setUp(self):
        self.later = {}

        def handle(payload):
            if payload.startswith(b"later"):
                d = self.later[payload] = defer.Deferred()
                return d
            if payload == b"refuse":
                raise RequestError("refused")
            return payload.upper()

        self.protocol = FramedServerFactory(handle).buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def test_manyFramesInOneRead(self):
        """Every frame of one read is answered, in order, in one write."""
        self.protocol.dataReceived(frame(b"a") + frame(b"b") + frame(b"refuse"))
        self.assertEqual(self.transport.value(), frame(b"+A") + frame(b"+B") + frame(b"-refused"))

    def test_framesCutAnywhere(self):
        """A frame split across reads, even inside its length, is answered once it is whole."""
        data = frame(b"first") + frame(b"second")
        for i in range(len(data)):
            self.protocol.dataReceived(data[i : i + 1])
        self.assertEqual(self.transport.value(), frame(b"+FIRST") + frame(b"+SECOND"))

    def test_laterRepliesKeepTheOrder(self):
        """An answer that is ready waits behind an earlier one that is not."""
        self.protocol.dataReceived(frame(b"a") + frame(b"later1") + frame(b"b"))
        self.assertEqual(self.transport.value(), frame(b"+A"))
        self.protocol.dataReceived(frame(b"c"))
        self.assertEqual(self.transport.value(), frame(b"+A"))
        self.later[b"later1"].callback(b"L")
        self.assertEqual(self.transport.value(), frame(b"+A") + frame(b"+L") + frame(b"+B") + frame(b"+C"))

    def test_tooLargeFrameCloses(self):
        """A length above MAX_FRAME closes the connection instead of buffering it."""
        self.protocol.dataReceived(struct.pack("!I", MAX_FRAME + 1))
        self.assertTrue(self.transport.disconnecting)


class SocketTests(unittest.TestCase):
    """BlockingClient against a real daemon socket."""

    def setUp(self):
        self.folder = short_tempdir(self)
        self.path = os.path.join(self.folder, "ipc.sock")
        self.pending = []

        def handle(payload):
            if payload == b"never":
                d = defer.Deferred()
                self.pending.append(d)
                return d
            if payload.startswith(b"big"):
                return os.urandom(int(payload[3:]))
            return payload

        self.service = UnixSocketService(reactor, self.path, FramedServerFactory(handle))
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def client(self, timeout=5.0):
        client = BlockingClient(self.path, timeout)
        self.addCleanup(client.close)
        return client

    @defer.inlineCallbacks
    def test_replyLargerThanTheSocketBuffer(self):
        """An 8 MB reply (far past what one send takes) arrives whole, and the next small one after it."""
        client = self.client()
        sndbuf = socket.socket(socket.AF_UNIX).getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        size = max(8 << 20, 4 * sndbuf)
        big, small = yield threads.deferToThread(lambda: (client.request(b"big%d" % size), client.request(b"ping")))
        self.assertEqual(len(big), size)
        self.assertEqual(small, b"ping")

    @defer.inlineCallbacks
    def test_timeLimit(self):
        """A daemon that does not answer in time is an IPCError; the next request gets its reply on a new connection."""
        client = self.client(timeout=0.05)
        e = yield self.assertFailure(threads.deferToThread(client.request, b"never"), IPCError)
        self.assertIn("no reply within 0.05 s", str(e))
        self.pending[0].callback(b"late")
        result = yield threads.deferToThread(client.request, b"ping")
        self.assertEqual(result, b"ping")

    @defer.inlineCallbacks
    def test_requestTimeLimitOverridesTheClients(self):
        """A time limit given with one request applies to it alone."""
        client = self.client(timeout=30)
        e = yield self.assertFailure(threads.deferToThread(client.request, b"never", 0.05), IPCError)
        self.assertIn("no reply within 0.05 s", str(e))
        self.pending[0].callback(b"late")
        result = yield threads.deferToThread(client.request, b"ping")
        self.assertEqual(result, b"ping")


class RateRequestTests(unittest.TestCase):
    """rated's reading of a rate() request payload."""

    def test_roundTrip(self):
        """What the client packs, rated reads back: namespace, entry, limit, interval and the sync flag."""
        payload = RATE.pack(b"R", 0, 3.0, 60.0, 2, 5) + b"nsalice"
        self.assertEqual(decode_rate(payload), (b"ns", b"alice", 3.0, 60.0, False))

    def test_malformed(self):
        """A short payload, another kind or lengths that do not add up are refused with the reason."""
        good = RATE.pack(b"R", 1, 3.0, 60.0, 2, 5) + b"nsalice"
        for payload, reason in [
            (b"R", "not a rate request"),
            (b"X" + good[1:], "not a rate request"),
            (good + b"x", "bad length"),
            (good[:-1], "bad length"),
        ]:
            with self.assertRaises(RequestError) as caught:
                decode_rate(payload)
            self.assertIn(reason, str(caught.exception))
