"""DKIM signing with Halon's options and verification, against RFC 8463's example."""

import base64
import time

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from twisted.trial import unittest

from halon.mailauth import dkim
from tests.mailauth import rfc8463


def _fetch(records):
    def fetch(name):
        if name.rstrip(".") in records:
            return records[name.rstrip(".")]
        raise dkim.KeyUnavailable("no key at %s" % (name,), temporary=False)

    return fetch


def _record(key):
    public = key.public_key()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _signed(name, value, message):
    return name + b": " + value + b"\r\n" + message


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = serialization.load_pem_private_key(rfc8463.ED25519_PRIVATE_PEM, None)


class RFC8463Tests(unittest.TestCase):
    def test_both_published_signatures_verify(self):
        """The Ed25519 and the RSA signature of RFC 8463 A.3 pass."""
        for header in (rfc8463.ED25519_SIGNATURE, rfc8463.RSA_SIGNATURE):
            result = dkim.verify(rfc8463.SIGNED, header, _fetch(rfc8463.RECORDS))
            self.assertEqual((result.result, result.error), ("pass", None))
            self.assertEqual(result.tags[b"d"], b"football.example.com")

    def test_signing_the_example_gives_its_body_hash(self):
        """Our relaxed body canonicalisation hashes the example body as the RFC does."""
        name, value = dkim.sign(rfc8463.UNSIGNED, "brisbane", "football.example.com", ED_KEY, algorithm="ed25519-sha256")
        self.assertIn(b"bh=" + rfc8463.BODY_HASH, value)

    def test_our_ed25519_signature_verifies_with_dkimpy(self):
        """dkimpy's verifier accepts an ed25519-sha256 signature made with the RFC's key."""
        name, value = dkim.sign(rfc8463.UNSIGNED, "brisbane", "football.example.com", ED_KEY, algorithm="ed25519-sha256")
        signed = _signed(name, value, rfc8463.UNSIGNED)
        record = rfc8463.RECORDS["brisbane._domainkey.football.example.com"]
        self.assertTrue(dkimpy.verify(signed, dnsfunc=lambda n, timeout=5: record))


class SignTests(unittest.TestCase):
    message = (
        b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
        b"X-Other: not signed\r\n\r\nHello  Bob, \t\r\n\r\n\r\n"
    )

    def _verify_both(self, name, value, key, message=None):
        message = self.message if message is None else message
        signed = _signed(name, value, message)
        record = _record(key)
        self.assertTrue(dkimpy.verify(signed, dnsfunc=lambda n, timeout=5: record))
        ours = dkim.verify(signed, name + b": " + value, lambda n: record)
        self.assertEqual(ours.result, "pass", ours.error)
        return ours.tags

    def test_defaults(self):
        """rsa-sha256, relaxed/relaxed, no t= or i=, From over-signed, recommended headers only."""
        name, value = dkim.sign(self.message, "sel", "example.com", RSA_KEY)
        self.assertEqual(name, b"DKIM-Signature")
        tags = self._verify_both(name, value, RSA_KEY)
        self.assertEqual(tags[b"a"], b"rsa-sha256")
        self.assertEqual(tags[b"c"], b"relaxed/relaxed")
        self.assertNotIn(b"t", tags)
        self.assertNotIn(b"i", tags)
        self.assertEqual(tags[b"h"], b"from:subject:date:to:message-id:from")

    def test_simple_canonicalization_and_ed25519(self):
        """simple/simple with an Ed25519 key verifies, and breaks on a whitespace change."""
        key = ed25519.Ed25519PrivateKey.generate()
        name, value = dkim.sign(
            self.message, "ed", "example.com", key, algorithm="ed25519-sha256",
            canonicalization_header="simple", canonicalization_body="simple",
        )
        self._verify_both(name, value, key)
        changed = _signed(name, value, self.message.replace(b"Hello  Bob", b"Hello Bob"))
        self.assertEqual(dkim.verify(changed, name + b": " + value, lambda n: _record(key)).result, "permerror")

    def test_options(self):
        """timestamp, expiration_relative, identity, headers and additional_headers become tags."""
        now = int(time.time())
        name, value = dkim.sign(
            self.message, "sel", "example.com", RSA_KEY, timestamp=now, expiration_relative=600,
            identity="alice@example.com", headers=["from", "to"], additional_headers=["x-other"],
            oversign_headers=(),
        )
        tags = self._verify_both(name, value, RSA_KEY)
        self.assertEqual((tags[b"t"], tags[b"x"], tags[b"i"]), (b"%d" % now, b"%d" % (now + 600), b"alice@example.com"))
        self.assertEqual(tags[b"h"], b"from:to")

    def test_additional_headers_join_the_default_set(self):
        """additional_headers adds to the recommended headers when headers is not given."""
        name, value = dkim.sign(self.message, "sel", "example.com", RSA_KEY, additional_headers=["X-Other"])
        self.assertIn(b"x-other", self._verify_both(name, value, RSA_KEY)[b"h"])

    def test_oversigned_from_blocks_an_added_from(self):
        """A second From added after signing breaks the signature (From is over-signed)."""
        name, value = dkim.sign(self.message, "sel", "example.com", RSA_KEY)
        forged = _signed(name, value, b"From: mallory@example.net\r\n" + self.message)
        self.assertEqual(dkim.verify(forged, name + b": " + value, lambda n: _record(RSA_KEY)).result, "permerror")

    def test_refusals(self):
        """A key that does not fit the algorithm, an unknown algorithm or an unsigned From are errors."""
        with self.assertRaises(dkim.DKIMError):
            dkim.sign(self.message, "sel", "example.com", RSA_KEY, algorithm="ed25519-sha256")
        with self.assertRaises(dkim.DKIMError):
            dkim.sign(self.message, "sel", "example.com", RSA_KEY, algorithm="rsa-md5")
        with self.assertRaises(dkim.DKIMError):
            dkim.sign(self.message, "sel", "example.com", RSA_KEY, headers=["to"])
        with self.assertRaises(dkim.DKIMError):
            dkim.sign(self.message, "sel", "example.com", b"not a key")


class VerifyTests(unittest.TestCase):
    def setUp(self):
        self.message = SignTests.message
        self.name, self.value = dkim.sign(self.message, "sel", "example.com", RSA_KEY, expiration=2000000000)
        self.field = self.name + b": " + self.value
        self.signed = _signed(self.name, self.value, self.message)

    def test_key_errors(self):
        """A missing key is a permerror, a DNS failure a temperror."""
        self.assertEqual(dkim.verify(self.signed, self.field, _fetch({})).result, "permerror")

        def failing(name):
            raise dkim.KeyUnavailable("SERVFAIL", temporary=True)

        self.assertEqual(dkim.verify(self.signed, self.field, failing).result, "temperror")

    def test_expired(self):
        """A signature past its x= is a permerror."""
        result = dkim.verify(self.signed, self.field, lambda n: _record(RSA_KEY), now=2000000001)
        self.assertEqual((result.result, result.error), ("permerror", "signature expired"))

    def test_field_must_be_in_the_message(self):
        """Verifying a header that the message does not carry fails with a reason."""
        result = dkim.verify(self.message, self.field, lambda n: _record(RSA_KEY))
        self.assertEqual(result.result, "permerror")
        self.assertIn("not in the message", result.error)

    def test_malformed(self):
        """A header without the mandatory tags is a permerror."""
        signed = b"DKIM-Signature: v=1; d=example.com\r\n" + self.message
        result = dkim.verify(signed, b"DKIM-Signature: v=1; d=example.com", lambda n: _record(RSA_KEY))
        self.assertEqual(result.result, "permerror")
