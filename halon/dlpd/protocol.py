"""
Scans over dlpd's IPC socket: the request and reply payloads, and the
blocking client the dlp() function uses.

A request is C{S}, the length of a JSON header (4 bytes), the header
(C{id}, C{rules}, C{short_circuit}, C{time_limit}, C{recursion_limit}), then
the message bytes.  The message travels with the request rather than as a
path so that any File a script holds can be scanned, and dlpd needs no
access to the spool.  The reply value is JSON: C{{"result": [...]}} plus
C{"error"} when the scan stopped early.
"""

import json
import struct

from halon.rated.ipc import BlockingClient, RequestError

_HEADER = struct.Struct("!cI")
OPTIONS = ("id", "rules", "short_circuit", "time_limit", "recursion_limit")


def encode_scan(data, options):
    header = json.dumps({k: v for k, v in options.items() if k in OPTIONS}).encode()
    return _HEADER.pack(b"S", len(header)) + header + data


def decode_scan(payload):
    """(options, message bytes) or L{RequestError}."""
    if len(payload) < _HEADER.size or payload[:1] != b"S":
        raise RequestError("not a scan request")
    _, length = _HEADER.unpack_from(payload)
    start = _HEADER.size
    try:
        options = json.loads(payload[start : start + length])
    except ValueError as e:
        raise RequestError("bad scan options: %s" % (e,))
    if not isinstance(options, dict):
        raise RequestError("bad scan options: not an object")
    return options, payload[start + length :]


class DLPClient:
    """Blocking scans from script threads; one connection per thread."""

    def __init__(self, path, timeout=60.0):
        self._client = BlockingClient(path, timeout)

    def scan(self, data, options, timeout=None):
        """{"result": [...], "error"?: ...} for message C{data}; L{IPCError} when dlpd fails."""
        return json.loads(self._client.request(encode_scan(data, options), timeout))

    def close(self):
        self._client.close()
