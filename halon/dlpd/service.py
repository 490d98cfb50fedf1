"""
The dlpd daemon: scan requests on its IPC socket (mode 0600: only smtpd's
user may ask), scans on a pool of worker threads so the reactor never
waits for a regular expression, rules from dlpd-app.yaml (reloadable).
"""

import json
import os

from twisted.application import service
from twisted.internet import threads
from twisted.python.threadpool import ThreadPool

from halon.dlpd.protocol import decode_scan
from halon.dlpd.rules import RuleError, compile_rules
from halon.dlpd.scanner import Scanner
from halon.rated.ipc import FramedServerFactory, RequestError, UnixSocketService, parse_mode

DEFAULT_SOCKET = "/var/run/halon/dlpd.sock"
DEFAULT_TMPDIR = "/var/spool/halon/tmp"


class DlpdService(service.MultiService):
    """
    @ivar rules: the compiled rules of the running configuration, by id.
    @ivar scanner: the L{Scanner} every request uses.
    """

    def __init__(self, reactor, startup, app, stats, load_app=None):
        service.MultiService.__init__(self)
        self._reactor = reactor
        self._load_app = load_app
        env = startup.get("environment") or {}
        limits = startup.get("limits") or {}
        self.scanner = Scanner(
            env.get("tmpdir", DEFAULT_TMPDIR),
            {k: limits[k] for k in ("max_files", "max_file_size", "max_total") if k in limits},
        )
        self._default_recursion = limits.get("recursion", 9)
        self.rules = self._compile(app)
        threads_conf = startup.get("threads") or {}
        self._pool = ThreadPool(1, threads_conf.get("scan", 4), "dlpd-scan")
        self._stats = stats
        self._received = stats.counter("dlpd.scans.received")
        self._finished = stats.counter("dlpd.scans.finished")
        self._failed = stats.counter("dlpd.scans.failed")
        self._matches = stats.counter("dlpd.scans.matches")
        self._extracted = stats.counter("dlpd.files.extracted")
        self._running = 0
        stats.gauge("dlpd.scans.running", lambda: self._running)
        stats.gauge("dlpd.rules", lambda: len(self.rules))
        sock = env.get("socket") or {}
        self.socket_path = sock.get("path", DEFAULT_SOCKET)
        UnixSocketService(
            reactor,
            self.socket_path,
            FramedServerFactory(self.handle_ipc),
            chmod=parse_mode(sock.get("chmod"), 0o600),
            owner=sock.get("owner"),
            group=sock.get("group"),
        ).setServiceParent(self)

    @staticmethod
    def _compile(app):
        rules = compile_rules((app or {}).get("rules"), "rules")
        return {rule.id: rule for rule in rules}

    def startService(self):
        os.makedirs(self.scanner.tmpdir, exist_ok=True)
        self._pool.start()
        service.MultiService.startService(self)

    def stopService(self):
        d = service.MultiService.stopService(self)
        d.addBoth(self._stop_pool)
        return d

    def _stop_pool(self, result):
        if self._pool.started:
            self._pool.stop()
        return result

    def reload(self, app=None):
        """
        New rules from dlpd-app.yaml (or C{app}); a bad file raises and the
        running rules stay.  Scans in progress finish with the old rules.
        """
        if app is None:
            if self._load_app is None:
                raise ValueError("dlpd has no running configuration file to reload")
            app = self._load_app()
        self.rules = self._compile(app)

    # -- scans ---------------------------------------------------------------

    def handle_ipc(self, payload):
        options, data = decode_scan(payload)
        rules = self.select_rules(options.get("rules"))
        self._received.increment()
        self._running += 1
        d = threads.deferToThreadPool(
            self._reactor,
            self._pool,
            self.scanner.scan,
            data,
            rules,
            short_circuit=bool(options.get("short_circuit", False)),
            time_limit=float(options.get("time_limit") or 0),
            recursion_limit=int(options.get("recursion_limit", self._default_recursion)),
        )
        d.addBoth(self._scanned)
        return d

    def select_rules(self, wanted):
        """
        The rules a request names: all configured ones by default, else
        each entry an id of a configured rule or a custom rule (a mapping).
        """
        if wanted is None:
            return list(self.rules.values())
        if not isinstance(wanted, list):
            raise RequestError("rules must be a list")
        out = []
        for i, entry in enumerate(wanted):
            if isinstance(entry, str):
                if entry not in self.rules:
                    raise RequestError("no rule %r in the running configuration" % (entry,))
                out.append(self.rules[entry])
            else:
                try:
                    out.extend(compile_rules([entry], "rules[%d]" % (i,)))
                except RuleError as e:
                    raise RequestError(str(e))
        return out

    def _scanned(self, result):
        self._running -= 1
        if not hasattr(result, "matches"):
            self._failed.increment()
            return result
        self._finished.increment()
        self._matches.increment(len(result.matches))
        self._extracted.increment(result.extracted)
        reply = {"result": result.matches}
        if result.error:
            reply["error"] = result.error
        return json.dumps(reply).encode()
