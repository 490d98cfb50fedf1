"""A local twisted.web server with the behaviours http() has to cope with."""

import json

from twisted.internet import ssl
from twisted.web import resource, server


class Site(resource.Resource):
    """
    /ok, /status/<code>, /echo, /slow (never answers), /redirect/<n>,
    /big/<bytes>, /flaky (500 until C{fail_times} requests have been made).
    """

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.fail_times = 0
        self.flaky_hits = []
        self.requests = []
        self.channels = []
        self.stalled = []

    def render(self, request):
        self.requests.append(request.path)
        self.channels.append(request.channel)
        parts = request.path.decode().strip("/").split("/")
        name, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        if name == "ok":
            return b"hello"
        if name == "status":
            request.setResponseCode(int(arg))
            return b"status %s" % arg.encode()
        if name == "echo":
            body = request.content.read()
            request.setHeader(b"x-echo", b"yes")
            return json.dumps(
                {
                    "method": request.method.decode(),
                    "uri": request.uri.decode(),
                    "headers": {k.decode().lower(): v[0].decode() for k, v in request.requestHeaders.getAllRawHeaders()},
                    "body": body.decode("latin-1"),
                }
            ).encode()
        if name == "slow":
            self.stalled.append(request)
            return server.NOT_DONE_YET
        if name == "redirect":
            n = int(arg)
            if n == 0:
                return b"landed " + request.method
            request.setResponseCode(302)
            request.setHeader(b"location", b"/redirect/%d" % (n - 1))
            return b""
        if name == "see-other":
            request.setResponseCode(303)
            request.setHeader(b"location", b"/echo")
            return b""
        if name == "big":
            return b"x" * int(arg)
        if name == "flaky":
            self.flaky_hits.append(request.content.read())
            if len(self.flaky_hits) <= self.fail_times:
                request.setResponseCode(500)
                return b"not yet"
            return b"done"
        request.setResponseCode(404)
        return b"no such page"


def listen(reactor, testcase, site=None, tls=None):
    """(site, port number) of a server on 127.0.0.1; C{tls} is (cert PEM, key PEM)."""
    site = site or Site()
    factory = server.Site(site)
    factory.displayTracebacks = False
    if tls is None:
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    else:
        cert = ssl.PrivateCertificate.loadPEM(tls[0] + tls[1])
        port = reactor.listenSSL(0, factory, cert.options(), interface="127.0.0.1")

    def stop():
        for request in site.stalled:
            if request.channel is not None and request.channel.transport is not None:
                request.channel.transport.abortConnection()
        return port.stopListening()

    testcase.addCleanup(stop)
    return site, port.getHost().port
