"""TLSA matching of certificate chains for DANE-EE and DANE-TA."""

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.trial import unittest

from halon.mailauth import dane
from tests.util.certs import make_ca, make_leaf


def _der(pem):
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _spki(pem):
    return x509.load_pem_x509_certificate(pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class DANETests(unittest.TestCase):
    def setUp(self):
        self.ca_pem, ca_key = make_ca()
        self.leaf_pem, _ = make_leaf(self.ca_pem, ca_key, ("mx.example.com",))
        self.chain = [_der(self.leaf_pem), _der(self.ca_pem)]
        other_ca, other_key = make_ca("Other CA")
        self.other_leaf, _ = make_leaf(other_ca, other_key, ("mx.example.com",))

    def test_dane_ee(self):
        """3 1 1 (SPKI SHA-256), 3 0 0 (full certificate) and 3 0 2 (SHA-512) match the end entity."""
        for record in (
            (3, 1, 1, hashlib.sha256(_spki(self.leaf_pem)).digest()),
            (3, 0, 0, _der(self.leaf_pem)),
            (3, 0, 2, hashlib.sha512(_der(self.leaf_pem)).digest()),
        ):
            verdict = dane.verify([record], self.chain)
            self.assertTrue(verdict.ok, verdict.reason)

    def test_dane_ta(self):
        """2 0 1 matches the CA, provided the end entity is issued by it and the name matches."""
        record = (2, 0, 1, hashlib.sha256(_der(self.ca_pem)).digest())
        self.assertTrue(dane.verify([record], self.chain, "mx.example.com").ok)
        self.assertFalse(dane.verify([record], self.chain, "other.example.com").ok)
        forged = [_der(self.other_leaf), _der(self.ca_pem)]
        self.assertFalse(dane.verify([record], forged, "mx.example.com").ok)

    def test_mismatch_and_unusable(self):
        """A wrong digest fails; PKIX usages 0/1 alone are not usable for SMTP."""
        wrong = dane.verify([(3, 1, 1, b"\0" * 32)], self.chain)
        self.assertEqual((wrong.ok, wrong.usable), (False, True))
        unusable = dane.verify([(1, 1, 1, hashlib.sha256(_spki(self.leaf_pem)).digest())], self.chain)
        self.assertEqual((unusable.ok, unusable.usable), (False, False))
        self.assertFalse(dane.verify([(3, 1, 1, b"x")], []).ok)

    def test_tlsa_name(self):
        """TLSA records live at _port._tcp.host."""
        self.assertEqual(dane.tlsa_name("mx.example.com."), "_25._tcp.mx.example.com")
