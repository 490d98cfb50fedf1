"""DMARC policy discovery, alignment and pct sampling, with policies served by a real DNS server."""

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from halon.mailauth import dmarc
from halon.mailauth.psl import PublicSuffixList
from tests.mailauth._dns import DNSFixture

PSL = PublicSuffixList(["com", "example", "co.uk"])

ZONE = {
    ("_dmarc.example.com", "txt"): [b"v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"],
    ("_dmarc.strict.com", "txt"): [b"v=DMARC1; p=reject; aspf=s; adkim=s"],
    ("_dmarc.sampled.com", "txt"): [b"v=DMARC1; p=reject; pct=0"],
    ("_dmarc.bad.com", "txt"): [b"v=DMARC1; p=bogus"],
    ("_dmarc.bad-rua.com", "txt"): [b"v=DMARC1; p=bogus; rua=mailto:x@bad-rua.com"],
    ("_dmarc.other.co.uk", "txt"): [b"not a dmarc record"],
    ("_dmarc.broken.com", "*"): "SERVFAIL",
}

PASS = {"result": "pass"}
FAIL = {"result": "fail"}


class DMARCTests(DNSFixture, unittest.TestCase):
    zone = ZONE

    def setUp(self):
        self.start_dns()

    def lookup_txt(self, name):
        answer = self.lookup(name, "txt")
        return answer.records, answer.temporary

    def evaluate(self, from_value, spf=FAIL, spf_domain="", dkim=(), rng=lambda: 0.5):
        return deferToThread(dmarc.evaluate, [from_value], spf, spf_domain, list(dkim), self.lookup_txt, PSL, rng)

    async def test_aligned_spf_passes(self):
        """SPF pass for a subdomain of the From domain aligns in relaxed mode."""
        result = await self.evaluate("Alice <alice@example.com>", PASS, "bounces.example.com")
        self.assertEqual((result.result, result.fields["spf_align"]), ("pass", "pass"))
        self.assertEqual(result.fields["pdomain"], "example.com")

    async def test_aligned_dkim_passes(self):
        """A passing DKIM signature of the From domain is enough."""
        dkim = [{"result": "permerror", "tags": {"d": "evil.com"}}, {"result": "pass", "tags": {"d": "example.com"}}]
        result = await self.evaluate("alice@example.com", FAIL, "example.com", dkim)
        self.assertEqual((result.result, result.fields["dkim_align"]), ("pass", "pass"))

    async def test_unaligned_gets_the_policy(self):
        """Without aligned passes the published p= is the result."""
        result = await self.evaluate("alice@example.com", PASS, "elsewhere.com")
        self.assertEqual((result.result, result.fields["spf_align"], result.fields["policy"]), ("reject", "unaligned", "reject"))

    async def test_strict_alignment(self):
        """aspf=s and adkim=s want the exact From domain."""
        dkim = [{"result": "pass", "tags": {"d": "strict.com"}}]
        result = await self.evaluate("a@mail.strict.com", PASS, "strict.com", dkim)
        self.assertEqual(result.result, "reject")
        self.assertEqual(result.fields["dkim_align"], "unaligned")

    async def test_subdomain_policy(self):
        """A subdomain without its own record gets the organizational domain's sp=."""
        result = await self.evaluate("a@news.example.com")
        self.assertEqual((result.result, result.fields["pdomain"]), ("quarantine", "example.com"))

    async def test_pct_sampling(self):
        """A message outside pct= gets the next milder policy."""
        result = await self.evaluate("a@sampled.com")
        self.assertEqual(result.result, "quarantine")
        self.assertFalse(result.fields["pct-selected"])

    async def test_absent_and_errors(self):
        """No record, a DNS failure, a bad p= with and without rua=, and bad From fields."""
        self.assertEqual((await self.evaluate("a@nowhere.com")).result, "policy_absent")
        self.assertEqual((await self.evaluate("a@other.co.uk")).result, "policy_absent")
        self.assertEqual((await self.evaluate("a@broken.com")).result, "temperror")
        self.assertEqual((await self.evaluate("a@bad.com")).result, "permerror")
        self.assertEqual((await self.evaluate("a@bad-rua.com")).result, "none")
        two = await deferToThread(dmarc.evaluate, ["a@example.com", "b@example.com"], FAIL, "", [], self.lookup_txt, PSL)
        self.assertEqual(two.result, "permerror")
        self.assertEqual((await self.evaluate("a@example.com, b@example.com")).result, "permerror")


class AlignmentTests(unittest.TestCase):
    def test_relaxed_uses_organizational_domains(self):
        """Relaxed alignment compares organizational domains from the suffix list."""
        self.assertTrue(dmarc.aligned("a.example.co.uk", "b.example.co.uk", "r", PSL))
        self.assertFalse(dmarc.aligned("example.co.uk", "other.co.uk", "r", PSL))
        self.assertFalse(dmarc.aligned("", "example.com", "r", PSL))
