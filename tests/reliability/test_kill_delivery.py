"""
kill -9 during delivery, on `twistd -n halon` relaying to a receiving SMTP
server on loopback: after the restart every accepted message reaches the
receiver, the spool empties, and the only repeats are messages that were
being delivered at the kill (the receiver took them, the "done" line was
not written yet).  How many were repeated is logged.
"""

import os
import smtplib

from twisted.internet import defer, reactor, task, threads
from twisted.logger import Logger
from twisted.trial import unittest

from tests.allinone.helpers import Workdir
from tests.queue.smtpserver import SMTPServer

MESSAGES = 150
SENDERS = 3

log = Logger()


def _number(data):
    for line in data.split(b"\r\n"):
        if line.startswith(b"Subject: n="):
            return int(line[len(b"Subject: n=") :])
    return None


class KillDuringDeliveryTests(unittest.TestCase):
    timeout = 180

    def setUp(self):
        self.sink = SMTPServer(reactor)
        sink_port = self.sink.start()
        self.addCleanup(self.sink.stop)
        self.work = Workdir(self)
        self.work.edit("smtpd-suspend", lambda c: c.update(suspends=[]))

        def to_sink(app):
            transport = app["transportgroups"][0]["transports"][0]
            transport["connection"] = {"server": "127.0.0.1", "port": sink_port}
            transport["session"] = {"tls": {"mode": "disabled"}}

        self.work.edit("smtpd-app", to_sink)
        self.acknowledged = set()

    def numbers(self):
        return [_number(r.data) for r in self.sink.messages]

    @defer.inlineCallbacks
    def wait_for(self, condition, timeout=60):
        for _ in range(int(timeout / 0.05)):
            if condition():
                return
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail("timed out; the receiver has %d of %d messages" % (len(set(self.numbers())), MESSAGES))

    def send(self, port, numbers):
        """C{numbers} over SENDERS connections; each one that gets its 250 is noted in C{acknowledged}."""

        def sender(mine):
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
                    for n in mine:
                        body = b"Subject: n=%d\r\n\r\n%s\r\n" % (n, b"y" * 2000)
                        smtp.sendmail("a@example.com", ["r%d@example.org" % n], body)
                        self.acknowledged.add(n)
            except (smtplib.SMTPException, OSError):
                return  # the server was killed under us

        return defer.gatherResults([threads.deferToThread(sender, numbers[i::SENDERS]) for i in range(SENDERS)])

    @defer.inlineCallbacks
    def test_kill_during_delivery_loses_nothing(self):
        process = self.work.start()
        port = yield process.listening
        sending = self.send(port, list(range(MESSAGES)))
        yield self.wait_for(lambda: len(self.sink.messages) >= MESSAGES // 4)
        process.signal("KILL")
        yield process.ended
        yield sending
        delivered_before = len(self.sink.messages)
        process = self.work.start()
        port = yield process.listening
        # What never got its 250 is sent again, as a client would; what got one must arrive by itself.
        yield self.send(port, [n for n in range(MESSAGES) if n not in self.acknowledged])
        yield self.wait_for(lambda: set(self.numbers()) >= set(range(MESSAGES)))
        yield self.wait_for(lambda: not self.work.spooled())
        numbers = self.numbers()
        repeats = len(numbers) - len(set(numbers))
        log.info(
            "kill -9 during delivery: {before} delivered before the kill, {total} deliveries for {messages} messages, "
            "{repeats} repeated",
            before=delivered_before,
            total=len(numbers),
            messages=MESSAGES,
            repeats=repeats,
        )
        # Only what was in flight at the kill (or spooled without its 250 reaching the client) comes twice.
        self.assertLessEqual(repeats, 30)
        corrupt = [n for _, _, files in os.walk(self.work.spool) for n in files if n.endswith(".corrupt")]
        self.assertEqual(corrupt, [])
