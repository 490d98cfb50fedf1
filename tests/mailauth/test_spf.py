"""SPF results through pyspf with every lookup answered by our resolver over real UDP."""

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from halon.mailauth import spf
from tests.mailauth._dns import DNSFixture

ZONE = {
    ("example.com", "txt"): [b"v=spf1 ip4:127.0.0.1 ip6:::1 mx include:_spf.other.example ~all"],
    ("example.com", "mx"): [(10, "mx.example.com")],
    ("mx.example.com", "a"): ["198.51.100.7"],
    ("_spf.other.example", "txt"): [b"v=spf1 ip4:192.0.2.0/24 -all"],
    ("fail.example", "txt"): [b"v=spf1 -all"],
    ("neutral.example", "txt"): [b"v=spf1 ?all"],
    ("none.example", "a"): ["192.0.2.1"],
    ("twice.example", "txt"): [b"v=spf1 -all", b"v=spf1 +all"],
    ("redirect.example", "txt"): [b"v=spf1 redirect=fail.example"],
    ("broken.example", "*"): "SERVFAIL",
    ("syntax.example", "txt"): [b"v=spf1 ip4:not-an-ip -all"],
}


class SPFTests(DNSFixture, unittest.TestCase):
    zone = ZONE

    def setUp(self):
        self.start_dns()

    def check(self, ip, sender, helo="client.example"):
        return deferToThread(spf.check, self.lookup, ip, helo, sender, 2.0)

    async def test_results(self):
        """Each mechanism and qualifier gives the result RFC 7208 defines."""
        cases = [
            ("127.0.0.1", "user@example.com", "pass"),
            ("::1", "user@example.com", "pass"),
            ("198.51.100.7", "user@example.com", "pass"),
            ("192.0.2.55", "user@example.com", "pass"),
            ("203.0.113.9", "user@example.com", "softfail"),
            ("203.0.113.9", "user@fail.example", "fail"),
            ("203.0.113.9", "user@neutral.example", "neutral"),
            ("203.0.113.9", "user@none.example", "none"),
            ("203.0.113.9", "user@twice.example", "permerror"),
            ("203.0.113.9", "user@redirect.example", "fail"),
            ("203.0.113.9", "user@syntax.example", "permerror"),
            ("203.0.113.9", "user@broken.example", "temperror"),
        ]
        for ip, sender, expected in cases:
            result, _ = await self.check(ip, sender)
            self.assertEqual(result, expected, "%s from %s" % (sender, ip))

    async def test_domain_or_helo(self):
        """A bare domain is checked as postmaster@domain; the null sender uses the HELO name."""
        self.assertEqual((await self.check("127.0.0.1", "example.com"))[0], "pass")
        self.assertEqual((await self.check("203.0.113.9", "", helo="fail.example"))[0], "fail")

    async def test_invalid_ip(self):
        """An argument that is not an IP address is "invalid", as libspf2 says."""
        self.assertEqual((await self.check("not-an-ip", "user@example.com"))[0], "invalid")

    async def test_lookups_went_to_our_server(self):
        """pyspf's lookups reached the test server, not the system resolver."""
        await self.check("192.0.2.55", "user@example.com")
        names = {name for name, _ in self.dns.queries}
        self.assertIn("_spf.other.example", names)
