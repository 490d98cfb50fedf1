"""
`twistd -n halon-smtpd` as a real process on the embedded default
configuration: it starts, takes mail from smtplib, says why it cannot
bind, and loses nothing that got a 250 when killed with SIGKILL in the
middle of a burst.
"""

import os
import re
import shutil
import smtplib
import tempfile
import threading

from twisted.internet import defer, protocol, reactor, threads
from twisted.trial import unittest

from halon.config import embedded
from tests.allinone.helpers import spawn_twistd, spooled
from tests.smtpd.helpers import MESSAGE

class TwistdTests(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="hsd")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.config = embedded.write_default(self.workdir)
        self.spool = os.path.join(self.workdir, "var", "spool", "halon", "queue")
        self.set_port(0)
        self.suspend_deliveries()

    def set_port(self, port):
        with open(self.config) as f:
            text = f.read()
        text = re.sub(r"port: \d+", "port: %d" % port, text)
        with open(self.config, "w") as f:
            f.write(text)

    def start(self):
        return spawn_twistd(self, ["halon-smtpd", "--config", self.config], self.workdir)

    def spooled(self):
        return spooled(self.spool)

    @defer.inlineCallbacks
    def test_starts_on_the_embedded_default_and_takes_mail(self):
        process = self.start()
        port = yield process.listening
        self.assertIn(b"Starting Halon (", process.output)
        self.assertIn(b"serverid: default", process.output)
        self.assertIn(b"- listen on 127.0.0.1:0", process.output)

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)
                return smtp.noop()

        yield threads.deferToThread(send)
        [message] = self.spooled().values()
        self.assertEqual(message.read_message(), MESSAGE)
        self.assertEqual(message.recipients[0]["recipient"], "b@example.org")
        self.assertEqual(os.stat(os.path.join(self.workdir, "var/run/halon/smtpd.ctl")).st_mode & 0o777, 0o660)
        process.transport.signalProcess("TERM")
        yield process.ended
        # twistd ends itself with the signal it got, after a clean stop.
        self.assertIn(b"Server Shut Down.", process.output)

    @defer.inlineCallbacks
    def test_cannot_bind(self):
        taken = reactor.listenTCP(0, protocol.ServerFactory(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        self.set_port(taken.getHost().port)
        process = self.start()
        process.listening.addErrback(lambda f: None)
        status = yield process.ended
        self.assertEqual(status, 1)
        self.assertIn(b"Could not load configuration: bind: Address already in use", process.output)

    @defer.inlineCallbacks
    def test_bad_configuration(self):
        with open(self.config, "a") as f:
            f.write("bogus: 1\n")
        process = self.start()
        process.listening.addErrback(lambda f: None)
        status = yield process.ended
        self.assertEqual(status, 1)
        self.assertIn(b"smtpd: Could not load configuration: ", process.output)
        self.assertIn(b"smtpd.yaml: bogus", process.output)

    def suspend_deliveries(self):
        """Keep every message in the spool: the queue would otherwise deliver (and remove) them."""
        path = os.path.join(os.path.dirname(self.config), "smtpd-suspend.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("suspends: []", "suspends:\n  - {}"))

    @defer.inlineCallbacks
    def test_kill_during_a_burst_loses_nothing_acknowledged(self):
        process = self.start()
        port = yield process.listening
        acknowledged = []
        lock = threading.Lock()
        stop = threading.Event()

        def sender(n):
            while not stop.is_set():
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                        smtp.ehlo()
                        while not stop.is_set():
                            smtp.mail("a@example.com")
                            smtp.rcpt("b%d@example.org" % n)
                            code, text = smtp.data(MESSAGE)
                            if code == 250:
                                with lock:
                                    acknowledged.append(text.split()[-1].decode())
                except (smtplib.SMTPException, OSError):
                    return

        def burst():
            workers = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
            for w in workers:
                w.start()
            return workers

        workers = yield threads.deferToThread(burst)
        # Kill once a good number of messages were acknowledged.
        while len(acknowledged) < 50 and any(w.is_alive() for w in workers):
            yield threads.deferToThread(workers[0].join, 0.02)
        self.assertGreaterEqual(len(acknowledged), 50)
        process.transport.signalProcess("KILL")
        yield process.ended
        stop.set()
        yield threads.deferToThread(lambda: [w.join() for w in workers])
        spooled = self.spooled()
        missing = [uuid for uuid in acknowledged if uuid not in spooled]
        self.assertEqual(missing, [])
        for uuid in acknowledged:
            self.assertEqual(spooled[uuid].read_message(), MESSAGE)
        # Files that never got their 250 may exist; temporary files never count.
        self.assertGreaterEqual(len(spooled), len(acknowledged))

    @defer.inlineCallbacks
    def test_privileges_dropped_after_binding(self):
        import pwd

        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            raise unittest.SkipTest("no user nobody")
        import grp

        group = grp.getgrgid(nobody.pw_gid).gr_name
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("  umask:", "  privdrop:\n    user: nobody\n    group: %s\n  umask:" % group))
        os.chmod(self.workdir, 0o755)
        process = self.start()
        port = yield process.listening

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

        yield threads.deferToThread(send)
        self.assertIn(b"privileges dropped to nobody:" + group.encode(), process.output)
        [message] = self.spooled().values()
        stat = os.stat(message.path)
        self.assertEqual((stat.st_uid, stat.st_mode & 0o777), (nobody.pw_uid, 0o440))
