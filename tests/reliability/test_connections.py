"""
Many and slow clients against `twistd -n halon`: ten thousand open
connections each get their banner, the next one is told 421 (the default
limit), mail still flows beside them, a client typing a byte at a time is
served, and every connection is counted out again when they close.
"""

import re
import smtplib

from twisted.internet import defer, protocol, reactor, task, threads
from twisted.trial import unittest

from halon.control import api
from halon.control.client import ControlClient
from tests.allinone.helpers import MESSAGE, Workdir

CONNECTIONS = 10000
IN_FLIGHT = 400


class Banner(protocol.Protocol):
    """Waits for the first reply line; keeps the connection open until told."""

    def __init__(self):
        self.banner = defer.Deferred()
        self.closed = defer.Deferred()
        self._buffer = b""

    def dataReceived(self, data):
        self._buffer += data
        if b"\r\n" in self._buffer and not self.banner.called:
            self.banner.callback(self._buffer.split(b"\r\n", 1)[0])

    def connectionLost(self, reason):
        if not self.banner.called:
            self.banner.errback(reason)
        self.closed.callback(None)


def open_connection(port):
    d = protocol.ClientCreator(reactor, Banner).connectTCP("127.0.0.1", port, timeout=30)
    return d.addCallback(lambda p: p.banner.addCallback(lambda line: (p, line)))


class ConnectionTests(unittest.TestCase):
    timeout = 300

    def concurrent(self, work):
        request = api.CALLS["ProcessStats"].request_class()()
        with ControlClient(work.run + "/smtpd.ctl", timeout=10) as client:
            stats = {s.name: s.number for s in client.call("ProcessStats", request).stats}
        return stats["servers[0].connections.concurrent"]

    @defer.inlineCallbacks
    def test_tenThousandAndSlowClients(self):
        work = Workdir(self)
        process = work.start()
        port = yield process.listening

        gate = defer.DeferredSemaphore(IN_FLIGHT)
        results = yield defer.gatherResults([gate.run(open_connection, port) for _ in range(CONNECTIONS)], consumeErrors=True)
        clients = [p for p, _ in results]

        def close_all():
            for p in clients:
                p.transport.loseConnection()
            return defer.gatherResults([p.closed for p in clients])

        self.addCleanup(close_all)
        self.assertEqual({line[:4] for _, line in results}, {b"220 "})
        self.assertEqual((yield threads.deferToThread(self.concurrent, work)), CONNECTIONS)

        extra, line = yield open_connection(port)
        self.assertEqual(line[:4], b"421 ")
        yield extra.closed

        # Room for two more: mail flows, and a client typing slowly is served.
        for p in clients[:2]:
            p.transport.loseConnection()
        yield defer.gatherResults([p.closed for p in clients[:2]])
        del clients[:2]

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                return smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

        self.assertEqual((yield threads.deferToThread(send)), {})

        slow, line = yield open_connection(port)
        self.assertEqual(line[:4], b"220 ")
        replies = []
        slow.dataReceived = lambda data: replies.append(data)
        for byte in b"EHLO slow.example\r\n":
            slow.transport.write(bytes([byte]))
            yield task.deferLater(reactor, 0.005, lambda: None)
        for _ in range(500):
            if re.search(rb"(^|\r\n)250 ", b"".join(replies)):
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertRegex(b"".join(replies), rb"(^|\r\n)250 ")
        slow.transport.loseConnection()
        yield slow.closed

        yield close_all()
        clients = []
        for _ in range(500):
            if (yield threads.deferToThread(self.concurrent, work)) == 0:
                break
            yield task.deferLater(reactor, 0.02, lambda: None)
        self.assertEqual((yield threads.deferToThread(self.concurrent, work)), 0)
        self.assertNotIn(b"Traceback", process.output)
