"""
Hot reload under load: 50 smtplib sessions send mail without pause while
the running configuration is reloaded again and again (in the process, as
SIGHUP does, and through the real `halonctl config reload`).  No session
is dropped, every reply is a success, every message is in the queue, and
each connection is answered by one configuration from start to end.
"""

import os
import threading

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from tests.control.helpers import halonctl
from tests.smtpd.helpers import MESSAGE
from tests.smtpd.test_livestage import _BannerSMTP, app_yaml, port_of, start_smtpd

SESSIONS = 50
CONNECTIONS = 2  # per session thread, one after the other
MESSAGES = 3  # per connection
RELOAD_EVERY = 0.02


class _Load:
    """The client threads: their replies, any exception, and when the last one ends."""

    def __init__(self, port):
        self.port = port
        self.replies = []  # (connection number, command, code, text)
        self.errors = []
        self.active = 0
        self.lock = threading.Lock()
        self.done = defer.Deferred()
        self._left = SESSIONS
        self._start = threading.Barrier(SESSIONS)

    def run(self):
        for number in range(SESSIONS):
            threading.Thread(target=self._session, args=(number,), daemon=True).start()
        return self.done

    def _session(self, number):
        try:
            self._start.wait(30)
            for connection in range(CONNECTIONS):
                self._connection("%d.%d" % (number, connection))
        except Exception as e:
            with self.lock:
                self.errors.append("%s: %r" % (number, e))
        finally:
            with self.lock:
                self._left -= 1
                last = self._left == 0
            if last:
                reactor.callFromThread(self.done.callback, None)

    def _connection(self, name):
        smtp = _BannerSMTP("127.0.0.1", self.port, timeout=20)
        with self.lock:
            self.active += 1
        try:
            replies = [("banner", smtp.connect_banner)]
            code, text = smtp.ehlo("client.test")
            replies.append(("EHLO", "%d" % code))
            for _ in range(MESSAGES):
                for command, (code, text) in (
                    ("MAIL", smtp.mail("a@example.com")),
                    ("RCPT", smtp.rcpt("b@example.org")),
                    ("DATA", smtp.data(MESSAGE)),
                ):
                    replies.append((command, "%d %s" % (code, text.decode())))
            code, text = smtp.quit()
            replies.append(("QUIT", "%d" % code))
        finally:
            smtp.close()
            with self.lock:
                self.active -= 1
        with self.lock:
            self.replies.extend((name, command, text) for command, text in replies)


class ReloadUnderLoadTests(unittest.TestCase):
    timeout = 120

    def setUp(self):
        self.smtpd = start_smtpd(self, app_yaml("gen0"))
        self.app_path = os.path.join(self.smtpd.folder, "smtpd-app.yaml")
        self.socket = os.path.join(self.smtpd.folder, "smtpd.ctl")
        self.generation = 0
        self.reloads_under_load = 0
        self.problems = []

    def reload(self, load):
        self.generation += 1
        with open(self.app_path, "w") as f:
            f.write(app_yaml("gen%d" % (self.generation,)))
        self.problems += self.smtpd.reload()
        if load.active:
            self.reloads_under_load += 1

    async def test_reloads_drop_nothing_and_answer_no_error(self):
        load = _Load(port_of(self.smtpd))
        reloading = task.LoopingCall(self.reload, load)
        reloading.start(RELOAD_EVERY)
        finished = load.run()
        try:
            while not finished.called:
                self.assertEqual(await halonctl("config", "reload", "--socket", self.socket), ("", "", 0))
        finally:
            await finished
            reloading.stop()

        self.assertEqual(load.errors, [])
        self.assertEqual(self.problems, [])
        self.assertGreaterEqual(self.reloads_under_load, 10)
        by_connection = {}
        for name, command, text in load.replies:
            by_connection.setdefault(name, []).append((command, text))
        self.assertEqual(len(by_connection), SESSIONS * CONNECTIONS)
        generations = set()
        for name, replies in by_connection.items():
            [banner] = [text for command, text in replies if command == "banner"]
            self.assertRegex(banner, r"^220 mx\.test ESMTP gen\d+$")
            generation = banner.rsplit(" ", 1)[1]
            generations.add(generation)
            for command, text in replies:
                if command == "RCPT":
                    self.assertEqual(text, "250 2.1.5 %s config" % (generation,), name)
                elif command == "DATA":
                    self.assertEqual(text, "250 2.0.0 queued by %s" % (generation,), name)
                elif command != "banner":
                    self.assertEqual(text[:3], {"QUIT": "221"}.get(command, "250"), (name, command, text))
        self.assertGreater(len(generations), 1)
        self.assertEqual(len(self.smtpd.sink.messages), SESSIONS * CONNECTIONS * MESSAGES)
        for message in self.smtpd.sink.messages:
            self.assertTrue(os.path.exists(message.path))
