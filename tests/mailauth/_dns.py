"""A DNS server with the test zone, a resolver pointed at it, and a blocking lookup."""

from twisted.internet import reactor

from halon.dns.blocking import BlockingLookup
from halon.dns.client import StubResolver
from tests.util.dnsserver import DNSServer


class DNSFixture:
    """Mixed into test cases: C{self.lookup} answers from C{zone}."""

    zone = {}
    signed = ()

    def start_dns(self, zone=None, signed=None):
        self.dns = DNSServer(reactor, dict(self.zone if zone is None else zone), self.signed if signed is None else signed)
        port = self.dns.start()
        self.addCleanup(self.dns.stop)
        self.resolver = StubResolver(reactor, servers=[("127.0.0.1", port)], timeout=1.0)
        self.lookup = BlockingLookup(reactor, self.resolver)
