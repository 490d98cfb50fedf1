"""
A small Redis client: RESP2 over one reconnecting connection, pipelined.

rated needs only a handful of commands (EVALSHA/EVAL, SCAN, DEL, AUTH,
SELECT), so a protocol of a hundred lines is easier to reason about than a
dependency.  Commands may be sent before the previous reply arrives; replies
come back in order and fire the matching Deferreds.  When the connection
drops, the commands in flight fail with L{RedisConnectionError} and the
L{ClientService} reconnects with back-off.
"""

from twisted.application.internet import ClientService
from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol


class RedisError(Exception):
    """An error reply (C{-ERR ...}) from the server."""


class RedisConnectionError(ConnectionError):
    """The connection to redis-server is down."""


def encode_command(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode("utf-8")
        elif isinstance(arg, (int, float)):
            arg = repr(arg).encode("ascii")
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class _Incomplete(Exception):
    pass


class RESPProtocol(Protocol):
    def connectionMade(self):
        self._buffer = b""
        self._waiting = []

    def execute(self, *args):
        d = defer.Deferred()
        self._waiting.append(d)
        self.transport.write(encode_command(args))
        return d

    def dataReceived(self, data):
        self._buffer += data
        while self._buffer:
            try:
                value, end = self._parse(0)
            except _Incomplete:
                return
            self._buffer = self._buffer[end:]
            d = self._waiting.pop(0)
            if isinstance(value, RedisError):
                d.errback(value)
            else:
                d.callback(value)

    def _parse(self, pos):
        eol = self._buffer.find(b"\r\n", pos)
        if eol < 0:
            raise _Incomplete()
        kind, line, nxt = self._buffer[pos : pos + 1], self._buffer[pos + 1 : eol], eol + 2
        if kind == b"+":
            return line, nxt
        if kind == b"-":
            return RedisError(line.decode("utf-8", "replace")), nxt
        if kind == b":":
            return int(line), nxt
        if kind == b"$":
            n = int(line)
            if n < 0:
                return None, nxt
            if len(self._buffer) < nxt + n + 2:
                raise _Incomplete()
            return self._buffer[nxt : nxt + n], nxt + n + 2
        if kind == b"*":
            n = int(line)
            if n < 0:
                return None, nxt
            items = []
            for _ in range(n):
                item, nxt = self._parse(nxt)
                items.append(item)
            return items, nxt
        raise RedisError("unexpected reply type %r" % (kind,))

    def connectionLost(self, reason):
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(RedisConnectionError("connection to redis-server lost"))


class RedisClient:
    """
    Commands to one redis-server.  C{execute} waits for the connection (up to
    C{connect_timeout} seconds) when it is being (re)established.
    """

    def __init__(self, reactor, endpoint, password=None, db=0, connect_timeout=5.0):
        self._reactor = reactor
        self._password = password
        self._db = db
        self._timeout = connect_timeout
        self.service = ClientService(
            endpoint, Factory.forProtocol(RESPProtocol), prepareConnection=self._prepare, clock=reactor
        )
        self._scripts = {}

    def start(self):
        self.service.startService()

    def stop(self):
        return self.service.stopService()

    @defer.inlineCallbacks
    def _prepare(self, protocol):
        if self._password:
            yield protocol.execute("AUTH", self._password)
        if self._db:
            yield protocol.execute("SELECT", self._db)

    @defer.inlineCallbacks
    def execute(self, *args):
        connecting = self.service.whenConnected(failAfterFailures=None)
        connecting.addTimeout(self._timeout, self._reactor)
        try:
            protocol = yield connecting
        except defer.TimeoutError:
            raise RedisConnectionError("no connection to redis-server")
        result = yield protocol.execute(*args)
        return result

    @defer.inlineCallbacks
    def evaluate(self, script, keys, args):
        """Run a Lua script by its SHA1, loading it on the first NOSCRIPT."""
        sha = self._scripts.get(script)
        if sha is not None:
            try:
                result = yield self.execute("EVALSHA", sha, len(keys), *keys, *args)
                return result
            except RedisError as e:
                if not str(e).startswith("NOSCRIPT"):
                    raise
        self._scripts[script] = yield self.execute("SCRIPT", "LOAD", script)
        result = yield self.execute("EVALSHA", self._scripts[script], len(keys), *keys, *args)
        return result
