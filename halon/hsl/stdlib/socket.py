"""
Socket: POSIX-like sockets for scripts, blocking with an optional timeout.

Scripts run on worker threads, so plain blocking Python sockets are right
here; C{settimeout()} bounds every later call.  Failures return C{none} and
leave the error number for C{errno()} (ETIMEDOUT for a timeout), as the
manual describes.  The Python socket is the C{sock} attribute, which
TLSSocket runs TLS over.
"""

import errno as _errno
import ipaddress
import socket as _socket

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, number, options, string
from halon.hsl.values import HSLArray, HSLObject, HSLResource, to_number, truthy

__all__ = ["Socket", "SocketResource"]

_FAMILIES = {b"AF_INET": _socket.AF_INET, b"AF_INET6": _socket.AF_INET6, b"AF_UNIX": _socket.AF_UNIX}
_TYPES = {b"SOCK_STREAM": _socket.SOCK_STREAM, b"SOCK_DGRAM": _socket.SOCK_DGRAM}
_SHUT = {b"SHUT_RD": _socket.SHUT_RD, b"SHUT_WR": _socket.SHUT_WR, b"SHUT_RDWR": _socket.SHUT_RDWR}
_FLAGS = {b"MSG_PEEK": _socket.MSG_PEEK, b"MSG_WAITALL": _socket.MSG_WAITALL, b"MSG_DONTWAIT": _socket.MSG_DONTWAIT}
_IP_FREEBIND = getattr(_socket, "IP_FREEBIND", 15)


class SocketResource(HSLResource):
    """A Python socket handed to scripts by a hook (Socket::Resource wraps it)."""

    __slots__ = ("sock",)
    hsl_resource_name = "SocketResource"

    def __init__(self, sock):
        self.sock = sock


@core.cls("Socket")
class Socket(HSLObject):
    """Socket(string $family, string $type)."""

    __slots__ = ("sock", "family", "_errno")
    hsl_class_name = "Socket"
    hsl_methods = {
        "bind": "bind",
        "close": "close",
        "connect": "connect",
        "errno": "errno",
        "recv": "recv",
        "send": "send",
        "settimeout": "settimeout",
        "shutdown": "shutdown",
        "toFFIValue": "to_ffi_value",
    }
    hsl_statics = {"AF": "af", "Resource": "from_resource"}

    def __init__(self, family, type):
        fam = _FAMILIES.get(string("Socket", family, "family"))
        kind = _TYPES.get(string("Socket", type, "type"))
        if fam is None:
            fail("Socket", "family must be AF_INET, AF_INET6 or AF_UNIX")
        if kind is None:
            fail("Socket", "type must be SOCK_STREAM or SOCK_DGRAM")
        self.family = fam
        self._errno = 0
        self.sock = _socket.socket(fam, kind)

    @classmethod
    def from_resource(cls, resource):
        if not isinstance(resource, SocketResource) or resource.sock is None:
            return None
        obj = cls.__new__(cls)
        obj.sock = resource.sock
        obj.family = resource.sock.family
        obj._errno = 0
        return obj

    @classmethod
    def af(cls, address):
        """AF_INET or AF_INET6 for an IP address; none for anything else."""
        try:
            version = ipaddress.ip_address(string("Socket::AF", address, "address").decode("ascii")).version
        except (ValueError, UnicodeDecodeError):
            return None
        return b"AF_INET" if version == 4 else b"AF_INET6"

    # -- helpers ---------------------------------------------------------------

    def _fail(self, error):
        if isinstance(error, _socket.timeout):
            self._errno = _errno.ETIMEDOUT
        else:
            self._errno = error.errno or _errno.EIO
        return None

    def _address(self, method, address, port):
        host = string(method, address, "address")
        if self.family == _socket.AF_UNIX:
            return host
        if port is None:
            fail(method, "a port is needed for this address family")
        return (host.decode("utf-8", "surrogateescape"), int(number(method, port, "port")))

    def _open(self):
        if self.sock is None:
            self._errno = _errno.EBADF
        return self.sock

    # -- methods -----------------------------------------------------------------

    def bind(self, address, port=None, options_=None):
        opts = options("bind", options_, {"nonlocal"})
        target = self._address("bind", address, 0.0 if port is None else port)
        sock = self._open()
        if sock is None:
            return None
        try:
            if truthy(opts.get("nonlocal", False)) and self.family != _socket.AF_UNIX:
                level = _socket.SOL_IP if self.family == _socket.AF_INET else _socket.SOL_IPV6
                sock.setsockopt(level, _IP_FREEBIND, 1)
            sock.bind(target)
        except OSError as e:
            return self._fail(e)
        return self

    def connect(self, address, port=None):
        target = self._address("connect", address, port)
        sock = self._open()
        if sock is None:
            return None
        try:
            sock.connect(target)
        except OSError as e:
            return self._fail(e)
        return self

    def send(self, data):
        """Sends all of C{data}; the number of bytes, or none."""
        payload = string("send", data, "data")
        sock = self._open()
        if sock is None:
            return None
        try:
            sock.sendall(payload)
        except OSError as e:
            return self._fail(e)
        return float(len(payload))

    def recv(self, length, flags=None):
        """Up to C{length} bytes ("" when the peer closed), or none."""
        n = int(number("recv", length, "length"))
        bits = 0
        names = [] if flags is None else [flags] if type(flags) is bytes else list(flags.values()) if type(flags) is HSLArray else None
        if names is None:
            fail("recv", "flags must be an array of MSG_ names")
        for name in names:
            if name not in _FLAGS:
                fail("recv", "unknown flag %r", name)
            bits |= _FLAGS[name]
        sock = self._open()
        if sock is None:
            return None
        try:
            return sock.recv(max(0, n), bits)
        except OSError as e:
            return self._fail(e)

    def settimeout(self, timeout):
        """Seconds for every later operation; none (or 0 and below) waits forever."""
        seconds = None if timeout is None else to_number(timeout)
        if self.sock is not None:
            self.sock.settimeout(seconds if seconds and seconds > 0 else None)
        return self

    def shutdown(self, how):
        mode = _SHUT.get(string("shutdown", how, "how"))
        if mode is None:
            fail("shutdown", "how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
        sock = self._open()
        if sock is None:
            return None
        try:
            sock.shutdown(mode)
        except OSError as e:
            return self._fail(e)
        return self

    def close(self):
        sock = self._open()
        if sock is None:
            return None
        sock.close()
        self.sock = None
        return self

    def errno(self):
        return float(self._errno)

    def to_ffi_value(self):
        from halon.hsl.stdlib.ffi import descriptor_value

        sock = self._open()
        return None if sock is None else descriptor_value(sock.fileno())
