"""
The rated daemon as a Twisted service: the IPC socket rate() talks to, the
counters behind it (this node's table plus UDP peers, or Redis), and what
halonctl asks of it (list, clear, reload, process-stats).

Configuration arrives already loaded and validated (rated.yaml as
C{startup}, rated-app.yaml as C{app}); this module only reads the fields.
"""

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from halon.rated import protocol
from halon.rated.backends import LocalBackend, RedisBackend
from halon.rated.cluster import DEFAULT_PORT, ClusterService, ClusterSync, parse_peer
from halon.rated.ipc import FramedServerFactory, RequestError, UnixSocketService, parse_mode
from halon.rated.resp import RedisClient, RedisConnectionError, RedisError
from halon.rated.window import RateError, RateTable

DEFAULT_SOCKET = "/var/run/halon/rated.sock"
EXPIRE_EVERY = 10.0


class RatedService(service.MultiService):
    """
    @ivar table: this node's L{RateTable}.
    @ivar backend: what rate() calls are answered from.
    @ivar cluster: the UDP sync (L{ClusterService}) or C{None} with Redis or no key.
    """

    _log = Logger()

    def __init__(self, reactor, startup, app, stats, load_app=None):
        service.MultiService.__init__(self)
        self._reactor = reactor
        self.startup = startup
        self._load_app = load_app
        self.stats = stats
        self.table = RateTable(reactor)
        self.cluster = None
        self.redis = None
        redis_conf = startup.get("redis")
        if redis_conf:
            self.redis = _redis_client(reactor, redis_conf)
            self.backend = RedisBackend(self.redis, self.table, redis_conf.get("prefix", "halon:rate:"))
        else:
            key = startup.get("key")
            if key:
                listen = startup.get("listen") or {}
                port = listen.get("port", DEFAULT_PORT)
                sync = ClusterSync(
                    reactor,
                    self.table,
                    bytes.fromhex(key),
                    peers=_peers(app, port),
                    syncdelay=startup.get("syncdelay", 25),
                    stats=stats,
                )
                self.cluster = ClusterService(
                    reactor, sync, port=port, interface=listen.get("address", ""), reresolve=startup.get("reresolve")
                )
            self.backend = LocalBackend(self.table, None if self.cluster is None else self.cluster.sync)
        sock = (startup.get("environment") or {}).get("socket") or {}
        self.socket_path = sock.get("path", DEFAULT_SOCKET)
        self.ipc = UnixSocketService(
            reactor,
            self.socket_path,
            FramedServerFactory(self.handle_ipc),
            chmod=parse_mode(sock.get("chmod"), 0o660),
            owner=sock.get("owner"),
            group=sock.get("group"),
        )
        self.ipc.setServiceParent(self)
        self._expire = LoopingCall(self.table.expire)
        self._expire.clock = reactor
        self.requests = 0
        stats.gauge("rated.requests", lambda: self.requests)
        self._errors = stats.counter("rated.errors")
        stats.gauge("rated.entries", lambda: len(self.table))
        stats.gauge("rated.hits.accepted", lambda: self.table.accepted)
        stats.gauge("rated.hits.denied", lambda: self.table.denied)

    def privilegedStartService(self):
        """Bind both sockets here, so a port in use stops the daemon at startup."""
        service.MultiService.privilegedStartService(self)
        if self.cluster is not None and self.cluster.port is None:
            self.cluster.listen()

    def startService(self):
        if self.cluster is not None and self.cluster.port is None:
            self.cluster.listen()
        service.MultiService.startService(self)
        self._expire.start(EXPIRE_EVERY, now=False)
        if self.redis is not None:
            self.redis.start()
        if self.cluster is not None:
            self.ready = self.cluster.start()
        else:
            self.ready = defer.succeed(None)

    @defer.inlineCallbacks
    def stopService(self):
        if self._expire.running:
            self._expire.stop()
        if self.cluster is not None:
            yield self.cluster.stop()
        if self.redis is not None:
            yield self.redis.stop()
        yield service.MultiService.stopService(self)

    # -- rate() over the IPC socket -------------------------------------------

    def handle_ipc(self, payload):
        """The reply to one rate() call: bytes at once, or a Deferred when Redis answers."""
        self.requests += 1  # the reactor thread's alone: no lock
        namespace, entry, limit, interval, sync = protocol.decode_rate(payload)
        try:
            value = self.backend.rate(namespace, entry, limit, interval, sync)
        except RateError as e:
            raise RequestError(str(e))
        if isinstance(value, defer.Deferred):
            return value.addCallbacks(protocol.encode_value, self._backend_failed)
        return protocol.encode_value(value)

    def _backend_failed(self, failure):
        failure.trap(RateError, RedisError, RedisConnectionError)
        if failure.check(RateError):
            raise RequestError(str(failure.value))
        self._errors.increment()
        raise RequestError("redis: %s" % (failure.value,))

    # -- what halonctl asks ---------------------------------------------------

    def rates_list(self):
        """Deferred [(namespace, entry, count, local count, oldest, newest, rate)]."""
        return defer.maybeDeferred(self.backend.rows)

    def rates_clear(self, namespace=None, entry=None):
        """Deferred number of entries deleted."""
        return defer.maybeDeferred(self.backend.clear, namespace, entry)

    @defer.inlineCallbacks
    def reload(self, app=None):
        """
        Re-read rated-app.yaml (or use C{app}): the peers change, the
        counters stay.  A config error leaves the running peers untouched.
        """
        if app is None:
            if self._load_app is None:
                raise ValueError("rated has no running configuration file to reload")
            app = self._load_app()
        if self.cluster is not None:
            port = (self.startup.get("listen") or {}).get("port", DEFAULT_PORT)
            yield self.cluster.sync.set_peers(_peers(app, port), hello=True)


def _peers(app, default_port):
    return [parse_peer(p, default_port) for p in (app or {}).get("peers", [])]


def _redis_client(reactor, conf):
    if conf.get("path"):
        endpoint = clientFromString(reactor, "unix:path=%s" % (conf["path"].replace(":", r"\:"),))
    else:
        address = conf.get("address", "127.0.0.1").replace(":", r"\:")
        endpoint = clientFromString(reactor, "tcp:host=%s:port=%d" % (address, conf.get("port", 6379)))
    return RedisClient(
        reactor,
        endpoint,
        password=conf.get("password"),
        db=conf.get("db", 0),
        connect_timeout=conf.get("connect_timeout", 5.0),
    )
