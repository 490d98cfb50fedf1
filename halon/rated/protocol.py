"""
rate() over rated's IPC socket: the request and reply payloads.

A request is C{R}, a flags byte (bit 0: synchronise with the cluster), the
limit and the interval as doubles, then the namespace and the entry, each
with a 2-byte length.  The reply value is one double: 1 or 0 (accepted or
denied) when the limit is above zero, else the number of hits in the window.
Both sides pack and unpack the fixed part with one precompiled struct: a
call's own encoding costs a few hundred nanoseconds.
"""

import struct

from halon.rated.ipc import BlockingClient, RequestError, reply_error

RATE = struct.Struct("!cBddHH")
_VALUE = struct.Struct("!d")
# The client's whole frames: the length prefix joined to the fixed part.
_REQUEST_FRAME = struct.Struct("!IcBddHH")
_REPLY_FRAME = struct.Struct("!Icd")
FLAG_SYNC = 1


def decode_rate(payload):
    """(namespace, entry, limit, interval, sync) or L{RequestError}."""
    try:
        kind, flags, limit, interval, nlen, elen = RATE.unpack_from(payload)
    except struct.error:
        kind = None
    if kind != b"R":
        raise RequestError("not a rate request")
    middle = RATE.size + nlen
    if len(payload) != middle + elen:
        raise RequestError("rate request has a bad length")
    return payload[RATE.size : middle], payload[middle:], limit, interval, flags & FLAG_SYNC == FLAG_SYNC


def encode_value(value):
    return _VALUE.pack(value)


class RateClient:
    """
    The "rate" service smtpd and hsh register on their L{Host}: rate() from
    any script thread, straight to rated's socket.
    """

    def __init__(self, path, timeout=5.0):
        self._client = BlockingClient(path, timeout)

    def rate(self, namespace, entry, limit, interval, sync=True):
        """True/False for a limit above 0, else the count; L{IPCError} when rated fails."""
        nlen, elen = len(namespace), len(entry)
        if nlen > 0xFFFF or elen > 0xFFFF:
            raise ValueError("namespace and entry must be shorter than 64 KiB")
        frame = _REQUEST_FRAME.pack(
            RATE.size + nlen + elen, b"R", FLAG_SYNC if sync else 0, limit, interval, nlen, elen
        )
        reply = self._client.call(frame + namespace + entry)
        if len(reply) != _REPLY_FRAME.size or reply[4:5] != b"+":
            raise reply_error(reply)
        value = _REPLY_FRAME.unpack(reply)[2]
        return value if limit == 0 else value != 0

    def close(self):
        self._client.close()
