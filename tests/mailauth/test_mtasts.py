"""MTA-STS discovery over a real HTTPS server with a test CA, and its cache."""

from twisted.internet import reactor, ssl
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.trial import unittest
from twisted.web import resource, server
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS

from halon.dns.client import Answer
from halon.mailauth import mtasts
from tests.util.certs import make_ca, make_leaf

POLICY = b"version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.mail.example.com\nmax_age: 86400\n"


class _Policy(resource.Resource):
    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.body = POLICY
        self.type = b"text/plain"
        self.code = 200
        self.hits = 0

    def render_GET(self, request):
        self.hits += 1
        request.setResponseCode(self.code)
        request.setHeader(b"content-type", self.type)
        return self.body


class _Site(server.Site):
    """A Site that can tell when all its connections are gone, so tests end clean."""

    def __init__(self, resource):
        server.Site.__init__(self, resource)
        self.closed = []

    def buildProtocol(self, addr):
        protocol = server.Site.buildProtocol(self, addr)
        done = Deferred()
        self.closed.append(done)
        lost = protocol.connectionLost

        def connectionLost(reason):
            lost(reason)
            done.callback(None)

        protocol.connectionLost = connectionLost
        return protocol


class MTASTSTests(unittest.TestCase):
    def setUp(self):
        ca_pem, ca_key = make_ca()
        cert_pem, key_pem = make_leaf(ca_pem, ca_key, ("localhost",))
        self.policy = _Policy()
        options = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem).options()
        site = _Site(self.policy)
        self.port = reactor.listenSSL(0, site, options, interface="127.0.0.1")
        self.addCleanup(lambda: gatherResults(site.closed))
        self.addCleanup(self.port.stopListening)
        trust = ssl.Certificate.loadPEM(ca_pem)
        self.agent = Agent(reactor, BrowserLikePolicyForHTTPS(trustRoot=trust))
        self.txt = {"_mta-sts.example.com": Answer("_mta-sts.example.com", "txt", [b"v=STSv1; id=20240101"])}
        url = "https://localhost:%d/.well-known/mta-sts.txt?domain=%%s" % (self.port.getHost().port,)
        self.sts = mtasts.MTASTS(reactor, self._lookup, self.agent, url)

    def _lookup(self, name):
        return succeed(self.txt.get(name, Answer(name, "txt", error="NXDOMAIN")))

    async def test_policy_fetched_and_cached(self):
        """The policy is fetched once for an id and matches MX names with wildcards."""
        policy, error = await self.sts.policy("example.com")
        self.assertIsNone(error)
        self.assertEqual((policy.mode, policy.max_age), ("enforce", 86400))
        self.assertTrue(policy.mx_allowed("mx1.example.com."))
        self.assertTrue(policy.mx_allowed("a.mail.example.com"))
        self.assertFalse(policy.mx_allowed("b.a.mail.example.com"))
        await self.sts.policy("example.com")
        self.assertEqual(self.policy.hits, 1)

    async def test_no_record(self):
        """No _mta-sts record means no policy and no error."""
        self.assertEqual(await self.sts.policy("nowhere.example"), (None, None))

    async def test_new_id_refetches_and_failure_keeps_cache(self):
        """A changed id refetches; a failed refetch keeps the cached policy and reports why."""
        first, _ = await self.sts.policy("example.com")
        self.txt["_mta-sts.example.com"] = Answer("_mta-sts.example.com", "txt", [b"v=STSv1; id=2"])
        self.policy.code = 500
        policy, error = await self.sts.policy("example.com")
        self.assertIs(policy, first)
        self.assertIn("HTTP status 500", error)

    async def test_bad_policies(self):
        """A wrong content type or a bad mode are fetch failures."""
        self.policy.type = b"text/html"
        self.assertIn("content type", (await self.sts.policy("example.com"))[1])
        self.policy.type = b"text/plain"
        self.policy.body = b"version: STSv1\nmode: sometimes\nmax_age: 1\n"
        self.assertIn("invalid mode", (await self.sts.policy("example.com"))[1])

    async def test_oversized_policy(self):
        """A body beyond 64 KiB is refused while it streams in (served over plain HTTP here)."""
        big = _Policy()
        big.body = b"x" * (mtasts.MAX_POLICY * 4)
        site = _Site(big)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(lambda: gatherResults(site.closed))
        self.addCleanup(port.stopListening)
        url = "http://127.0.0.1:%d/?domain=%%s" % (port.getHost().port,)
        sts = mtasts.MTASTS(reactor, self._lookup, Agent(reactor), url)
        self.assertIn("64 KiB", (await sts.policy("example.com"))[1])

    def test_parse(self):
        """TXT records: exactly one STSv1 with a valid id."""
        self.assertEqual(mtasts.parse_txt([b"v=STSv1; id=abc123"]), "abc123")
        self.assertIsNone(mtasts.parse_txt([b"v=STSv1; id=a", b"v=STSv1; id=b"]))
        self.assertIsNone(mtasts.parse_txt([b"v=STSv1; id=bad-id!"]))
