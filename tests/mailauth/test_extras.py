"""
extras://dmarc, extras://arc and extras://mta-sts as scripts use them:
HSL imports compiled and run against a real DNS zone on loopback.
"""

import io

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from halon.hsl import HSLSyntaxError, compile_program
from halon.hsl.host import Host
from halon.mailauth import service
from tests.mailauth.test_dkim import RSA_KEY, _record
from tests.mailauth.test_services import RSA_KEY_PEM
from tests.util.dnsserver import DNSServer

ZONE = {
    ("example.com", "txt"): [b"v=spf1 ip4:192.0.2.1 -all"],
    ("_dmarc.example.com", "txt"): [b"v=DMARC1; p=reject"],
    ("sel._domainkey.example.com", "txt"): [_record(RSA_KEY)],
    ("other.example", "txt"): [b"v=spf1 -all"],
    ("_mta-sts.nopolicy.example", "txt"): [b"v=spf1 -all"],
}

MESSAGE = 'From: a@example.com\\r\\nTo: b@example.org\\r\\nSubject: s\\r\\n\\r\\nbody\\r\\n'


class ExtrasTests(unittest.TestCase):
    def setUp(self):
        dns = DNSServer(reactor, dict(ZONE))
        port = dns.start()
        self.addCleanup(dns.stop)
        self.out = io.BytesIO()
        self.host = Host(stdout=self.out, reactor=reactor)
        self.host.files["key.pem"] = RSA_KEY_PEM
        service.install(self.host, reactor, [("127.0.0.1", port)], timeout=2.0)

    async def run_script(self, source):
        program = compile_program(source, "extras.hsl", host=self.host)
        await deferToThread(program.run, self.host)
        return self.out.getvalue().splitlines()

    async def test_dmarc(self):
        """SPF-aligned mail passes; mail from elsewhere meets p=reject."""
        lines = await self.run_script(
            'import { dmarc } from "extras://dmarc";\n'
            '$m = MailMessage::String("%s");\n'
            'echo dmarc($m, "192.0.2.1", "mx.example.com", "example.com")["result"];\n'
            '$d = dmarc($m, "198.51.100.7", "mx.other.example", "other.example");\n'
            'echo $d["result"]; echo $d["policy"]; echo $d["from"];\n' % MESSAGE
        )
        self.assertEqual(lines, [b"pass", b"reject", b"reject", b"example.com"])

    async def test_dmarcByDkim(self):
        """A DKIM signature of the From domain aligns even when SPF fails."""
        lines = await self.run_script(
            'import { dmarc } from "extras://dmarc";\n'
            '$m = MailMessage::String("%s");\n'
            '$m->signDKIM("sel", "example.com", File("key.pem")->read());\n'
            '$m = MailMessage::String($m->toString());\n'
            '$d = dmarc($m, "198.51.100.7", "mx.other.example", "other.example");\n'
            'echo $d["result"]; echo $d["dkim_align"];\n' % MESSAGE
        )
        self.assertEqual(lines, [b"pass", b"pass"])

    async def test_arcSealThenValidate(self):
        """A sealed message validates with the key the zone publishes."""
        lines = await self.run_script(
            'import { arc_validate, arc_seal } from "extras://arc";\n'
            '$m = MailMessage::String("%s");\n'
            'echo arc_validate($m)["status"];\n'
            'echo arc_seal($m, "sel", "example.com", File("key.pem")->read(), "mx.example.com", "spf=pass", "none");\n'
            '$m = MailMessage::String($m->toString());\n'
            '$v = arc_validate($m); echo $v["status"]; echo $v["instances"];\n' % MESSAGE
        )
        self.assertEqual(lines, [b"none", b"true", b"pass", b"1"])

    async def test_mtaStsWithoutPolicy(self):
        """A domain without an MTA-STS record has no policy: none."""
        lines = await self.run_script('import { mta_sts } from "extras://mta-sts"; echo mta_sts("nopolicy.example");')
        self.assertEqual(lines, [b"none"])

    def test_unknownModule(self):
        with self.assertRaises(HSLSyntaxError) as caught:
            compile_program('import { x } from "extras://nothing";', "extras.hsl")
        self.assertEqual(str(caught.exception), "extras.hsl:1:1: no such module extras://nothing")

    def test_unknownFunction(self):
        with self.assertRaises(HSLSyntaxError) as caught:
            compile_program('import { nope } from "extras://dmarc";', "extras.hsl")
        self.assertEqual(str(caught.exception), "extras.hsl:1:10: extras://dmarc does not define nope")
