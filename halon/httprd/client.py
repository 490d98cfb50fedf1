"""
The "http" service a daemon registers on its L{Host}: what HSL's http()
calls (the stdlib delegates C{http(...)} to C{host.service("http",
"http").http(...)}).

A foreground request is made on the reactor with the shared pooled
L{Fetcher} while the script's thread waits.  A background request is handed
to httprd over its socket (or, when httprd runs in the same process, to its
queues directly) and http() returns C{true} as soon as it is queued.  Any
failure to get a valid response is C{none}, as the manual says; the reason
goes to the log.
"""

from twisted.logger import Logger

from halon.httprd.fetch import FetchError
from halon.httprd.request import from_hsl, to_hsl
from halon.httprd.service import OP_QUEUE
from halon.rated.ipc import BlockingClient, IPCError


class HTTPService:
    """
    @ivar _background: a L{SocketBackground}, a L{LocalBackground} or C{None}
        (then background requests are refused with C{none}).
    @ivar _source_ips: C{sourceipid} -> address, from the daemon's config.
    """

    _log = Logger()

    def __init__(self, host, fetcher, background=None, source_ips=None):
        self._host = host
        self._fetcher = fetcher
        self._background = background
        self._source_ips = source_ips

    def http(self, url, options=None, get=None, post=None):
        request = from_hsl(url, options, get, post, self._source_ips)
        if request.background:
            return self._queue(request)
        try:
            response = self._host.run_io(self._fetcher.fetch, request)
        except FetchError as e:
            self._log.info("http({url}): {error}", url=request.url, error=e)
            return None
        return to_hsl(request, response)

    def _queue(self, request):
        if self._background is None:
            self._log.warn("http({url}): background requests need httprd", url=request.url)
            return None
        try:
            self._background.submit(request)
        except (IPCError, RuntimeError) as e:
            self._log.warn("http({url}): could not queue: {error}", url=request.url, error=e)
            return None
        return True


class SocketBackground:
    """Background requests to httprd's IPC socket, from script threads."""

    def __init__(self, path, timeout=5.0):
        self._client = BlockingClient(path, timeout)

    def submit(self, request):
        self._client.request(OP_QUEUE + request.to_wire())

    def close(self):
        self._client.close()


class LocalBackground:
    """Background requests to the queues of an httprd in this process (twistd halon)."""

    def __init__(self, host, queues):
        self._host = host
        self._queues = queues

    def submit(self, request):
        self._host.run_io(self._queues.submit, request)
