"""
A real twisted.names DNS server on 127.0.0.1 for tests, with a zone given as
a Python dict, so SPF, DKIM, DMARC, MX lookups and DANE run over real UDP
and TCP instead of against a fake resolver.

    zone = {
        ("example.com", "mx"): [(10, "mx.example.com")],
        ("mx.example.com", "a"): ["127.0.0.1"],
        ("example.com", "txt"): [b"v=spf1 ip4:127.0.0.1 -all"],
        ("_25._tcp.mx.example.com", "tlsa"): [(3, 1, 1, b"...")],
        ("broken.example", "*"): "SERVFAIL",
        ("slow.example", "*"): "TIMEOUT",
    }

Names absent from the zone answer NXDOMAIN; a present name without the
asked type answers NODATA. Names listed in C{signed} come back with the AD
bit set, as from a validating resolver.
"""

import struct

from twisted.internet import defer
from twisted.names import common, dns, error, server

from halon.dns.client import TLSA, TYPES


class _ServerFailure(Exception):
    """A SERVFAIL the zone asks for: answered, not logged as a server bug."""


class _ZoneResolver(common.ResolverBase):
    def __init__(self, zone):
        common.ResolverBase.__init__(self)
        self.zone = zone
        self.queries = []

    def _lookup(self, name, cls, qtype, timeout):
        name = name.decode().lower().rstrip(".")
        self.queries.append((name, qtype))
        special = self.zone.get((name, "*"))
        if special == "TIMEOUT":
            return defer.Deferred()
        if special == "SERVFAIL":
            return defer.fail(_ServerFailure(name))
        names = {key[0] for key in self.zone}
        if name not in names:
            return defer.fail(error.AuthoritativeDomainError(name))
        return defer.succeed((self._records(name, qtype, 8), [], []))

    def _records(self, name, qtype, hops):
        """The records of C{name}, following CNAMEs as a recursive resolver does."""
        answers = []
        for rrtype, code in TYPES.items():
            if code != qtype and not (code == dns.CNAME and qtype != dns.CNAME):
                continue
            for value in self.zone.get((name, rrtype), []):
                answers.append(dns.RRHeader(name, code, dns.IN, 300, _payload(code, value), auth=True))
                if code == dns.CNAME and hops:
                    answers.extend(self._records(value.lower(), qtype, hops - 1))
        return answers


def _payload(code, value):
    if code == dns.A:
        return dns.Record_A(value, 300)
    if code == dns.AAAA:
        return dns.Record_AAAA(value, 300)
    if code == dns.MX:
        return dns.Record_MX(value[0], value[1], 300)
    if code == dns.TXT:
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
        return dns.Record_TXT(*chunks, ttl=300)
    if code == TLSA:
        usage, selector, mtype, data = value
        record = dns.UnknownRecord(struct.pack("!BBB", usage, selector, mtype) + data, 300)
        return record
    return {dns.CNAME: dns.Record_CNAME, dns.NS: dns.Record_NS, dns.PTR: dns.Record_PTR}[code](value, 300)


class _Factory(server.DNSServerFactory):
    def __init__(self, resolver, signed):
        server.DNSServerFactory.__init__(self, authorities=[resolver])
        self.signed = signed

    def gotResolverError(self, failure, protocol, message, address):
        if failure.check(_ServerFailure):
            response = self._responseFromMessage(message=message, rCode=dns.ESERVER)
            self.sendReply(protocol, response, address)
            return
        server.DNSServerFactory.gotResolverError(self, failure, protocol, message, address)

    def sendReply(self, protocol, message, address):
        names = {q.name.name.decode().lower().rstrip(".") for q in message.queries}
        if names & self.signed:
            message.authenticData = True
        server.DNSServerFactory.sendReply(self, protocol, message, address)


class DNSServer:
    """
    Start with L{start} (returns the port), stop with L{stop}; the zone can
    be changed between queries. C{queries} records (name, type code) asked.
    """

    def __init__(self, reactor, zone, signed=()):
        self._reactor = reactor
        self._resolver = _ZoneResolver(zone)
        self._factory = _Factory(self._resolver, {n.lower() for n in signed})
        self._ports = []

    @property
    def zone(self):
        return self._resolver.zone

    @property
    def queries(self):
        return self._resolver.queries

    def start(self):
        udp = self._reactor.listenUDP(0, dns.DNSDatagramProtocol(self._factory), interface="127.0.0.1")
        port = udp.getHost().port
        self._ports.append(udp)
        try:
            self._ports.append(self._reactor.listenTCP(port, self._factory, interface="127.0.0.1"))
        except Exception:
            pass
        return port

    def stop(self):
        return defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in self._ports])
