"""
rate(): cluster-aware sliding-window rate limits, answered by rated.

    rate(namespace, entry, count, interval [, options])

With C{count} above 0 a hit is recorded and C{true} returned, or C{false}
when C{count} hits are already inside the last C{interval} seconds; with
C{count} 0 the number of hits in the window is returned.  Option C{sync}
(default true) shares the hit with the cluster.  When rated cannot be
reached the result is C{none}, so a script can choose to fail open.

The host's "rate" service (a L{halon.rated.protocol.RateClient}) talks to
rated's IPC socket from the script's own thread.
"""

from twisted.logger import Logger

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.values import HSLArray, to_bytes, to_number, truthy
from halon.rated.ipc import IPCError

_OPTIONS = {b"sync"}
_log = Logger()


@core.function("rate", host=True)
def rate(host, namespace, entry, count, interval, options=None):
    service = host.service("rate", "rate")
    sync = True
    if options is not None:
        if not isinstance(options, HSLArray):
            raise HSLRuntimeError("rate(): options must be an array")
        for key in options.keys():
            if key not in _OPTIONS:
                raise HSLRuntimeError("rate(): unknown option %r" % (to_bytes(key).decode("utf-8", "replace"),))
        sync = truthy(options.get(b"sync", True))
    limit, seconds = to_number(count), to_number(interval)
    if not 0 <= limit <= 2**31 or limit != int(limit):
        raise HSLRuntimeError("rate(): count must be a whole number >= 0")
    if not 0 < seconds < float("inf"):
        raise HSLRuntimeError("rate(): interval must be a number of seconds above 0")
    try:
        return service.rate(to_bytes(namespace), to_bytes(entry), limit, seconds, sync)
    except IPCError as e:
        _log.warn("rate(): {error}", error=e)
        return None
