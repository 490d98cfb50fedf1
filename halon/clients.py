"""
How smtpd's scripts reach the helper daemons: rate() through rated,
dlp() through dlpd, http() on the shared pooled client with background
requests handed to httprd, each on the socket smtpd.yaml names
(C{environment.sockets.<daemon>.path}).

Connections are made on first use from each script thread, so smtpd
starts whether or not a daemon runs; a call while one is down answers
none and logs why (the functions' documented failure value).
"""

from halon.dlpd.protocol import DLPClient
from halon.httprd.client import HTTPService, SocketBackground
from halon.httprd.fetch import Fetcher
from halon.rated.protocol import RateClient

__all__ = ["script_services"]

DEFAULT_SOCKETS = {
    "rated": "/var/run/halon/rated.sock",
    "httprd": "/var/run/halon/httprd.sock",
    "dlpd": "/var/run/halon/dlpd.sock",
}


class _Reactor:
    """The part of a script host L{HTTPService} uses: waiting on the reactor from a script thread."""

    def __init__(self, reactor):
        self.reactor = reactor

    def run_io(self, fn, *args, **kwargs):
        from twisted.internet.threads import blockingCallFromThread

        return blockingCallFromThread(self.reactor, fn, *args, **kwargs)


def script_services(reactor, startup):
    """name -> service for a script host's C{services}: "rate", "dlp" and "http"."""
    sockets = (startup.get("environment") or {}).get("sockets") or {}

    def path(daemon):
        return (sockets.get(daemon) or {}).get("path") or DEFAULT_SOCKETS[daemon]

    return {
        "rate": RateClient(path("rated")),
        "dlp": DLPClient(path("dlpd")),
        "http": HTTPService(_Reactor(reactor), Fetcher(reactor), background=SocketBackground(path("httprd"))),
    }
