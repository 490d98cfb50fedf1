"""
The httprd daemon: background http() requests arrive on its IPC socket
(mode 0660) and are worked through by L{BackgroundQueues} with pooled
connections.  Foreground http() never comes here: smtpd makes those
itself (see L{halon.httprd.client}).
"""

from twisted.application import service

from halon.httprd.background import BackgroundQueues
from halon.httprd.fetch import Fetcher
from halon.httprd.request import HTTPRequest
from halon.rated.ipc import FramedServerFactory, RequestError, UnixSocketService, parse_mode

DEFAULT_SOCKET = "/var/run/halon/httprd.sock"
OP_QUEUE = b"Q"


class HttprdService(service.MultiService):
    """
    @ivar queues: the L{BackgroundQueues} requests are handed to.
    @ivar fetcher: the pooled HTTP client they are made with.
    """

    def __init__(self, reactor, startup, stats, fetcher=None, clock=None):
        service.MultiService.__init__(self)
        self._reactor = reactor
        self.fetcher = fetcher or Fetcher(reactor)
        conf = startup.get("queues") or {}
        self.queues = BackgroundQueues(
            self.fetcher.fetch,
            clock or reactor,
            queues=conf.get("count", 1),
            concurrency=conf.get("concurrency", 1),
            stats=stats,
        )
        self._received = stats.counter("httprd.requests.received")
        sock = (startup.get("environment") or {}).get("socket") or {}
        self.socket_path = sock.get("path", DEFAULT_SOCKET)
        UnixSocketService(
            reactor,
            self.socket_path,
            FramedServerFactory(self.handle_ipc),
            chmod=parse_mode(sock.get("chmod"), 0o660),
            owner=sock.get("owner"),
            group=sock.get("group"),
        ).setServiceParent(self)

    def handle_ipc(self, payload):
        if payload[:1] != OP_QUEUE:
            raise RequestError("unknown httprd request")
        try:
            request = HTTPRequest.from_wire(payload[1:])
        except (ValueError, KeyError, TypeError) as e:
            raise RequestError("malformed background request: %s" % (e,))
        self._received.increment()
        self.queues.submit(request)
        return b""

    def stopService(self):
        self.queues.stop()
        d = service.MultiService.stopService(self)
        d.addCallback(lambda _: self.fetcher.close())
        return d
