"""
kill -9 under load, twenty times over, on `twistd -n halon`: every
message that got a 250 is in the spool afterwards, byte for byte, and the
restarted process loads all of them (none corrupt).
"""

import os
import random
import smtplib
import threading

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.trial import unittest

from tests.allinone.helpers import Workdir

KILLS = 20
SENDERS = 4

log = Logger()


class Load:
    """Sender threads on their own connections, recording each 250'd queue id with what was sent."""

    def __init__(self, port, start_number):
        self.port = port
        self.accepted = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.enough = threading.Event()
        self.wanted = 0
        self._number = start_number
        self.threads = [threading.Thread(target=self._send, daemon=True) for _ in range(SENDERS)]

    def run(self, wanted):
        self.wanted = wanted
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _next(self):
        with self.lock:
            self._number += 1
            return self._number

    def _send(self):
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
                smtp.ehlo()
                while not self.stop.is_set():
                    n = self._next()
                    body = b"Subject: load %d\r\n\r\n%s\r\n" % (n, b"x" * (n % 97 * 40))
                    if smtp.mail("load@example.com")[0] != 250 or smtp.rcpt("r%d@example.org" % n)[0] != 250:
                        raise AssertionError("the envelope was refused")
                    code, text = smtp.data(body)
                    if code == 250:
                        with self.lock:
                            self.accepted[text.split()[-1].decode()] = body
                            if len(self.accepted) >= self.wanted:
                                self.enough.set()
        except (smtplib.SMTPException, OSError):
            return  # the process was killed under us


class KillTests(unittest.TestCase):
    timeout = 240

    @defer.inlineCallbacks
    def test_killNineUnderLoadLosesNothing(self):
        work = Workdir(self)
        rng = random.Random(8)
        accepted = {}
        for cycle in range(KILLS):
            process = work.start()
            port = yield process.listening
            load = Load(port, cycle * 100000)
            load.run(rng.randint(1, 12))
            yield threads.deferToThread(load.enough.wait, 30)
            process.signal("KILL")
            yield process.ended
            yield threads.deferToThread(load.finish)
            self.assertTrue(load.accepted, "cycle %d: nothing was accepted before the kill" % cycle)
            accepted.update(load.accepted)
        spooled = work.spooled()
        missing = sorted(set(accepted) - set(spooled))
        log.info(
            "{kills} kills: {accepted} messages accepted with 250, {present} present, {missing} missing",
            kills=KILLS,
            accepted=len(accepted),
            present=len(set(accepted) & set(spooled)),
            missing=len(missing),
        )
        self.assertEqual(missing, [], "accepted %d, missing %d" % (len(accepted), len(missing)))
        for uuid, body in accepted.items():
            self.assertEqual(spooled[uuid].read_message(), body, uuid)

        process = work.start()
        loaded = yield process.expect(rb"(\d+) messages loaded")
        self.assertEqual(int(loaded.group(1)), len(spooled))
        corrupt = [n for _, _, files in os.walk(work.spool) for n in files if n.endswith(".corrupt")]
        self.assertEqual(corrupt, [])
