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

Each daemon is one entry of L{DAEMONS}: a name and a function
C{(reactor, paths, stats) -> IService}, where C{paths} maps each
configuration kind ("smtpd", "rated-app", ...) to its file.  Adding a
daemon to the all-in-one process is adding an entry.
"""

import os
import sys

from twisted.application import service
from twisted.python import usage

import halon


class Options(usage.Options):
    optParameters = [
        ["workdir", "w", ".", "Folder holding etc/halon (written when missing) and var/."],
    ]


def _smtpd(reactor, paths, stats):
    from halon.smtpd import tap

    startup, load_app = tap.load(paths["smtpd"])
    return tap.build(reactor, startup, load_app, stats)


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
        for child in operations(reactor, environment, stats):
            child.setServiceParent(top)
        for name, make in daemons or DAEMONS:
            child = make(reactor, paths, stats)
            if child.name is None:
                child.setName(name)
            child.setServiceParent(top)
    except (ConfigError, ValueError) as e:
        fail(e)
    return top


def makeService(options):
    from twisted.internet import reactor

    from halon.stats import Stats

    return build(reactor, os.path.abspath(options["workdir"]), Stats())
