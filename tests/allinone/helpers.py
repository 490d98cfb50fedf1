"""
`twistd -n halon` as a real process in a temporary work folder, on the
embedded default with the SMTP port (and anything else a test needs)
changed in the files before the start, since the default keeps files
that exist.
"""

import os
import re
import shutil
import sys
import tempfile

import yaml
from twisted.internet import defer, protocol, reactor
from twisted.internet.error import ProcessExitedAlready

from halon.config import embedded
from halon.queue.spool import SUFFIX, read

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: test\r\n\r\nHello.\r\n"

_LISTENING = re.compile(rb"- listening on 127\.0\.0\.1:(\d+)")


class Process(protocol.ProcessProtocol):
    """One twistd process: its output, the SMTP port once it listens, and its end."""

    def __init__(self):
        self.output = b""
        self.listening = defer.Deferred()
        self.ended = defer.Deferred()
        self.status = None
        self.transport = None
        self._expected = []

    def expect(self, pattern, timeout=30):
        """A Deferred firing with the match once the output matches C{pattern} (bytes regex)."""
        d = defer.Deferred()
        self._expected.append((re.compile(pattern), d))
        self._check()
        return d.addTimeout(timeout, reactor)

    def outReceived(self, data):
        self.output += data
        match = _LISTENING.search(self.output)
        if match and not self.listening.called:
            self.listening.callback(int(match.group(1)))
        self._check()

    def _check(self):
        for pattern, d in list(self._expected):
            match = pattern.search(self.output)
            if match or d.called:  # called: it timed out
                self._expected.remove((pattern, d))
                if not d.called:
                    d.callback(match)

    errReceived = outReceived

    def processEnded(self, reason):
        self.status = reason.value.exitCode
        self.signalled = reason.value.signal
        if not self.listening.called:
            self.listening.errback(RuntimeError("twistd ended before listening:\n" + self.output.decode("utf-8", "replace")))
        for _, d in self._expected:
            if not d.called:
                d.errback(RuntimeError("twistd ended first:\n" + self.output.decode("utf-8", "replace")))
        self._expected = []
        self.ended.callback(self.status)

    def signal(self, name):
        if not self.ended.called:
            try:
                self.transport.signalProcess(name)
            except (OSError, ProcessExitedAlready):
                pass


class Workdir:
    """A work folder with the embedded default written, short enough for Unix socket paths."""

    def __init__(self, testcase):
        self.path = tempfile.mkdtemp(prefix="hao")
        testcase.addCleanup(shutil.rmtree, self.path, True)
        self._testcase = testcase
        umask = os.umask(0o027)
        try:
            embedded.write_default(self.path)
        finally:
            os.umask(umask)
        self.etc = os.path.join(self.path, "etc", "halon")
        self.spool = os.path.join(self.path, "var", "spool", "halon", "queue")
        self.run = os.path.join(self.path, "var", "run", "halon")
        self.edit("smtpd", lambda c: c["servers"][0]["listeners"][0].update(port=0))
        # Nothing leaves the queue during a test: what was accepted stays countable.
        self.edit("smtpd-suspend", lambda c: c.update(suspends=[{}]))

    def edit(self, kind, change):
        path = os.path.join(self.etc, kind + ".yaml")
        with open(path) as f:
            conf = yaml.safe_load(f)
        change(conf)
        with open(path, "w") as f:
            yaml.safe_dump(conf, f, sort_keys=False)

    def start(self, *extra):
        """Spawn `twistd -n halon` here; killed at the end of the test if still running."""
        return spawn_twistd(self._testcase, [*extra, "halon", "--workdir", self.path], self.path)

    def spooled(self):
        return spooled(self.spool)


def spawn_twistd(testcase, args, path):
    """`twistd -n --pidfile= <args>` in C{path}; killed at the end of C{testcase} if still running."""
    process = Process()
    process.transport = reactor.spawnProcess(
        process,
        TWISTD,
        [TWISTD, "-n", "--pidfile=", *args],
        env=dict(os.environ, PYTHONPATH=ROOT),
        path=path,
    )

    def stop():
        process.signal("KILL")
        return process.ended

    testcase.addCleanup(stop)
    return process


def spooled(spool):
    """uuid -> SpoolMessage of every committed file in the spool folder C{spool}."""
    found = {}
    for folder, _dirs, files in os.walk(spool):
        for name in files:
            if name.endswith(SUFFIX):
                message = read(os.path.join(folder, name))
                found[message.uuid] = message
    return found
