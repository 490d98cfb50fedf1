"""
End to end: a message sent to the SMTP server (the embedded default
configuration, its HSL hooks included) is spooled, handed to the queue,
and delivered by MX to a receiving server; halonctl sees the queue on the
server's control socket.
"""

import os
import re
import shutil
import smtplib
import sys
import tempfile

from twisted.internet import reactor, task, threads, utils
from twisted.trial import unittest

from halon.config import embedded
from halon.smtpd import tap
from halon.stats import Stats

from tests.queue.smtpserver import SMTPServer
from tests.util.dnsserver import DNSServer

HALONCTL = os.path.join(os.path.dirname(sys.executable), "halonctl")
MESSAGE = b"From: a@example.net\r\nSubject: end to end\r\n\r\nhello\r\n"


async def until(predicate, seconds=10.0):
    """Wait (on the reactor, polling every 10 ms) for the other side of a socket to get somewhere."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("condition not reached in %s seconds" % (seconds,))


class EndToEndTests(unittest.TestCase):
    def setUp(self):
        self.smtp = SMTPServer(reactor)
        port = self.smtp.start()
        self.addCleanup(self.smtp.stop)
        dns = DNSServer(reactor, {("dest.example", "mx"): [(10, "mx.dest.example")],
                                  ("mx.dest.example", "a"): ["127.0.0.1"]})
        dns_port = dns.start()
        self.addCleanup(dns.stop)
        self.workdir = tempfile.mkdtemp(prefix="hqd")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.config = embedded.write_default(self.workdir)
        with open(self.config) as f:
            text = f.read()
        text = re.sub(r"port: 2525", "port: 0", text)
        with open(self.config, "w") as f:
            f.write(text)
        app_path = os.path.join(self.workdir, "etc", "halon", "smtpd-app.yaml")
        with open(app_path) as f:
            text = f.read()
        text = text.replace("        session:\n          tls:\n            mode: optional\n",
                            "        connection:\n          port: %d\n        session:\n          tls:\n"
                            "            mode: disabled\n" % (port,))
        text = text.replace("resolver:\n", "resolver:\n  servers: [\"127.0.0.1:%d\"]\n" % (dns_port,))
        with open(app_path, "w") as f:
            f.write(text)

    def start(self):
        startup, load_app = tap.load(self.config)
        stats = Stats()
        smtpd = tap.build(reactor, startup, load_app, stats)
        self.queue = smtpd.getServiceNamed("queue")
        self.smtpd = smtpd
        smtpd.privilegedStartService()
        smtpd.startService()
        self.addCleanup(smtpd.stopService)
        self.socket = startup["environment"]["controlsocket"]["path"]
        return smtpd.ports[0].getHost().port

    async def test_receivedSpooledDelivered(self):
        """smtplib -> smtpd (HSL hooks) -> spool -> queue -> MX lookup -> receiving server; the spool empties."""
        port = self.start()
        received = self.smtp.received()

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                return client.sendmail("a@example.net", ["b@dest.example"], MESSAGE)

        self.assertEqual(await threads.deferToThread(send), {})
        await received
        (message,) = self.smtp.messages
        self.assertEqual((message.sender, message.recipients), ("a@example.net", ["b@dest.example"]))
        self.assertTrue(message.data.endswith(MESSAGE))
        await self.queue.when_idle()
        self.assertEqual(len(self.queue.index), 0)

    async def test_reloadBringsDeliveryScripts(self):
        """A reloaded smtpd-app.yaml with a pre-delivery hook holds the next message; the one before went out."""
        port = self.start()

        def send(recipient):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                return client.sendmail("a@example.net", [recipient], MESSAGE)

        received = self.smtp.received()
        await threads.deferToThread(send, "before@dest.example")
        await received
        app_path = os.path.join(self.workdir, "etc", "halon", "smtpd-app.yaml")
        with open(app_path) as f:
            text = f.read()
        with open(app_path, "w") as f:
            f.write(text.replace("scripting:\n  hooks:\n",
                                 "scripting:\n  hooks:\n    predelivery: |\n      Queue([\"hold\" => true]);\n"))
        self.assertEqual(self.smtpd.reload(), [])
        await threads.deferToThread(send, "after@dest.example")
        await until(lambda: self.queue.stats.value("queue.freeze.hold.size") == 1)
        self.assertEqual([m.recipients for m in self.smtp.messages], [["before@dest.example"]])
        (rcpt,) = self.queue.index.recipients()
        self.assertEqual(rcpt.address, "after@dest.example")

    async def test_halonctlOnTheServersSocket(self):
        """A held recipient shows in halonctl queue list on smtpd's own control socket."""
        self.smtp.replies["RCPT b@dest.example"] = b"451 4.3.0 later"
        port = self.start()

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                return client.sendmail("a@example.net", ["b@dest.example"], MESSAGE)

        await threads.deferToThread(send)
        await until(lambda: self.queue.stats.value("queue.queue.defer.size") == 1)
        out, err, code = await utils.getProcessOutputAndValue(
            HALONCTL, ["queue", "list", "-F", "recipient", "-F", "state", "-F", "retrycount", "--socket", self.socket],
            env=dict(os.environ), reactor=reactor)
        self.assertEqual(code, 0, err)
        self.assertIn("b@dest.example", out.decode())
        self.assertIn("DEFER", out.decode())
