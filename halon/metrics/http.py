"""
The Prometheus scrape endpoint: plain HTTP on loopback unless the
operator names another address, one path (C{/metrics}), GET only.  It is
read-only and carries no secrets, but counters say a lot about a mail
flow, so it is never bound to every interface by default.
"""

import os
import sys

from twisted.application import service
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.web import resource, server

from halon.metrics.exposition import CONTENT_TYPE, render

__all__ = ["MetricsResource", "MetricsEndpoint", "metrics_service", "DEFAULT_ADDRESS", "DEFAULT_PATH"]

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PATH = "/metrics"


class MetricsResource(resource.Resource):
    isLeaf = True

    def __init__(self, stats, scripts, scrapes=None):
        resource.Resource.__init__(self)
        self._stats = stats
        self._scripts = scripts
        self._scrapes = scrapes

    def render_GET(self, request):
        if self._scrapes is not None:
            self._scrapes.increment()
        request.setHeader(b"content-type", CONTENT_TYPE.encode("ascii"))
        return render(self._stats, self._scripts)

    def render_HEAD(self, request):
        request.setHeader(b"content-type", CONTENT_TYPE.encode("ascii"))
        return b""


def _site(stats, scripts, path):
    root = resource.Resource()
    node = root
    segments = [s.encode("utf-8") for s in path.strip("/").split("/") if s]
    if not segments:
        raise ValueError("metrics path must name a resource, such as /metrics")
    for segment in segments[:-1]:
        child = resource.Resource()
        node.putChild(segment, child)
        node = child
    node.putChild(segments[-1], MetricsResource(stats, scripts, stats.counter("metrics.scrapes")))
    site = server.Site(root)
    site.displayTracebacks = False
    site.noisy = False
    return site


class MetricsEndpoint(service.Service):
    """
    Listens in C{privilegedStartService}, so a port in use stops the start
    (as smtpd's listeners do: "Could not load configuration: ..." and exit
    status 1) rather than leaving a process without its endpoint.

    @ivar port: the listening port once started (its C{getHost().port} is
        the number when 0 was configured).
    """

    name = "metrics"
    _log = Logger()

    def __init__(self, reactor, site, port, address, path=DEFAULT_PATH, exit=None):
        self._reactor = reactor
        self._site = site
        self._port_number = port
        self._address = address
        self._path = path
        self._exit = exit or _flush_and_exit
        self.port = None

    def privilegedStartService(self):
        if self.port is None:
            try:
                self.port = self._reactor.listenTCP(self._port_number, self._site, interface=self._address)
            except CannotListenError as e:
                reason = e.socketError.strerror if hasattr(e.socketError, "strerror") else str(e.socketError)
                self._log.error(
                    "Could not load configuration: metrics: bind {address}:{port}: {reason}",
                    address=self._address,
                    port=self._port_number,
                    reason=reason,
                )
                self._exit(1)
                return
            host = self.port.getHost()
            self._log.info("metrics on http://{address}:{port}{path}", address=host.host, port=host.port, path=self._path)
        service.Service.privilegedStartService(self)

    def startService(self):
        if self.port is None:
            self.privilegedStartService()
        service.Service.startService(self)

    def stopService(self):
        service.Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()


def metrics_service(reactor, stats, scripts, conf):
    """
    The endpoint for C{environment.metrics} of smtpd.yaml (C{address},
    C{port}, C{path}); None when no port is configured.
    """
    port = conf.get("port")
    if port is None:
        return None
    path = conf.get("path", DEFAULT_PATH)
    return MetricsEndpoint(reactor, _site(stats, scripts, path), port, conf.get("address", DEFAULT_ADDRESS), path)


def _flush_and_exit(status):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
