"""
A stub resolver that keeps what mail authentication needs from a reply.

twisted.names' own lookup methods hand back the record sections only; SPF,
DKIM, DMARC and DANE also need the response code (NXDOMAIN is an answer,
SERVFAIL is not) and the AD bit of a validating resolver. This client asks
with the AD bit set (RFC 6840 section 5.7), retries over TCP when a reply is
truncated, and returns an L{Answer} for every outcome instead of a failure,
so callers map it to their own result vocabulary.
"""

import errno
import socket

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.names import client, dns
from twisted.names.error import DNSQueryTimeoutError

TLSA = 52

TYPES = {
    "a": dns.A,
    "aaaa": dns.AAAA,
    "mx": dns.MX,
    "txt": dns.TXT,
    "cname": dns.CNAME,
    "ns": dns.NS,
    "ptr": dns.PTR,
    "tlsa": TLSA,
}

_RCODES = {
    dns.EFORMAT: "FORMERR",
    dns.ESERVER: "SERVFAIL",
    dns.ENAME: "NXDOMAIN",
    dns.ENOTIMP: "NOTIMP",
    dns.EREFUSED: "REFUSED",
}


class Answer:
    """
    The outcome of one query.

    @ivar records: the record values of the asked type, in reply order:
        A/AAAA addresses and CNAME/NS/PTR names as str, MX as
        (preference, exchange), TXT as bytes (strings joined), TLSA as
        (usage, selector, mtype, data bytes).
    @ivar error: None, or "NXDOMAIN", "SERVFAIL", "TIMEOUT", "REFUSED" ...
        An empty C{records} with no error is NODATA.
    @ivar dnssec: the AD bit of the reply.
    @ivar ttl: the smallest TTL of the records (None without records).
    """

    __slots__ = ("name", "rrtype", "records", "error", "dnssec", "ttl")

    def __init__(self, name, rrtype, records=(), error=None, dnssec=False, ttl=None):
        self.name = name
        self.rrtype = rrtype
        self.records = list(records)
        self.error = error
        self.dnssec = dnssec
        self.ttl = ttl

    @property
    def temporary(self):
        """Whether asking again later could give another answer."""
        return self.error not in (None, "NXDOMAIN")

    def __repr__(self):
        return "Answer(%r, %r, %r, error=%r, dnssec=%r)" % (
            self.name,
            self.rrtype,
            self.records,
            self.error,
            self.dnssec,
        )


class _AuthenticDataProtocol(dns.DNSDatagramProtocol):
    """UDP queries that ask a validating resolver to report the AD bit."""

    def writeMessage(self, message, address):
        message.authenticData = True
        dns.DNSDatagramProtocol.writeMessage(self, message, address)


class _Resolver(client.Resolver):
    def _connectedProtocol(self, interface=""):
        proto = _AuthenticDataProtocol(self, reactor=self._reactor)
        for _ in range(1000):
            try:
                self._reactor.listenUDP(dns.randomSource(), proto, interface=interface)
                return proto
            except CannotListenError as e:
                if getattr(e.socketError, "errno", None) == errno.EMFILE:
                    raise
        raise CannotListenError(interface, 0, "no free UDP source port")


class StubResolver:
    """
    Queries the configured nameservers (or /etc/resolv.conf) and returns
    L{Answer}s. C{servers} is a list of (address, port).
    """

    def __init__(self, reactor, servers=None, timeout=5.0, resolv="/etc/resolv.conf"):
        self._reactor = reactor
        self.timeout = timeout
        if servers:
            self._resolver = _Resolver(servers=list(servers), reactor=reactor)
        else:
            self._resolver = _Resolver(resolv=resolv, reactor=reactor)

    def query(self, name, rrtype, timeout=None):
        """Deferred L{Answer} for C{name} (str) and C{rrtype} (a key of TYPES)."""
        qtype = TYPES[rrtype]
        name = name.rstrip(".")
        seconds = self.timeout if timeout is None else timeout
        # twisted retries once per entry: spend the budget over two tries.
        tries = (max(seconds / 3.0, 0.1), max(seconds * 2 / 3.0, 0.1))
        d = self._resolver.queryUDP([dns.Query(name, qtype, dns.IN)], tries)
        d.addCallback(self._truncated)
        d.addCallbacks(
            lambda message: _answer(name, rrtype, qtype, message),
            lambda failure: _failed(name, rrtype, failure),
        )
        return d

    def _truncated(self, message):
        if message.trunc:
            return self._resolver.queryTCP(message.queries, self.timeout)
        return message


def _failed(name, rrtype, failure):
    if failure.check(DNSQueryTimeoutError, defer.TimeoutError):
        return Answer(name, rrtype, error="TIMEOUT")
    return Answer(name, rrtype, error="SERVFAIL")


def _answer(name, rrtype, qtype, message):
    dnssec = bool(getattr(message, "authenticData", False))
    if message.rCode != dns.OK:
        return Answer(name, rrtype, error=_RCODES.get(message.rCode, "SERVFAIL"), dnssec=dnssec)
    wanted = {name.lower()}
    for rr in message.answers:
        # A CNAME chain in the answer section leads to the records asked for.
        if rr.type == dns.CNAME and qtype != dns.CNAME and rr.name.name.decode().lower() in wanted:
            wanted.add(rr.payload.name.name.decode().lower())
    records = []
    ttls = []
    for rr in message.answers:
        if rr.type != qtype or rr.name.name.decode().lower() not in wanted:
            continue
        records.append(_value(qtype, rr.payload))
        ttls.append(rr.ttl)
    return Answer(name, rrtype, records, dnssec=dnssec, ttl=min(ttls) if ttls else None)


def _value(qtype, payload):
    if qtype in (dns.A, dns.AAAA):
        return payload.dottedQuad() if qtype == dns.A else _ipv6(payload.address)
    if qtype == dns.MX:
        return (payload.preference, payload.name.name.decode())
    if qtype == dns.TXT:
        return b"".join(payload.data)
    if qtype == TLSA:
        data = payload.data
        return (data[0], data[1], data[2], data[3:])
    return payload.name.name.decode()


def _ipv6(packed):
    return socket.inet_ntop(socket.AF_INET6, packed)
