"""
Making an L{HTTPRequest} with Twisted's HTTP client.

One L{Agent} with its own persistent L{HTTPConnectionPool} per way of
connecting (connect timeout, source address, TLS checks, client
certificate, proxy): connections are reused between requests that would
have opened an identical one, and never handed to a request that asked for
stricter TLS checks than the connection got.  Redirects are followed here
rather than by L{RedirectAgent} because http() counts them (C{redirects},
-1 for unlimited) and a POST turns into a GET on 301/302/303 as curl does.
"""

import urllib.parse

from OpenSSL import SSL
from twisted.internet import defer, ssl
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, HTTPConnectionPool, ProxyAgent, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IPolicyForHTTPS
from zope.interface import implementer

from halon.httprd.request import HTTPResponse

REDIRECT_CODES = (301, 302, 303, 307, 308)
UNLIMITED_REDIRECTS = 50
MAX_AGENTS = 64


class FetchError(Exception):
    """No valid HTTP response: refused, timed out, TLS failure, too large ..."""


class Fetcher:
    """
    @ivar _trust_root: what C{tls_verify_peer} checks certificates against
        (the platform's CA store unless given).
    @ivar _pki: C{tls_client_cert} ids ("pki:id") -> L{ssl.PrivateCertificate}.
    """

    def __init__(self, reactor, trust_root=None, pki=None, max_per_host=8):
        self._reactor = reactor
        self._trust_root = trust_root
        self._pki = dict(pki or {})
        self._max_per_host = max_per_host
        self._agents = {}

    def fetch(self, request):
        """Deferred L{HTTPResponse}, or L{FetchError} with the reason."""
        d = defer.Deferred.fromCoroutine(self._fetch(request))
        if request.timeout:
            d.addTimeout(request.timeout, self._reactor)
        return d.addErrback(self._explain, request)

    def close(self):
        """Drop every pooled connection (the service is stopping)."""
        agents, self._agents = self._agents, {}
        return defer.gatherResults([pool.closeCachedConnections() for _, pool in agents.values()])

    async def _fetch(self, request):
        url, method, body = request.url, request.method, request.body
        hops = 0
        limit = UNLIMITED_REDIRECTS if request.redirects < 0 else min(request.redirects, UNLIMITED_REDIRECTS)
        while True:
            agent = self._agent(request, url)
            headers = Headers()
            for name, value in request.headers:
                headers.addRawHeader(name, value)
            producer = None if body is None else _Body(body)
            response = await agent.request(method.encode("ascii"), url.encode("ascii"), headers, producer)
            location = response.headers.getRawHeaders(b"location")
            if response.code in REDIRECT_CODES and location and hops < limit:
                await _read(response, 1 << 20)
                url = urllib.parse.urljoin(url, location[0].decode("ascii", "replace"))
                if response.code == 303 or (response.code in (301, 302) and method == "POST"):
                    method, body = "GET", None
                hops += 1
                continue
            content = await _read(response, request.max_file_size)
            return HTTPResponse(
                response.code,
                [(n, v) for n, values in response.headers.getAllRawHeaders() for v in values],
                content,
                b"%s/%d.%d" % response.version,
                response.phrase,
            )

    def _agent(self, request, url):
        scheme = urllib.parse.urlsplit(url).scheme
        proxy = request.proxy or None
        if proxy and scheme != "http":
            raise FetchError("proxy is only supported for http:// URLs")
        cert = self._client_cert(request.tls_client_cert)
        key = (
            request.connect_timeout,
            request.sourceip,
            request.tls_verify_peer,
            request.tls_verify_host,
            request.tls_client_cert,
            proxy,
        )
        found = self._agents.pop(key, None)
        if found is None:
            pool = HTTPConnectionPool(self._reactor, persistent=True)
            pool.maxPersistentPerHost = self._max_per_host
            if proxy:
                parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
                endpoint = TCP4ClientEndpoint(
                    self._reactor, parts.hostname, parts.port or 8080, timeout=request.connect_timeout
                )
                agent = ProxyAgent(endpoint, self._reactor, pool)
            else:
                policy = TLSPolicy(request.tls_verify_peer, request.tls_verify_host, self._trust_root, cert)
                bind = (request.sourceip, 0) if request.sourceip else None
                agent = Agent(self._reactor, policy, connectTimeout=request.connect_timeout, bindAddress=bind, pool=pool)
            found = (agent, pool)
            if len(self._agents) >= MAX_AGENTS:
                _, (_, oldest) = self._agents.popitem()
                oldest.closeCachedConnections()
        self._agents[key] = found
        return found[0]

    def _client_cert(self, name):
        if name is None:
            return None
        ident = name[4:] if name.startswith("pki:") else name
        try:
            return self._pki[ident]
        except KeyError:
            raise FetchError("tls_client_cert: no certificate %r in the pki" % (name,))

    def _explain(self, failure, request):
        if failure.check(FetchError):
            return failure
        if failure.check(defer.TimeoutError, defer.CancelledError):
            raise FetchError("timed out after %g s" % (request.timeout,))
        reasons = getattr(failure.value, "reasons", None)
        if reasons:
            raise FetchError("; ".join(_describe(r.value) for r in reasons))
        raise FetchError(_describe(failure.value))


def _describe(error):
    if isinstance(error, SSL.Error):
        return "TLS: %s" % (error,)
    text = str(error) or type(error).__name__
    return text


@implementer(IPolicyForHTTPS)
class TLSPolicy:
    """
    The TLS checks of http(): C{tls_verify_peer} (the chain, on by default)
    and C{tls_verify_host} (the name, off by default, as in Halon).
    """

    def __init__(self, verify_peer, verify_host, trust_root=None, client_cert=None):
        self._verify_peer = verify_peer
        self._verify_host = verify_host
        self._trust = trust_root if trust_root is not None else ssl.platformTrust()
        self._client = client_cert
        self._options = None

    def creatorForNetloc(self, hostname, port):
        host = hostname.decode("ascii")
        if self._verify_peer and self._verify_host:
            return ssl.optionsForClientTLS(host, trustRoot=self._trust, clientCertificate=self._client)
        if self._options is None:
            extra = {}
            if self._client is not None:
                extra = {"privateKey": self._client.privateKey.original, "certificate": self._client.original}
            if self._verify_peer:
                extra["trustRoot"] = self._trust
            self._options = ssl.CertificateOptions(**extra)
        return _SNIConnectionCreator(host, self._options.getContext())


@implementer(IOpenSSLClientConnectionCreator)
class _SNIConnectionCreator:
    """A client TLS connection that sends SNI and checks the chain as its context says, not the name."""

    def __init__(self, hostname, context):
        self._hostname = hostname
        self._context = context

    def clientConnectionForTLS(self, tls_protocol):
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tls_protocol)
        if not _is_ip(self._hostname):
            connection.set_tlsext_host_name(self._hostname.encode("idna"))
        connection.set_connect_state()
        return connection


def _is_ip(host):
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


@implementer(IBodyProducer)
class _Body:
    """A request body already in memory, written in one go."""

    def __init__(self, data):
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self._data)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class _BodyReader(Protocol):
    """Collects a response body, aborting once it passes C{limit} bytes."""

    def __init__(self, limit, finished):
        self._limit = limit
        self._finished = finished
        self._chunks = []
        self._size = 0

    def dataReceived(self, data):
        if self._finished.called:
            return
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            self._finished.errback(FetchError("response is larger than max_file_size (%d bytes)" % (self._limit,)))
            self.transport.stopProducing()
            return
        self._chunks.append(data)

    def connectionLost(self, reason):
        if self._finished.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self._finished.callback(b"".join(self._chunks))
        else:
            self._finished.errback(reason)


def _read(response, limit):
    if limit is not None and response.length is not None and response.length > limit:
        response.deliverBody(_Discard())
        return defer.fail(FetchError("response is larger than max_file_size (%d bytes)" % (limit,)))
    reader = None

    def cancel(d):
        if reader is not None and reader.transport is not None:
            reader.transport.stopProducing()

    finished = defer.Deferred(cancel)
    reader = _BodyReader(limit, finished)
    response.deliverBody(reader)
    return finished


class _Discard(Protocol):
    def makeConnection(self, transport):
        Protocol.makeConnection(self, transport)
        transport.stopProducing()
