"""
`twistd halon`: every daemon in one process, on the embedded default.

    twistd -n halon [--workdir .]

On first start the default configuration is written under
C{./etc/halon/} (existing files are kept) and state goes under C{./var/}
(spool, sockets, the control socket C{./var/run/halon/smtpd.ctl}).

Every file is checked before anything starts: a problem in any of them
stops the start with every problem listed and exit status 1.  The process
takes smtpd.yaml's C{environment.umask} before the first file or socket
is made, so every daemon's files get it; its C{environment.logging} and
C{environment.metrics} serve the whole process.

SIGHUP reopens the log files (after logrotate moved them) and reloads
every daemon's running configuration, each checked first and kept as it
is when it has problems (L{Hangup}).

Each daemon is one entry of L{DAEMONS}: a name and a function
C{(reactor, paths, stats) -> IService}, where C{paths} maps each
configuration kind ("smtpd", "rated-app", ...) to its file.  Adding a
daemon to the all-in-one process is adding an entry.
"""

import os
import signal
import sys

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python import usage

import halon


class Options(usage.Options):
    optParameters = [
        ["workdir", "w", ".", "Folder holding etc/halon (written when missing) and var/."],
    ]


def _smtpd(reactor, paths, stats):
    from halon.smtpd import tap

    startup, load_app = tap.load(paths["smtpd"])
    return tap.build(reactor, startup, load_app, stats, config_path=paths["smtpd"])


def _rated(reactor, paths, stats):
    from halon.config import load_running, load_startup
    from halon.rated import tap

    startup = load_startup("rated", paths["rated"])
    appconf = startup["environment"]["appconf"]

    def load_app():
        return load_running("rated-app", appconf, missing_ok=True)

    return tap.build(reactor, startup, load_app(), stats, load_app)


def _httprd(reactor, paths, stats):
    from halon.config import load_startup
    from halon.httprd import tap

    return tap.build(reactor, load_startup("httprd", paths["httprd"]), stats)


def _dlpd(reactor, paths, stats):
    from halon.config import load_running, load_startup
    from halon.dlpd import tap

    startup = load_startup("dlpd", paths["dlpd"])
    appconf = startup["environment"]["appconf"]

    def load_app():
        return load_running("dlpd-app", appconf, missing_ok=True)

    return tap.build(reactor, startup, load_app(), stats, load_app)


# Daemons in start order; the helpers start before the SMTP server uses them.
DAEMONS = [
    ("rated", _rated),
    ("httprd", _httprd),
    ("dlpd", _dlpd),
    ("smtpd", _smtpd),
]


QUEUE_FILES = ("policy", "suspend", "delivery")


class Hangup(service.Service):
    """
    SIGHUP for the whole process.  A daemon takes part by having
    C{reload()} (which raises, fails its Deferred or returns a list of
    problems when it refuses); smtpd's queue by C{reload_file(kind)} for
    its policy, suspend and delivery files.
    """

    name = "hangup"
    _log = Logger()

    def __init__(self, reactor, top, logging):
        self._reactor = reactor
        self._top = top
        self._logging = logging
        self._previous = None

    def privilegedStartService(self):
        """Before any daemon starts, so a SIGHUP never finds the default action (exit) in place."""
        self._install()
        service.Service.privilegedStartService(self)

    def startService(self):
        self._install()
        service.Service.startService(self)

    def _install(self):
        if self._previous is None:
            self._previous = signal.signal(signal.SIGHUP, self._received)

    def stopService(self):
        service.Service.stopService(self)
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None

    def _received(self, signum, frame):
        self._reactor.callFromThread(self.hangup)

    @defer.inlineCallbacks
    def hangup(self):
        """Reopen logs, reload everything; {what: None or the reason it was refused}."""
        self._log.info("SIGHUP: reopening log files and reloading configurations")
        self._logging.reopen()
        results = {}
        for child in self._top:
            if hasattr(child, "reload"):
                results[child.name] = yield _attempt(child.reload)
            queue = getattr(child, "sink", None)
            if hasattr(queue, "reload_file"):
                for kind in QUEUE_FILES:
                    results["%s-%s" % (child.name, kind)] = yield _attempt(queue.reload_file, kind)
        for what, problem in results.items():
            if problem is None:
                self._log.info("reload {what}: done", what=what)
            else:
                self._log.error("reload {what}: refused, running configuration kept: {problem}", what=what, problem=problem)
        return results


@defer.inlineCallbacks
def _attempt(reload, *args):
    try:
        outcome = yield defer.maybeDeferred(reload, *args)
    except Exception as e:
        return str(e) or type(e).__name__
    if isinstance(outcome, list) and outcome:
        return "\n".join(str(p) for p in outcome)
    return None


def fail(message, out=None):
    """Say why the configuration cannot be used, as smtpd does, and stop with status 1."""
    out = out or sys.stderr
    out.write("halon: Starting Halon (%s)\n" % (halon.__version__,))
    for line in str(message).splitlines() or [""]:
        out.write("halon: Could not load configuration: %s\n" % (line,))
    out.flush()
    raise SystemExit(1)


def operations(reactor, environment, stats):
    """
    The process-wide services smtpd.yaml's environment asks for: log
    destinations and the metrics endpoint (with the scripts' declared
    metrics).  Raises ValueError for a setting that cannot be used.
    """
    from halon.logs import LoggingService
    from halon.metrics import configure
    from halon.metrics.http import metrics_service

    out = [LoggingService(environment.get("logging", {}))]
    conf = environment.get("metrics", {})
    scripts = configure(stats, conf)
    endpoint = metrics_service(reactor, stats, scripts, conf)
    if endpoint is not None:
        out.append(endpoint)
    return out


def build(reactor, workdir, stats, daemons=None):
    """A MultiService of every daemon, on the configuration under C{workdir}."""
    from halon.config import ConfigError, embedded, load_startup

    os.umask(0o027)
    embedded.write_default(workdir)
    paths = embedded.default_paths(workdir)
    try:
        environment = load_startup("smtpd", paths["smtpd"])["environment"]
        umask = environment["umask"]
        os.umask(umask if isinstance(umask, int) else int(umask, 8))
        top = service.MultiService()
        logging, *others = operations(reactor, environment, stats)
        for child in [logging] + others:
            child.setServiceParent(top)
        for name, make in daemons or DAEMONS:
            child = make(reactor, paths, stats)
            if child.name is None:
                child.setName(name)
            child.setServiceParent(top)
        Hangup(reactor, top, logging).setServiceParent(top)
    except (ConfigError, ValueError) as e:
        fail(e)
    return top


def makeService(options):
    from twisted.internet import reactor

    from halon.stats import Stats

    return build(reactor, os.path.abspath(options["workdir"]), Stats())
