"""ARC sealing and chain validation across two hops."""

from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.trial import unittest

from halon.mailauth import arc
from tests.mailauth.test_dkim import _record

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
MESSAGE = (
    b"From: alice@example.com\r\nTo: list@lists.example.org\r\nSubject: hi\r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello\r\n"
)


def _keys(name):
    return _record(KEY) if name.rstrip(".").endswith("_domainkey.example.org") else None


def _add(headers, message):
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers) + message


class ARCTests(unittest.TestCase):
    def test_no_chain(self):
        """A message without ARC headers has status none."""
        self.assertEqual(arc.validate(MESSAGE, _keys).status, "none")

    def test_two_hops(self):
        """A sealed message validates; a second hop seals on top with cv=pass and validates."""
        first = arc.seal(MESSAGE, "arc", "example.org", KEY, "mx.example.org", "spf=pass smtp.mailfrom=example.com", "none")
        self.assertEqual([n for n, _ in first], [b"ARC-Seal", b"ARC-Message-Signature", b"ARC-Authentication-Results"])
        hop1 = _add(first, MESSAGE)
        chain = arc.validate(hop1, _keys)
        self.assertEqual((chain.status, chain.instances, chain.oldest_pass), ("pass", 1, 0))

        second = arc.seal(hop1, "arc", "example.org", KEY, "relay.example.org", "dkim=none", chain.status)
        self.assertIn(b"i=2", second[0][1])
        self.assertIn(b"cv=pass", second[0][1])
        hop2 = _add(second, hop1)
        chain = arc.validate(hop2, _keys)
        self.assertEqual((chain.status, chain.instances), ("pass", 2))

    def test_tampered_body_fails(self):
        """Changing the body after sealing makes the chain fail."""
        sealed = _add(arc.seal(MESSAGE, "arc", "example.org", KEY, "mx.example.org", "spf=pass", "none"), MESSAGE)
        self.assertEqual(arc.validate(sealed.replace(b"Hello", b"Goodbye"), _keys).status, "fail")
