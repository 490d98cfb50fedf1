"""The resolver, spf and dkim services as scripts call them: HSL values in and out."""

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from cryptography.hazmat.primitives import serialization

from halon import mime
from halon.dns.functions import DNSFunctions
from halon.hsl.host import Host
from halon.hsl.values import HSLArray, to_bytes
from halon.mailauth import service
from tests.mailauth._dns import DNSFixture
from tests.mailauth.test_dkim import RSA_KEY, _record

ZONE = {
    ("example.com", "a"): ["192.0.2.1", "192.0.2.2"],
    ("example.com", "mx"): [(10, "mx.example.com")],
    ("example.com", "txt"): [b"v=spf1 ip4:127.0.0.1 -all"],
    ("sel._domainkey.example.com", "txt"): [_record(RSA_KEY)],
    ("1.2.0.192.in-addr.arpa", "ptr"): ["host.example.com"],
    ("broken.example", "*"): "SERVFAIL",
}

RSA_KEY_PEM = RSA_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n"


def _array(**items):
    array = HSLArray()
    for k, v in items.items():
        array.set(k.encode(), v)
    return array


class ServiceTests(DNSFixture, unittest.TestCase):
    zone = ZONE
    signed = ["example.com"]

    def setUp(self):
        self.start_dns()
        self.host = Host()
        self.host.services["resolver"] = DNSFunctions(reactor, self.lookup)
        self.host.services["spf"] = service.SPFService(self.lookup, 2.0)
        self.host.services["dkim"] = service.DKIMService(self.lookup, {"k1": b""}, 2.0)

    def call(self, name, function, *args):
        return deferToThread(lambda: getattr(self.host.service(name, function), function)(*args))

    async def test_dns_query_shapes(self):
        """Results, errors and the dnssec flag in the manual's shape."""
        a = await self.call("resolver", "dns_query", b"example.com")
        self.assertEqual(to_bytes(a), b'["result"=>[0=>"192.0.2.1",1=>"192.0.2.2"],"dnssec"=>true]')
        mx = await self.call("resolver", "dns_query", b"example.com", _array(type=b"mx"))
        self.assertEqual(mx.get(b"result").get(0.0), b"10 mx.example.com")
        ptr = await self.call("resolver", "dns_query", b"1.2.0.192.in-addr.arpa", _array(type=b"ptr"))
        self.assertEqual(ptr.get(b"result").to_list(), [b"host.example.com"])
        nx = await self.call("resolver", "dns_query", b"nxdomain.example")
        self.assertEqual(to_bytes(nx), b'["error"=>"NXDOMAIN","dnssec"=>false]')
        fail = await self.call("resolver", "dns_query", b"broken.example")
        self.assertEqual(fail.get(b"error"), b"SERVFAIL")

    async def test_spf_query(self):
        """spf_query returns ["result" => ...]."""
        ok = await self.call("spf", "spf_query", b"127.0.0.1", b"helo.example", b"example.com")
        self.assertEqual(ok.get(b"result"), b"pass")
        bad = await self.call("spf", "spf_query", b"192.0.2.9", b"helo.example", b"user@example.com")
        self.assertEqual(bad.get(b"result"), b"fail")

    async def test_dkim_sign_then_verify_through_dns(self):
        """A signature made through the service verifies with the key fetched from DNS."""
        message = mime.parse(MESSAGE)
        name, value = await self.call("dkim", "sign", message, b"sel", b"example.com", RSA_KEY_PEM)
        signed = mime.parse(name + b": " + value + b"\r\n" + MESSAGE)
        result = await self.call("dkim", "verify", signed, name + b": " + value)
        self.assertEqual(result.get(b"result"), b"pass")
        self.assertEqual(result.get(b"tags").get(b"d"), b"example.com")

    async def test_dkim_sign_errors_return_none(self):
        """An unusable key or an unknown pki id gives none, not an exception."""
        message = mime.parse(MESSAGE)
        self.assertIsNone(await self.call("dkim", "sign", message, b"sel", b"example.com", b"garbage"))
        self.assertIsNone(await self.call("dkim", "sign", message, b"sel", b"example.com", b"pki:nope"))

    async def test_dkim_custom_dns_function(self):
        """The dns_function option answers key lookups instead of DNS; its errors map to results."""
        message = mime.parse(MESSAGE)
        name, value = await self.call("dkim", "sign", message, b"other", b"example.com", RSA_KEY_PEM)
        signed = mime.parse(name + b": " + value + b"\r\n" + MESSAGE)
        good = _array(dns_function=lambda n: _array(result=_record(RSA_KEY)))
        temp = _array(dns_function=lambda n: _array(error=b"temperror"))
        self.assertEqual((await self.call("dkim", "verify", signed, name + b": " + value, good)).get(b"result"), b"pass")
        self.assertEqual((await self.call("dkim", "verify", signed, name + b": " + value, temp)).get(b"result"), b"temperror")

