"""What the control tests share: short socket folders, a ControlService on the trial reactor, and halonctl as a real process."""

import os
import shutil
import sys
import tempfile

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol

from halon.control.service import ControlService

HALONCTL = os.path.join(os.path.dirname(sys.executable), "halonctl")


def short_tempdir(testcase):
    """A temp folder short enough for Unix socket paths (108 bytes), removed after the test."""
    path = tempfile.mkdtemp(prefix="hct")
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def serve(testcase, handlers, path=None, **kwargs):
    """A started L{ControlService} answering with C{handlers}, stopped after the test."""
    if path is None:
        path = os.path.join(short_tempdir(testcase), "smtpd.ctl")
    control = ControlService(reactor, path, handlers, **kwargs)
    control.startService()
    testcase.addCleanup(control.stopService)
    return control


def clean_environ(**extra):
    """os.environ without the variables that point halonctl at a socket."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALON_")}
    env.update(extra)
    return env


async def halonctl(*args, env=None, cwd=None, user=None, wrapper=()):
    """
    Run .venv/bin/halonctl as a process: (stdout, stderr, exit status), text.
    C{user}: (uid, gid) to run it as, which needs root; C{wrapper}: a
    command line that runs it (setpriv ...).
    """
    argv = list(wrapper) + [HALONCTL] + [str(a) for a in args]
    collect = _Collect()
    reactor.spawnProcess(
        collect, argv[0], argv, env=env or clean_environ(), path=cwd,
        uid=None if user is None else user[0], gid=None if user is None else user[1],
    )  # fmt: skip
    out, err, code = await collect.done
    return out.decode("utf-8"), err.decode("utf-8"), code


class _Collect(ProcessProtocol):
    def __init__(self):
        self.done = Deferred()
        self._out, self._err = [], []

    def outReceived(self, data):
        self._out.append(data)

    def errReceived(self, data):
        self._err.append(data)

    def processEnded(self, reason):
        self.done.callback((b"".join(self._out), b"".join(self._err), reason.value.exitCode))


class Answers:
    """
    Handlers that record each request and answer with what the test set:
    a message, a callable of the request, or an exception to raise.  They
    stand in for the queue and the other services behind a daemon's
    control socket; the control plane and halonctl under test are real.
    """

    def __init__(self):
        self.requests = {}
        self.answers = {}

    def handlers(self, *names):
        return {name: self._handler(name) for name in names}

    def _handler(self, name):
        def handle(request):
            self.requests.setdefault(name, []).append(request)
            answer = self.answers[name]
            if isinstance(answer, Exception):
                raise answer
            return answer(request) if callable(answer) else answer

        return handle

    def last(self, name):
        return self.requests[name][-1]
