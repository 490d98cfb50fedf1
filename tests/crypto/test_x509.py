"""X509 and X509CRL on certificates made at test time, cross-checked with openssl x509/crl."""

import datetime
import re

from cryptography.hazmat.primitives import serialization
from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib.x509 import X509, X509CRL, X509Resource
from halon.hsl.values import HSLArray
from tests.crypto import keys


class PKI:
    """A root CA, an intermediate CA, a leaf, and a CRL revoking one serial."""

    def __init__(self):
        self.root_key, self.mid_key, self.leaf_key = keys.rsa_key(), keys.rsa_key(second=True), keys.ec_key()
        self.root = keys.certificate(self.root_key, "Root CA", ca=True, days=3650)
        self.mid = keys.certificate(self.mid_key, "Intermediate CA", self.root, self.root_key, ca=True, days=365)
        self.leaf = keys.certificate(
            self.leaf_key, "mail.example.com", self.mid, self.mid_key, serial=0x1234ABCD, san=("mail.example.com", "example.com")
        )
        self.crl = keys.crl(self.mid, self.mid_key, [0x1234ABCD])
        self.empty_crl = keys.crl(self.mid, self.mid_key, [])


def _x509(cert):
    return X509(X509Resource(cert))


def _list(*certs):
    return HSLArray.from_list([X509Resource(c) for c in certs])


class X509Tests(unittest.TestCase):
    def setUp(self):
        self.pki = PKI()
        self.openssl = keys.OpenSSL(self)

    def test_fieldsMatchOpenSSL(self):
        """Subject, issuer, serial, dates and SAN agree with `openssl x509 -text`."""
        cert = X509.from_string(keys.cert_pem(self.pki.leaf))
        path = self.openssl.file("leaf.pem", keys.cert_pem(self.pki.leaf))
        code, text, err = self.openssl.run("x509", "-in", path, "-noout", "-serial", "-subject", "-enddate")
        self.assertEqual(code, 0, err)
        self.assertIn(b"serial=" + cert.serial_number(), text)
        self.assertEqual(cert.serial_number(), b"1234ABCD")
        self.assertEqual(
            [pair.to_list() for pair in cert.subject()],
            [[b"C", b"SE"], [b"O", b"Example Org"], [b"CN", b"mail.example.com"]],
        )
        self.assertEqual(cert.issuer().to_list()[-1].to_list(), [b"CN", b"Intermediate CA"])
        self.assertEqual(cert.subject_alt_name().to_list(), [b"mail.example.com", b"example.com"])
        self.assertEqual(cert.version(), 3.0)
        end = re.search(rb"notAfter=(.*)", text).group(1).decode().strip()
        parsed = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=datetime.timezone.utc)
        self.assertEqual(cert.not_valid_after(), parsed.timestamp())
        self.assertLess(cert.not_valid_before(), cert.not_valid_after())

    def test_exportAndPublicKey(self):
        """export and public_key give DER by default and PEM on request; DER and PEM both load."""
        cert = X509.from_string(keys.cert_pem(self.pki.leaf))
        der = cert.export()
        self.assertEqual(der, self.pki.leaf.public_bytes(serialization.Encoding.DER))
        self.assertEqual(X509.from_string(der).serial_number(), b"1234ABCD")
        self.assertTrue(cert.export(HSLArray({b"pem": True})).startswith(b"-----BEGIN CERTIFICATE-----"))
        spki = self.pki.leaf_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(cert.public_key(), spki)
        self.assertTrue(cert.public_key(HSLArray({b"pem": True})).startswith(b"-----BEGIN PUBLIC KEY-----"))
        self.assertIsInstance(cert.to_resource(), X509Resource)
        self.assertRaises(HSLRuntimeError, X509.from_string, b"not a certificate")

    def test_extensions(self):
        """extensions() lists each extension with its oid, name and critical flag."""
        exts = {e.get(b"name"): e for e in X509.from_string(keys.cert_pem(self.pki.leaf)).extensions()}
        self.assertTrue(exts[b"basicConstraints"].get(b"critical"))
        self.assertEqual(exts[b"subjectAltName"].get(b"oid"), b"2.5.29.17")

    def test_verifyChain(self):
        """A leaf verifies through its intermediate to the root, as `openssl verify` agrees."""
        leaf = _x509(self.pki.leaf)
        result = leaf.verify(_list(self.pki.root), _list(self.pki.mid))
        self.assertEqual(result.to_dict(), {b"result": True})
        ca = self.openssl.file("ca.pem", keys.cert_pem(self.pki.root))
        mid = self.openssl.file("mid.pem", keys.cert_pem(self.pki.mid))
        path = self.openssl.file("leaf.pem", keys.cert_pem(self.pki.leaf))
        code, out, err = self.openssl.run("verify", "-CAfile", ca, "-untrusted", mid, path)
        self.assertEqual(code, 0, err)

    def test_verifyFailures(self):
        """Missing intermediates, a wrong root, an expired certificate and a revoked one each fail with a reason."""
        leaf = _x509(self.pki.leaf)
        self.assertEqual(leaf.verify(_list(self.pki.root)).get(b"error"), b"unable to get local issuer certificate")
        other_root = keys.certificate(keys.rsa_key(second=True), "Other Root", ca=True)
        self.assertFalse(leaf.verify(_list(other_root), _list(self.pki.mid)).get(b"result"))
        old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=100)
        expired = keys.certificate(keys.ec_key(), "old", self.pki.mid, self.pki.mid_key, start=old, days=10)
        result = _x509(expired).verify(_list(self.pki.root), _list(self.pki.mid))
        self.assertEqual(result.get(b"error"), b"certificate has expired")
        crls = HSLArray.from_list([X509CRL.from_string(self.pki.crl.public_bytes(serialization.Encoding.PEM)).to_resource()])
        result = leaf.verify(_list(self.pki.root), _list(self.pki.mid), crls)
        self.assertEqual(result.to_dict(), {b"result": False, b"error": b"certificate revoked"})
        empty = HSLArray.from_list([X509CRL.from_string(self.pki.empty_crl.public_bytes(serialization.Encoding.DER)).to_resource()])
        self.assertTrue(leaf.verify(_list(self.pki.root), _list(self.pki.mid), empty).get(b"result"))
        self_signed = keys.certificate(keys.ec_key(), "self")
        self.assertEqual(_x509(self_signed).verify(_list(self.pki.root)).get(b"error"), b"self-signed certificate")
        self.assertTrue(_x509(self_signed).verify(_list(self_signed)).get(b"result"))

    def test_notCA(self):
        """A leaf certificate cannot act as an intermediate."""
        fake = keys.certificate(keys.ec_key(), "victim", self.pki.leaf, self.pki.leaf_key)
        result = _x509(fake).verify(_list(self.pki.root), _list(self.pki.mid, self.pki.leaf))
        self.assertEqual(result.get(b"error"), b"invalid CA certificate")


class X509CRLTests(unittest.TestCase):
    def test_fields(self):
        """A CRL's issuer, revoked entries (serial, reason), version and dates; `openssl crl` agrees."""
        pki = PKI()
        pem = pki.crl.public_bytes(serialization.Encoding.PEM)
        crl = X509CRL.from_string(pem)
        self.assertEqual(crl.issuer().to_list()[-1].to_list(), [b"CN", b"Intermediate CA"])
        revoked = crl.revoked().to_list()
        self.assertEqual(len(revoked), 1)
        self.assertEqual(revoked[0].get(b"serial_number"), b"1234ABCD")
        self.assertEqual(revoked[0].get(b"reason"), b"key_compromise")
        self.assertLess(crl.last_update(), crl.next_update())
        self.assertEqual(crl.export(), pki.crl.public_bytes(serialization.Encoding.DER))
        openssl = keys.OpenSSL(self)
        code, out, err = openssl.run("crl", "-in", openssl.file("crl.pem", pem), "-noout", "-text")
        self.assertEqual(code, 0, err)
        self.assertIn(b"Version %d" % crl.version(), out)
        self.assertIn(b"Serial Number: 1234ABCD", out)
        self.assertRaises(HSLRuntimeError, X509CRL.from_string, b"nope")
