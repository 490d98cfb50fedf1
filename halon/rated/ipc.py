"""
The request/response framing of the helper daemons' IPC sockets.

rated, httprd and dlpd each answer requests from smtpd's scripts on a Unix
socket.  A frame is a 4-byte big-endian length and a payload; a reply
payload starts with C{+} (success, then the value) or C{-} (failure, then a
UTF-8 message).  The daemon side is a Twisted protocol that may answer from
a Deferred; replies go out in request order.  The script side is a blocking
client: a script runs on a worker thread and waits anyway, and a blocking
round trip on a local socket is several times cheaper than hopping to the
reactor thread and back (it is what keeps rate() far under a millisecond).
"""

import grp
import os
import pwd
import socket
import struct
import threading

from twisted.application import service
from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

_LENGTH = struct.Struct("!I")
MAX_FRAME = 64 * 1024 * 1024


class IPCError(Exception):
    """The daemon could not be reached, or answered with an error."""


class RequestError(ValueError):
    """Raised by a handler for a request it refuses; the message goes back to the caller."""


class FramedServerProtocol(Protocol):
    """
    Hands every request payload to C{factory.handle(payload)} (a value or a
    Deferred of bytes) and sends the replies back in order.

    Frames are gathered in a bytearray rather than with Int32StringReceiver,
    which copies its whole buffer on every read: quadratic for the 10 MB
    messages dlpd receives.
    """

    _log = Logger()

    def connectionMade(self):
        self._slots = []
        self._buffer = bytearray()
        self.factory.connections.add(self)

    def connectionLost(self, reason):
        self.factory.connections.discard(self)

    def dataReceived(self, data):
        self._buffer += data
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                self.transport.loseConnection()
                return
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            self.stringReceived(payload)

    def sendString(self, payload):
        self.transport.writeSequence([_LENGTH.pack(len(payload)), payload])
        # Send now rather than on the reactor's next turn: the caller is a
        # script thread blocked on this reply, and a whole loop iteration per
        # reply is most of a rate() call's latency.  Any error is left for the
        # reactor, which still has the transport registered for writing.
        self.transport.doWrite()

    def stringReceived(self, payload):
        try:
            result = self.factory.handle(payload)
        except Exception:
            result = defer.fail()
        if not isinstance(result, defer.Deferred) and not self._slots:
            # The common case (rate() on the local table) answers at once;
            # skipping the Deferred machinery is most of rate()'s speed.
            self.sendString(b"+" + result)
            return
        slot = [False, None]
        self._slots.append(slot)
        d = defer.maybeDeferred(lambda: result)
        d.addCallbacks(lambda value: b"+" + value, self._failed)
        d.addCallback(self._done, slot)

    def _failed(self, failure):
        if failure.check(RequestError):
            return b"-" + str(failure.value).encode("utf-8", "replace")
        self._log.failure("IPC request failed", failure)
        return b"-internal error: " + str(failure.value).encode("utf-8", "replace")

    def _done(self, reply, slot):
        slot[0], slot[1] = True, reply
        while self._slots and self._slots[0][0]:
            if self.transport is not None and self.connected:
                self.sendString(self._slots.pop(0)[1])
            else:
                self._slots.pop(0)


class FramedServerFactory(Factory):
    """A factory whose C{handle(payload)} answers every request."""

    protocol = FramedServerProtocol

    def __init__(self, handle):
        self.handle = handle
        self.connections = set()

    def disconnect_all(self):
        """Close every client connection (the daemon is stopping)."""
        for protocol in list(self.connections):
            protocol.transport.abortConnection()


class UnixSocketService(service.Service):
    """
    Listens on a Unix socket with the permissions the seed prescribes
    (rated and httprd 0660, dlpd 0600) and, when configured, owner and group.
    A stale socket left by a crash is replaced; a live one is an error.
    """

    def __init__(self, reactor, path, factory, chmod=0o660, owner=None, group=None):
        self._reactor = reactor
        self.path = path
        self._factory = factory
        self._chmod = chmod
        self._owner = owner
        self._group = group
        self._port = None

    def privilegedStartService(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._port = self._reactor.listenUNIX(self.path, self._factory, mode=self._chmod, wantPID=True)
        if self._owner is not None or self._group is not None:
            uid = -1 if self._owner is None else pwd.getpwnam(self._owner).pw_uid
            gid = -1 if self._group is None else grp.getgrnam(self._group).gr_gid
            os.chown(self.path, uid, gid)
        service.Service.privilegedStartService(self)

    def startService(self):
        if self._port is None:
            self.privilegedStartService()
        service.Service.startService(self)

    def stopService(self):
        service.Service.stopService(self)
        port, self._port = self._port, None
        self._factory.disconnect_all()
        if port is not None:
            return port.stopListening()


def parse_mode(value, default):
    """A chmod from config: "0660", 0o660 or None."""
    if value is None:
        return default
    if isinstance(value, str):
        return int(value, 8)
    return int(value)


class BlockingClient:
    """
    One connection per calling thread to a daemon's IPC socket.

    A request whose frame could not be sent on a connection the daemon had
    already closed (it restarted) is sent once more on a new one; a request
    that was sent is never repeated, so a hit is never counted twice.
    """

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all = set()

    def request(self, payload, timeout=None):
        """The reply value for C{payload}, or L{IPCError}; C{timeout} overrides the client's."""
        frame = _LENGTH.pack(len(payload)) + payload
        wanted = self.timeout if timeout is None else timeout
        for attempt in (0, 1):
            sock = self._connection()
            if sock.gettimeout() != wanted:  # settimeout costs two fcntl calls even when unchanged
                sock.settimeout(wanted)
            try:
                sock.sendall(frame)
            except OSError as e:
                self._close()
                if attempt:
                    raise IPCError("%s: %s" % (self.path, e.strerror or e))
                continue
            try:
                reply = self._read_frame(sock)
            except OSError as e:
                self._close()
                raise IPCError("%s: %s" % (self.path, e.strerror or e))
            if reply[:1] == b"+":
                return reply[1:]
            raise IPCError(reply[1:].decode("utf-8", "replace"))

    def close(self):
        """Close the connections of every thread (when the caller is done with the daemon)."""
        with self._lock:
            socks, self._all = self._all, set()
        for sock in socks:
            sock.close()

    def _connection(self):
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError as e:
                sock.close()
                raise IPCError("%s: %s" % (self.path, e.strerror or e))
            self._local.sock = sock
            with self._lock:
                self._all.add(sock)
        return sock

    def _close(self):
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            with self._lock:
                self._all.discard(sock)
            sock.close()

    def _read_frame(self, sock):
        # One request is outstanding per connection, so whatever arrives is
        # its reply: a small one (rate()'s) takes a single recv.
        data = sock.recv(4096)
        if not data:
            raise OSError(0, "connection closed by the daemon")
        if len(data) < _LENGTH.size:
            data += _recv_exactly(sock, _LENGTH.size - len(data))
        (length,) = _LENGTH.unpack_from(data)
        if length > MAX_FRAME:
            raise OSError(0, "reply of %d bytes is too large" % (length,))
        body = data[_LENGTH.size :]
        if len(body) < length:
            body += _recv_exactly(sock, length - len(body))
        return body


def _recv_exactly(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise OSError(0, "connection closed by the daemon")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
