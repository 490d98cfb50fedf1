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
from twisted.internet import defer, tcp, unix
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

    Every frame that one read brings is answered, and the answers that are
    ready go out in one write: a client's burst costs one send, not one per
    request.  A partial frame waits in a bytearray rather than in
    Int32StringReceiver's buffer, which is copied on every read: quadratic
    for the 10 MB messages dlpd receives.
    """

    _log = Logger()

    def connectionMade(self):
        self._slots = []
        self._buffer = bytearray()
        self.factory.connections.add(self)

    def connectionLost(self, reason):
        self.factory.connections.discard(self)

    def dataReceived(self, data):
        if self._buffer:
            self._buffer += data
            data = self._buffer
        size = len(data)
        offset = 0
        ready = []
        while size - offset >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(data, offset)
            if length > MAX_FRAME:
                self.transport.loseConnection()
                return
            end = offset + _LENGTH.size + length
            if end > size:
                break
            self._answer(bytes(data[offset + _LENGTH.size : end]), ready)
            offset = end
        if data is self._buffer:
            del self._buffer[:offset]
        elif offset < size:
            self._buffer += memoryview(data)[offset:]
        if ready:
            self.transport.write(b"".join(ready))

    def _answer(self, payload, ready):
        """Append the reply to C{ready} when it is known now and nothing waits before it."""
        try:
            result = self.factory.handle(payload)
        except Exception:
            result = defer.fail()
        if type(result) is bytes and not self._slots:
            ready.append(_frame(b"+" + result))
            return
        if ready:
            self.transport.write(b"".join(ready))
            del ready[:]
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
            reply = self._slots.pop(0)[1]
            if self.transport is not None and self.connected:
                self.transport.write(_frame(reply))


def _frame(payload):
    return _LENGTH.pack(len(payload)) + payload


class _Connection(unix.Server):
    """
    A daemon's end of an IPC connection.  A write with nothing queued before
    it is sent at once, where Twisted would register for writability and
    send on the reactor's next turn: the caller is a script thread blocked
    on the reply, and that turn plus the two epoll_ctl calls around it were
    most of a rate() call's cost.  Whatever the socket does not take is
    queued as usual.  Reads are a plain recv: nothing passes descriptors here.
    """

    doRead = tcp.Server.doRead

    def write(self, data):
        if self.connected and not self._writeDisconnected and not self.dataBuffer and not self._tempDataLen:
            try:
                sent = self.socket.send(data)
            except OSError:
                sent = 0  # full, or broken: the reactor's own write finds out which
            if sent == len(data):
                return
            data = data[sent:]
        unix.Server.write(self, data)


class _Port(unix.Port):
    transport = _Connection


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
        self._port = _Port(self.path, self._factory, mode=self._chmod, reactor=self._reactor, wantPID=True)
        self._port.startListening()
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

    The socket blocks, with the time limit set in the kernel (SO_RCVTIMEO,
    SO_SNDTIMEO): with a Python-level timeout every send and recv is
    preceded by a poll(), twice the system calls of a round trip.

    A request whose frame could not be sent on a connection the daemon had
    already closed (it restarted) is sent once more on a new one; a request
    that was sent is never repeated, so a hit is never counted twice.  A
    connection that failed or timed out is closed, so a late reply can never
    be taken for the next request's.
    """

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all = set()

    def request(self, payload, timeout=None):
        """The reply value for C{payload}, or L{IPCError}; C{timeout} overrides the client's."""
        reply = self.call(_LENGTH.pack(len(payload)) + payload, timeout)
        if reply[4:5] == b"+":
            return reply[5:]
        raise reply_error(reply)

    def call(self, frame, timeout=None):
        """
        The whole reply frame (length, status byte, value) to a whole
        request frame, or L{IPCError} when the daemon cannot be reached.
        """
        wanted = self.timeout if timeout is None else timeout
        local = self._local
        for attempt in (0, 1):
            sock = getattr(local, "sock", None)
            if sock is None:
                sock = self._connect()
            if local.timeout != wanted:
                _set_timeout(sock, wanted)
                local.timeout = wanted
            try:
                sock.sendall(frame)
            except OSError as e:
                self._close()
                if attempt:
                    raise self._error(e, wanted)
                continue
            try:
                return _read_frame(sock)
            except OSError as e:
                self._close()
                raise self._error(e, wanted)

    def close(self):
        """Close the connections of every thread (when the caller is done with the daemon)."""
        with self._lock:
            socks, self._all = self._all, set()
        for sock in socks:
            sock.close()

    def _connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(None)  # blocking even if a default timeout was set for the process
        _set_timeout(sock, self.timeout)
        try:
            sock.connect(self.path)
        except OSError as e:
            sock.close()
            raise self._error(e, self.timeout)
        self._local.sock = sock
        self._local.timeout = self.timeout
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

    def _error(self, e, timeout):
        if isinstance(e, BlockingIOError):  # what a blocking socket says when SO_*TIMEO runs out
            return IPCError("%s: no reply within %g s" % (self.path, timeout))
        return IPCError("%s: %s" % (self.path, e.strerror or e))


def reply_error(reply):
    """The L{IPCError} for a reply frame that is not a success."""
    if reply[4:5] == b"-":
        return IPCError(reply[5:].decode("utf-8", "replace"))
    return IPCError("malformed reply from the daemon")


def _set_timeout(sock, seconds):
    """Kernel time limits on each send and recv; None waits forever."""
    if seconds is None:
        whole, micro = 0, 0
    else:
        whole = int(seconds)
        micro = max(int((seconds - whole) * 1e6), 0 if whole else 1)  # 0 would mean forever
    value = struct.pack("@ll", whole, micro)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def _read_frame(sock):
    # One request is outstanding per connection, so whatever arrives is its
    # reply: a small one (rate()'s) takes a single recv.
    data = sock.recv(4096)
    if len(data) > _LENGTH.size and _LENGTH.unpack_from(data)[0] == len(data) - _LENGTH.size:
        return data
    if not data:
        raise OSError(0, "connection closed by the daemon")
    if len(data) < _LENGTH.size:
        data += _recv_exactly(sock, _LENGTH.size - len(data))
    (length,) = _LENGTH.unpack_from(data)
    if not 0 < length <= MAX_FRAME:
        raise OSError(0, "reply of %d bytes is malformed or too large" % (length,))
    missing = _LENGTH.size + length - len(data)
    if missing > 0:
        data += _recv_exactly(sock, missing)
    return data


def _recv_exactly(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise OSError(0, "connection closed by the daemon")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
