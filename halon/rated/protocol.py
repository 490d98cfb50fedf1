"""
rate() over rated's IPC socket: the request and reply payloads.

A request is C{R}, a flags byte (bit 0: synchronise with the cluster), the
limit and the interval as doubles, then the namespace and the entry, each
with a 2-byte length.  The reply value is one double: 1 or 0 (accepted or
denied) when the limit is above zero, else the number of hits in the window.
"""

import struct

from halon.rated.ipc import BlockingClient, IPCError, RequestError

_RATE = struct.Struct("!cBddHH")
_VALUE = struct.Struct("!d")
FLAG_SYNC = 1


def encode_rate(namespace, entry, limit, interval, sync=True):
    if len(namespace) > 0xFFFF or len(entry) > 0xFFFF:
        raise ValueError("namespace and entry must be shorter than 64 KiB")
    flags = FLAG_SYNC if sync else 0
    return _RATE.pack(b"R", flags, limit, interval, len(namespace), len(entry)) + namespace + entry


def decode_rate(payload):
    """(namespace, entry, limit, interval, sync) or L{RequestError}."""
    if len(payload) < _RATE.size or payload[:1] != b"R":
        raise RequestError("not a rate request")
    _, flags, limit, interval, nlen, elen = _RATE.unpack_from(payload)
    body = payload[_RATE.size :]
    if len(body) != nlen + elen:
        raise RequestError("rate request has a bad length")
    return body[:nlen], body[nlen:], limit, interval, bool(flags & FLAG_SYNC)


def encode_value(value):
    return _VALUE.pack(float(value))


class RateClient:
    """
    The "rate" service smtpd and hsh register on their L{Host}: rate() from
    any script thread, straight to rated's socket.
    """

    def __init__(self, path, timeout=5.0):
        self._client = BlockingClient(path, timeout)

    def rate(self, namespace, entry, limit, interval, sync=True):
        """True/False for a limit above 0, else the count; L{IPCError} when rated fails."""
        reply = self._client.request(encode_rate(namespace, entry, limit, interval, sync))
        if len(reply) != _VALUE.size:
            raise IPCError("rated sent a malformed reply")
        (value,) = _VALUE.unpack(reply)
        return value if limit == 0 else value != 0

    def close(self):
        self._client.close()
