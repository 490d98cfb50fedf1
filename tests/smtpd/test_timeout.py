"""
A hook script that never ends (`forever {}`) is stopped by the running
configuration's scripting.timeout: the client gets the hook's
script-error reply at once, the script's thread is free again, and the
session goes on.  Real smtpd service, real smtplib clients.
"""

import os
import time

from twisted.internet import threads
from twisted.trial import unittest

from tests.smtpd.helpers import MESSAGE, until
from tests.smtpd.test_livestage import _BannerSMTP, app_yaml, port_of, start_smtpd

LIMIT = 0.2


class ScriptTimeoutTests(unittest.TestCase):
    def setUp(self):
        self.smtpd = start_smtpd(self, app_yaml("live"))
        self.port = port_of(self.smtpd)

    def reload(self, app):
        with open(os.path.join(self.smtpd.folder, "smtpd-app.yaml"), "w") as f:
            f.write(app)
        return self.smtpd.reload()

    def running(self, phase):
        return self.smtpd.stats.value("servers[0].scripts.%s.running" % (phase,))

    def timed(self, work):
        """C{work(smtp)} on a new smtplib connection in a thread: (result, seconds it took)."""

        def run():
            started = time.monotonic()
            with _BannerSMTP("127.0.0.1", self.port, timeout=10) as smtp:
                result = work(smtp)
            return result, time.monotonic() - started

        return threads.deferToThread(run)

    async def test_forever_in_rcpt_is_deferred_at_the_limit(self):
        self.assertEqual(self.reload(app_yaml("live", rcpt="forever {}", timeout=LIMIT)), [])

        def rcpt_then_noop(smtp):
            smtp.ehlo("client.test")
            smtp.mail("a@example.com")
            return smtp.rcpt("b@example.org"), smtp.noop()

        # More sessions than the first one's thread: each is stopped, none waits for another.
        for _ in range(3):
            (rcpt, noop), seconds = await self.timed(rcpt_then_noop)
            self.assertEqual(rcpt, (450, b"4.7.1 Recipient deferred, try again later"))
            self.assertEqual(noop[0], 250)
            self.assertLess(seconds, LIMIT + 5)
        await until(lambda: self.running("rcptto") == 0)
        self.assertEqual(self.smtpd.stats.value("servers[0].scripts.rcptto.finished"), 3)

    async def test_forever_in_eod_is_deferred_and_nothing_is_queued(self):
        self.assertEqual(self.reload(app_yaml("live", eod="forever {}", timeout=LIMIT)), [])

        def send(smtp):
            smtp.ehlo("client.test")
            smtp.mail("a@example.com")
            smtp.rcpt("b@example.org")
            return smtp.data(MESSAGE)

        reply, seconds = await self.timed(send)
        self.assertEqual(reply, (421, b"4.7.1 Message deferred, try again later"))
        self.assertLess(seconds, LIMIT + 5)
        self.assertEqual(self.smtpd.sink.messages, [])
        await until(lambda: self.running("eod") == 0)

    def test_the_limit_is_checked(self):
        problems = self.reload(app_yaml("live", timeout="-1"))
        self.assertTrue(problems)
        self.assertIn("scripting.timeout", str(problems[0]))
        self.assertEqual(self.smtpd.app.config["scripting"]["timeout"], 30)
