"""
smtpd's SMTP worker processes (C{environment.workers}) through the real
entry points: `twistd -n halon-smtpd` with two workers, smtplib clients,
halonctl over the control socket, and signals.  A worker serves
connections on its own (shown by stopping the main process with SIGSTOP:
clients still get their 250, and the main process queues the messages
once it runs again); a worker killed with SIGKILL is started again and
nothing it acknowledged is lost; a reload reaches the workers; stopping
smtpd stops them.
"""

import contextlib
import os
import re
import shutil
import signal
import smtplib
import socket
import tempfile

from twisted.internet import defer, reactor, task, threads
from twisted.trial import unittest

from tests.allinone.helpers import MESSAGE, Workdir, spawn_twistd, spooled
from tests.control.helpers import halonctl

_STARTED = re.compile(rb"worker (\d+) started \(pid (\d+)\)")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class WorkersTests(unittest.TestCase):
    def setUp(self):
        # The embedded default on port 0 with every delivery suspended, and two workers.
        work = Workdir(self)
        work.edit("smtpd", lambda c: c["environment"].update(workers=2))
        self.config = os.path.join(work.etc, "smtpd.yaml")
        self.app = os.path.join(work.etc, "smtpd-app.yaml")
        self.spool = work.spool
        self.socket = os.path.join(work.run, "smtpd.ctl")
        self.workdir = work.path

    @defer.inlineCallbacks
    def start(self):
        self.process = spawn_twistd(self, ["halon-smtpd", "--config", self.config], self.workdir)
        port = yield self.process.listening
        self.addCleanup(self.kill_workers)
        yield self.process.expect(rb"worker 1 serving")
        yield self.process.expect(rb"worker 2 serving")
        return port

    def workers(self):
        """worker number -> pid, the newest start of each."""
        return {int(n): int(pid) for n, pid in _STARTED.findall(self.process.output)}

    def kill_workers(self):
        for pid in self.workers().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stats(self):
        d = defer.Deferred.fromCoroutine(halonctl("process-stats", "--socket", self.socket))

        def parse(result):
            out, err, code = result
            self.assertEqual(code, 0, err)
            return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)

        return d.addCallback(parse)

    @defer.inlineCallbacks
    def wait_for(self, condition, timeout=30):
        for _ in range(int(timeout / 0.05)):
            if (yield defer.maybeDeferred(condition)):
                return
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail("timed out waiting")

    @defer.inlineCallbacks
    def queued(self):
        stats = yield self.stats()
        return int(stats.get("queue.loader.count", -1))

    @contextlib.contextmanager
    def main_stopped(self):
        """The main process stopped (SIGSTOP) for the block, so that only the workers can answer."""
        self.process.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.signal(signal.SIGCONT)

    def send(self, port, count, rcpt=b"b@example.org", replies=None):
        """C{count} messages over as many connections; the queue ids smtplib was given (RCPT's replies to C{replies})."""

        def one():
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
                smtp.ehlo()
                smtp.mail("a@example.com")
                code, text = smtp.rcpt(rcpt.decode())
                if replies is not None:
                    replies.append(text)
                if code != 250:
                    return (code, text)
                code, text = smtp.data(MESSAGE)
                return (code, text.split()[-1].decode() if code == 250 else text)

        return threads.deferToThread(lambda: [one() for _ in range(count)])

    @defer.inlineCallbacks
    def test_workers_serve_connections_and_the_main_process_queues_them(self):
        port = yield self.start()
        self.assertEqual(sorted(self.workers()), [1, 2])
        stats = yield self.stats()
        self.assertEqual(stats["process.workers"], "2")
        # The main process stopped: only the workers can answer.
        with self.main_stopped():
            results = yield self.send(port, 6)
        self.assertEqual([code for code, _ in results], [250] * 6)
        ids = [uuid for _, uuid in results]
        self.assertEqual(sorted(ids), sorted(set(spooled(self.spool)) & set(ids)))
        yield self.wait_for(lambda: self.queued().addCallback(lambda n: n == 6))
        self.assertEqual(len(re.findall(rb"received from <a@example.com>", self.process.output)), 6)
        # Counters reach the main process every second.
        yield self.wait_for(lambda: self.stats().addCallback(lambda s: s.get("servers[0].scripts.eod.finished") == "6"))

    @defer.inlineCallbacks
    def test_a_killed_worker_is_started_again_and_loses_nothing(self):
        port = yield self.start()
        first = self.workers()
        with self.main_stopped():
            results = yield self.send(port, 4)
            for pid in first.values():
                os.kill(pid, signal.SIGKILL)
        self.assertEqual([code for code, _ in results], [250] * 4)
        yield self.process.expect(rb"worker 1 ended")
        yield self.wait_for(lambda: len(re.findall(rb"worker \d serving", self.process.output)) == 4)
        self.assertTrue(set(self.workers().values()).isdisjoint(first.values()))
        yield self.wait_for(lambda: self.queued().addCallback(lambda n: n == 4))
        results = yield self.send(port, 3)
        self.assertEqual([code for code, _ in results], [250] * 3)
        yield self.wait_for(lambda: self.queued().addCallback(lambda n: n == 7))

    @defer.inlineCallbacks
    def test_a_reload_reaches_the_workers(self):
        port = yield self.start()
        with open(self.app) as f:
            text = f.read()
        with open(self.app, "w") as f:
            f.write(text.replace("$localdomains = [\"localhost\"];", '$localdomains = ["localhost"]; Reject("closed");'))
        out, err, code = yield defer.Deferred.fromCoroutine(halonctl("config", "reload", "--socket", self.socket))
        self.assertEqual(code, 0, out + err)
        yield task.deferLater(reactor, 0.5, lambda: None)
        with self.main_stopped():
            results = yield self.send(port, 3)
        self.assertEqual([code for code, _ in results], [554] * 3)

    @defer.inlineCallbacks
    def test_a_workers_script_reaches_the_queue_of_the_main_process(self):
        with open(self.app) as f:
            text = f.read()
        hook = '$s = queue_suspend(["recipientdomain" => "held.test"], 60); Accept(["reason" => "suspended " . $s["id"]]);'
        with open(self.app, "w") as f:
            f.write(text.replace('$localdomains = ["localhost"];', hook))
        port = yield self.start()
        # Accepted while the main process is stopped, so by workers, whose
        # scripts wait for the main process's answer.
        replies = []
        with self.main_stopped():
            d = self.send(port, 2, replies=replies)
            yield task.deferLater(reactor, 1.0, lambda: None)
        results = yield d
        self.assertEqual([code for code, _ in results], [250, 250])
        # The second call updates the suspension the first one made.
        self.assertEqual(replies, [b"2.1.5 suspended 2"] * 2)
        out, err, code = yield defer.Deferred.fromCoroutine(halonctl("queue", "suspend", "list", "--socket", self.socket))
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"2 +. dynamic .* held\.test")

    @defer.inlineCallbacks
    def test_stopping_smtpd_stops_its_workers(self):
        yield self.start()
        pids = list(self.workers().values())
        self.process.signal("TERM")
        yield self.process.ended
        yield self.wait_for(lambda: not any(_alive(pid) for pid in pids))

    @defer.inlineCallbacks
    def test_workers_stop_when_the_main_process_is_killed(self):
        port = yield self.start()
        pids = list(self.workers().values())
        self.process.signal("KILL")
        yield self.process.ended
        yield self.wait_for(lambda: not any(_alive(pid) for pid in pids))
        # Nothing listens any more: the port can be bound again at once.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


class RestartDelayTests(unittest.TestCase):
    """A worker dying right after its start is restarted later each time; one that served a while, soon."""

    def setUp(self):
        from types import SimpleNamespace

        from twisted.python.failure import Failure

        from halon.smtpd.workers import Workers, _Worker
        from halon.stats import Stats

        self.clock = task.Clock()
        smtpd = SimpleNamespace(spool=SimpleNamespace(path=tempfile.mkdtemp(prefix="hwr")), ports=[])
        self.addCleanup(shutil.rmtree, smtpd.spool.path, True)
        self.pool = Workers(self.clock, smtpd, "smtpd.yaml", 1, lambda uuid: False, Stats())
        self.pool.running = True
        self.spawned = []
        self.pool._spawn = lambda n: self.spawned.append((n, self.clock.seconds()))
        self.worker = lambda: _Worker(self.pool, 1)
        self.reason = Failure(RuntimeError("exit 1"))

    def die(self, after):
        worker = self.worker()
        self.pool.workers[1] = worker
        self.clock.advance(after)
        died = self.clock.seconds()
        self.pool.ended(worker, self.reason)
        [call] = self.clock.getDelayedCalls()
        self.clock.advance(call.getTime() - died)
        self.assertEqual(self.spawned[-1], (1, call.getTime()))
        return round(call.getTime() - died, 6)

    def test_delays(self):
        self.assertEqual([self.die(0.1) for _ in range(8)], [1, 2, 4, 8, 16, 32, 60, 60])
        self.assertEqual(self.die(31), 1)
        self.assertEqual(self.die(0.1), 2)
