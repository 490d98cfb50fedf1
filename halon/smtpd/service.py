# -*- test-case-name: tests.smtpd.test_twistd -*-
"""
smtpd as a Twisted service: the virtual servers of smtpd.yaml with the
running configuration of smtpd-app.yaml, the spool, and the queue sink.

Start-up follows Halon's order and log: "Starting Halon (version)", then
per server "serverid: X" and "- listen on ADDR:PORT" for each listener,
bound in C{privilegedStartService}; a listener that cannot be bound logs
"Could not load configuration: bind: <reason>" and ends the process with
exit status 1.  Then privileges are dropped to C{environment.privdrop},
the spool is loaded into the queue, and connections are served.

The running configuration is a L{halon.config.Reloadable}: L{reload}
checks the file again, prepares it (TLS keys, hooks) and swaps it in only
when all of that worked; connections keep the configuration they started
with.  A live stage (L{halon.smtpd.livestage}) is prepared the same way
and serves the new connections it takes.
"""

import grp
import os
import pwd
import resource
import socket
import sys
import time

from OpenSSL import crypto
from twisted.application import service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

import halon
from halon.config.errors import ConfigError, Problem
from halon.config.reload import Reloadable
from halon.queue import MemoryQueue
from halon.queue.spool import Spool
from halon.smtpd.livestage import LiveStages
from halon.smtpd.server import Committer, SMTPServer
from halon.smtpd.settings import ServerSettings
from halon.smtpd.tls import ServerTLS, TLSError, load_pki

__all__ = ["SMTPDService", "Prepared", "BindError"]

log = Logger()


class BindError(Exception):
    """A listener could not be bound; the message is the system's reason."""


class Prepared:
    """
    A running configuration made ready to serve: per server id, its
    L{ServerSettings} and the factory of the hooks its connections get;
    and the private keys of its C{pki.private} (id -> PEM bytes), which
    scripts sign with.
    """

    def __init__(self, app, settings, hooks, keys=None):
        self.app = app
        self.settings = settings
        self.hooks = hooks
        self.keys = keys or {}


def _mode(value, default):
    if value is None:
        return default
    return value if isinstance(value, int) else int(str(value), 8)


class SMTPDService(service.MultiService):
    """
    @param startup: the loaded smtpd.yaml (dict, defaults applied).
    @param load_app: callable loading smtpd-app.yaml (raises ConfigError).
    @param hooks_factory: C{hooks_factory(app, app_server, server_index,
        pool)} -> callable C{(session) -> Hooks} for one server; None for
        the built-in policy.
    @param sink: the queue (L{halon.queue.QueueSink}); in-memory when None.
    @param clock: the live stage's time (default: the reactor).
    @param inherited: in a worker process (L{halon.smtpd.worker}), the
        listening sockets the main process bound, one descriptor per
        listener in smtpd.yaml's order; the main process logs what is
        received, so the worker does not.
    """

    name = "smtpd"

    def __init__(
        self,
        reactor,
        startup,
        load_app,
        stats,
        hooks_factory=None,
        sink=None,
        ptr=None,
        spool_sync=None,
        clock=None,
        inherited=None,
    ):
        service.MultiService.__init__(self)
        self._reactor = reactor
        self.startup = startup
        self.stats = stats
        self._hooks_factory = hooks_factory
        self._ptr = ptr
        self._umask_before = None
        self.started = time.time()
        environment = startup.get("environment", {})
        self.spool = Spool(environment.get("spool", {}).get("path", "/var/spool/halon/queue"), reactor, spool_sync)
        self.sink = sink if sink is not None else MemoryQueue()
        self._inherited = inherited
        self.committer = Committer(self.spool, self.sink, log_received=inherited is None)
        # Called with no arguments after every accepted reload (smtpd's workers follow it).
        self.reload_listeners = []
        self.pools = {}
        self.servers = []
        self.ports = []
        self._startup_servers = [s for s in startup.get("servers", []) if s.get("type", "smtp") == "smtp"]
        self.app = Reloadable(load_app, prepare=self._prepare, on_change=self._changed)
        self.livestage = LiveStages(clock or reactor, self._load_staged, self._prepare)
        for index, entry in enumerate(self._startup_servers):
            settings = self.app.prepared.settings.get(entry["id"])
            if settings is None:
                continue
            server = SMTPServer(settings, self._hooks_of(entry["id"]), self.committer, reactor, ptr)
            server.index = index
            server.stage = self.livestage.choose
            self.servers.append(server)
            self._register(index, server)
        stats.gauge("process.pid", os.getpid)
        stats.gauge("process.runtime", lambda: int(time.time() - self.started))

    # -- configuration ----------------------------------------------------------

    def _pool(self, index, entry):
        if index not in self.pools:
            from halon.smtpd.scriptpool import ScriptPool

            size = entry.get("threads", {}).get("script", 32)
            self.pools[index] = ScriptPool(self._reactor, size, self.stats, "servers[%d].scripts" % index, 30.0)
        return self.pools[index]

    def _prepare(self, app):
        """Settings, TLS and hooks for every server; a ConfigError refuses the configuration."""
        problems = []
        try:
            pki = load_pki(app)
        except TLSError as e:
            raise ConfigError([Problem(app.get("__file__", "smtpd-app.yaml"), "pki", str(e))])
        by_id = {s["id"]: s for s in app.get("servers", [])}
        settings, hooks = {}, {}
        for index, entry in enumerate(self._startup_servers):
            app_server = by_id.get(entry["id"])
            if app_server is None:
                problems.append(
                    Problem("smtpd-app.yaml", "servers", "no server with id %s (smtpd.yaml listens for it)" % entry["id"])
                )
                continue
            tls = None
            if app_server.get("tls", {}).get("certs"):
                try:
                    tls = ServerTLS.from_config(app_server["tls"], pki)
                except TLSError as e:
                    problems.append(Problem("smtpd-app.yaml", "servers[%d].tls" % index, str(e)))
                    continue
            settings[entry["id"]] = ServerSettings.from_config(entry, app_server, tls)
            if self._hooks_factory is not None:
                hooks[entry["id"]] = self._hooks_factory(app, app_server, index, self._pool(index, entry))
            else:
                from halon.smtpd.builtin import BuiltinHooks

                builtin = BuiltinHooks()
                hooks[entry["id"]] = lambda session, builtin=builtin: builtin
        if problems:
            raise ConfigError(problems)
        keys = {ident: crypto.dump_privatekey(crypto.FILETYPE_PEM, key) for ident, (_, key) in pki.items()}
        return Prepared(app, settings, hooks, keys)

    def _load_staged(self, text, name):
        """A live stage's smtpd-app.yaml text, checked as the file is; relative paths from the file's folder."""
        from halon.config.loader import parse_running

        appconf = self.startup.get("environment", {}).get("appconf")
        base_dir = os.path.dirname(os.path.abspath(appconf)) if appconf else None
        return parse_running("smtpd-app", text, name=name, base_dir=base_dir, startup=self.startup)

    def _changed(self, new, old):
        for server in self.servers:
            settings = new.settings.get(server.settings.serverid)
            if settings is not None:
                server.update(settings)
        for listener in self.reload_listeners:
            listener()

    def _hooks_of(self, serverid):
        return lambda session: self.app.prepared.hooks[serverid](session)

    def reload(self):
        """Reload smtpd-app.yaml; the problems that kept it out (empty on success)."""
        problems = self.app.reload()
        if problems:
            log.warn("configuration not reloaded:\n{problems}", problems="\n".join(str(p) for p in problems))
        else:
            log.info("configuration reloaded (generation {n})", n=self.app.generation)
        return problems

    def _register(self, index, server):
        base = "servers[%d]." % index
        self.stats.gauge(base + "serverid", lambda: server.settings.serverid)
        self.stats.gauge(base + "connections.concurrent", lambda: server.limiter.total)

    def server_concurrency(self, serverid, address=None):
        """C{server_concurrency()} for scripts: connections to a server (from one address)."""
        from halon.hsl.values import to_bytes

        name = to_bytes(serverid).decode("utf-8", "replace")
        for server in self.servers:
            if server.settings.serverid == name:
                if address is None:
                    return float(server.limiter.total)
                return float(server.limiter.count(to_bytes(address).decode("ascii", "replace")))
        return None

    # -- start and stop --------------------------------------------------------------

    def privilegedStartService(self):
        environment = self.startup.get("environment", {})
        self._umask_before = os.umask(_mode(environment.get("umask"), 0o027))
        nofile = environment.get("rlimit", {}).get("nofile")
        if nofile:
            _raise_nofile(nofile)
        try:
            if self._inherited is not None:
                self._adopt()
                self._inherited = ()
            else:
                log.info("Starting Halon ({version})", version=halon.__version__)
                self._listen()
        except BindError as e:
            log.error("Could not load configuration: bind: {reason}", reason=str(e))
            _flush_and_exit(1)
        os.makedirs(self.spool.path, exist_ok=True)
        service.MultiService.privilegedStartService(self)
        self._drop_privileges(environment.get("privdrop"))

    def _listen(self):
        for server in self.servers:
            log.info("serverid: {serverid}", serverid=server.settings.serverid)
            for listener in server.settings.listeners:
                log.info("- listen on {where}", where=listener.describe())
                port = self._bind(server, listener)
                self.ports.append(port)
                if listener.port == 0:
                    log.info("- listening on {where}", where=listener.describe(port.getHost().port))

    def _adopt(self):
        """A worker: serve the main process's listening sockets (duplicated, then closed here)."""
        pairs = [(server, listener) for server in self.servers for listener in server.settings.listeners]
        if len(pairs) != len(self._inherited):
            raise BindError("%d listening sockets inherited for %d listeners" % (len(self._inherited), len(pairs)))
        for (server, listener), fd in zip(pairs, self._inherited):
            with socket.socket(fileno=os.dup(fd)) as probe:
                family = probe.family
            self.ports.append(self._reactor.adoptStreamPort(fd, family, self._factory(server, listener)))
            os.close(fd)

    @staticmethod
    def _factory(server, listener):
        if not listener.implicit_tls:
            return server
        from twisted.protocols.tls import TLSMemoryBIOFactory

        if server.settings.tls is None:
            raise BindError("implicit TLS on port %d needs tls.certs" % listener.port)
        return TLSMemoryBIOFactory(server.settings.tls, False, server)

    def _bind(self, server, listener):
        factory = self._factory(server, listener)
        backlog = listener.backlog or 511
        try:
            if listener.address is None:
                try:
                    return self._reactor.listenTCP(listener.port, factory, backlog, interface="::")
                except CannotListenError:
                    return self._reactor.listenTCP(listener.port, factory, backlog, interface="0.0.0.0")
            return self._reactor.listenTCP(listener.port, factory, backlog, interface=listener.address)
        except CannotListenError as e:
            raise BindError(_reason(e))

    def _drop_privileges(self, privdrop):
        if not privdrop or os.geteuid() != 0:
            return
        user = pwd.getpwnam(privdrop["user"]) if privdrop.get("user") else None
        gid = grp.getgrnam(privdrop["group"]).gr_gid if privdrop.get("group") else (user.pw_gid if user else None)
        for path in (self.spool.path,):
            if user is not None:
                os.chown(path, user.pw_uid, gid if gid is not None else -1)
        if gid is not None:
            os.setgroups([gid])
            os.setgid(gid)
        if user is not None:
            os.setuid(user.pw_uid)
        log.info("privileges dropped to {user}:{group}", user=privdrop.get("user"), group=privdrop.get("group"))

    def startService(self):
        self.spool.start()
        if self._inherited is None:
            loaded = self.sink.load(self.spool.path, self._corrupt)
            log.info("spool {path}: {count} messages loaded", path=self.spool.path, count=loaded)
        service.MultiService.startService(self)

    def _corrupt(self, path, reason):
        log.error("spool: {reason}; moved aside", reason=reason)

    @defer.inlineCallbacks
    def stopService(self):
        yield defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in self.ports])
        self.ports = []
        self.livestage.stop()
        for server in self.servers:
            server.shutdown()
        yield service.MultiService.stopService(self)
        yield self.spool.stop()
        for pool in self.pools.values():
            pool.stop()
        if self._umask_before is not None:
            # The process may go on (twistd halon stops daemons one by one; tests run many).
            os.umask(self._umask_before)
            self._umask_before = None


def _reason(error):
    """The system's words for a bind failure (CannotListenError wraps a socket.error)."""
    inner = error.socketError
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    if isinstance(inner, tuple) and len(inner) > 1:
        return str(inner[1])
    return str(inner)


def _raise_nofile(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _flush_and_exit(status):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
