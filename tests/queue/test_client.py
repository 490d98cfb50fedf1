"""The outbound SMTP client's reply deadlines, on a task.Clock and a string transport."""

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from halon.queue.client import SMTPClientProtocol

TIMEOUTS = {"BANNER": 300.0, "EHLO": 300.0, "MAIL": 300.0, "RCPT": 300.0, "DATA": 5.0, "EOD": 600.0, "QUIT": 10.0}


class DeadlineTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.client = SMTPClientProtocol(self.clock, "client.test", timeouts=TIMEOUTS)
        self.transport = StringTransport()
        self.client.makeConnection(self.transport)
        self.client.dataReceived(b"220 server.test\r\n250-server.test\r\n250 PIPELINING\r\n")
        self.assertTrue(self.client.ready.called)

    def send(self):
        """A pipelined transaction whose MAIL and RCPT are answered at once."""
        self.client.transaction("a@client.test", ["b@server.test"], b"hi\r\n")
        self.client.dataReceived(b"250 ok\r\n250 ok\r\n")

    def test_eachCommandItsOwnTimeout(self):
        """DATA's short timeout holds even though the commands before it had long ones."""
        self.send()
        self.clock.advance(4.9)
        self.assertIsNone(self.client.broken)
        self.clock.advance(0.2)
        self.assertIn("timeout waiting for the reply to DATA", str(self.client.broken))
        self.assertTrue(self.transport.disconnecting)

    def test_longWaitOnTime(self):
        """A long timeout (EOD) is reached on time, not a tick later."""
        self.send()
        self.client.dataReceived(b"354 go on\r\n")
        self.clock.advance(599.9)
        self.assertIsNone(self.client.broken)
        self.clock.advance(0.1)
        self.assertIn("timeout waiting for the reply to EOD", str(self.client.broken))

    def test_oneTimerPerConnection(self):
        """Messages one after another share one timer, which stops once the connection waits for nothing."""
        for _ in range(3):
            self.send()
            self.client.dataReceived(b"354 go on\r\n250 queued\r\n")
            self.assertLessEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(TIMEOUTS["QUIT"])
        self.assertEqual((self.clock.getDelayedCalls(), self.client.broken, self.client.transactions), ([], None, 3))
