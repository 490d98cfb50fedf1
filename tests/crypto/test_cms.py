"""S/MIME signing, verification and encryption, each direction checked with `openssl cms`."""

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import cms
from halon.hsl.stdlib.crypto import ec_privatekey, rsa_privatekey
from halon.hsl.stdlib.x509 import X509Resource
from halon.hsl.values import HSLArray
from tests.crypto import keys
from tests.crypto.test_x509 import PKI

MESSAGE = b"Content-Type: text/plain\r\n\r\nSigned S/MIME body\r\n"


def _signer(cert, key_resource, chain=()):
    return HSLArray(
        {b"x509": X509Resource(cert), b"privatekey": key_resource, b"chain": HSLArray.from_list([X509Resource(c) for c in chain])}
    )


def _certs(**lists):
    return HSLArray({k.encode(): HSLArray.from_list([X509Resource(c) for c in v]) for k, v in lists.items()})


class SignTests(unittest.TestCase):
    def setUp(self):
        self.pki = PKI()
        self.openssl = keys.OpenSSL(self)
        self.ca = self.openssl.file("ca.pem", keys.cert_pem(self.pki.root))
        self.signer = _signer(self.pki.leaf, ec_privatekey(keys.pem(self.pki.leaf_key)), [self.pki.mid])

    def test_detachedVerifiedByOpenSSL(self):
        """cms_sign's detached signature (EC signer, chain included) verifies with openssl cms."""
        signature = cms.cms_sign(MESSAGE, self.signer)
        sig = self.openssl.file("sig.der", signature)
        msg = self.openssl.file("msg", MESSAGE)
        code, out, err = self.openssl.run(
            "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", msg, "-CAfile", self.ca, "-purpose", "any"
        )
        self.assertEqual(code, 0, err)
        self.assertEqual(out, MESSAGE)

    def test_attachedFromPEMString(self):
        """pkcs7_sign with one PEM string (certificate, chain, RSA key) and detached false embeds the content."""
        bundle = keys.cert_pem(self.pki.mid) + keys.cert_pem(self.pki.root) + keys.pem(self.pki.mid_key)
        signature = cms.pkcs7_sign(MESSAGE, bundle, HSLArray({b"detached": False}))
        sig = self.openssl.file("sig.der", signature)
        code, out, err = self.openssl.run("cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-CAfile", self.ca, "-purpose", "any")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, MESSAGE)
        result = cms.cms_verify(signature, None, _certs(store=[self.pki.root]))
        self.assertEqual(result.to_dict(), {b"result": True, b"data": MESSAGE})

    def test_signErrors(self):
        """A missing key or a key id gives none; a wrong certificate type raises."""
        self.assertIsNone(cms.cms_sign(MESSAGE, keys.cert_pem(self.pki.leaf)))
        self.assertIsNone(cms.cms_sign(MESSAGE, self.signer, HSLArray({b"id": True})))
        self.assertRaises(HSLRuntimeError, cms.cms_sign, MESSAGE, 1.0)


class VerifyTests(unittest.TestCase):
    def setUp(self):
        self.pki = PKI()
        self.openssl = keys.OpenSSL(self)
        self.msg = self.openssl.file("msg", MESSAGE)
        self.leaf = self.openssl.file("leaf.pem", keys.cert_pem(self.pki.leaf))
        self.key = self.openssl.file("key.pem", keys.pem(self.pki.leaf_key))
        self.mid = self.openssl.file("mid.pem", keys.cert_pem(self.pki.mid))

    def _openssl_sign(self, *extra):
        code, out, err = self.openssl.run(
            "cms", "-sign", "-binary", "-in", self.msg, "-signer", self.leaf, "-inkey", self.key, "-certfile", self.mid, "-outform", "DER", *extra
        )
        self.assertEqual(code, 0, err)
        return out

    def test_verifiesOpenSSLDetached(self):
        """An openssl cms detached signature verifies against the root; a changed message does not."""
        signature = self._openssl_sign()
        store = _certs(store=[self.pki.root])
        self.assertEqual(cms.cms_verify(signature, MESSAGE, store).to_dict(), {b"result": True})
        result = cms.cms_verify(signature, MESSAGE + b"tampered", store)
        self.assertEqual(result.to_dict(), {b"result": False, b"error": b"content verify error"})

    def test_verifiesOpenSSLAttachedPEM(self):
        """An attached signature in PEM form verifies and gives back its content."""
        signature = self._openssl_sign("-nodetach")
        code, pem, err = self.openssl.run("cms", "-cmsout", "-inform", "DER", "-outform", "PEM", stdin=signature)
        self.assertEqual(code, 0, err)
        result = cms.cms_verify(pem, None, _certs(store=[self.pki.root]))
        self.assertEqual(result.to_dict(), {b"result": True, b"data": MESSAGE})

    def test_trust(self):
        """Without a store the signer must be pinned in certs; a foreign store fails the chain."""
        signature = self._openssl_sign("-nocerts")
        self.assertEqual(cms.cms_verify(signature, MESSAGE, _certs(certs=[self.pki.leaf])).get(b"result"), True)
        result = cms.cms_verify(signature, MESSAGE, _certs(certs=[self.pki.mid]))
        self.assertEqual(result.get(b"error"), b"signer certificate not found")
        with_certs = self._openssl_sign()
        other_root = keys.certificate(keys.ec_key(), "Other Root", ca=True)
        result = cms.cms_verify(with_certs, MESSAGE, _certs(store=[other_root]))
        self.assertEqual(result.get(b"error"), b"unable to get local issuer certificate")
        self.assertEqual(cms.cms_verify(b"garbage", MESSAGE, _certs()).get(b"error"), b"invalid signature structure")


class EncryptTests(unittest.TestCase):
    def setUp(self):
        self.pki = PKI()
        self.openssl = keys.OpenSSL(self)
        self.recipient = self.pki.mid
        self.cert = self.openssl.file("recip.pem", keys.cert_pem(self.recipient))
        self.key = self.openssl.file("recip.key", keys.pem(self.pki.mid_key))

    def test_encryptDecryptedByOpenSSL(self):
        """cms_encrypt (AES-256) output decrypts with openssl cms -decrypt to the same bytes."""
        result = cms.cms_encrypt(MESSAGE, _certs(certs=[self.recipient]), HSLArray({b"cipher": b"aes-256-cbc"}))
        enc = self.openssl.file("enc.der", result.get(b"data"))
        code, out, err = self.openssl.run("cms", "-decrypt", "-binary", "-inform", "DER", "-in", enc, "-recip", self.cert, "-inkey", self.key)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, MESSAGE)

    def test_decryptOpenSSL(self):
        """cms_decrypt reads what openssl cms -encrypt made, with the key as a resource or PEM bundle."""
        msg = self.openssl.file("msg", MESSAGE)
        code, out, err = self.openssl.run("cms", "-encrypt", "-binary", "-aes256", "-in", msg, "-outform", "DER", self.cert)
        self.assertEqual(code, 0, err)
        as_array = HSLArray({b"x509": X509Resource(self.recipient), b"privatekey": rsa_privatekey(keys.pem(self.pki.mid_key))})
        self.assertEqual(cms.cms_decrypt(out, HSLArray({b"certificate": as_array})).to_dict(), {b"data": MESSAGE})
        bundle = keys.cert_pem(self.recipient) + keys.pem(self.pki.mid_key)
        self.assertEqual(cms.cms_decrypt(out, HSLArray({b"certificate": bundle})).get(b"data"), MESSAGE)

    def test_errors(self):
        """Decrypting with the wrong key, or encrypting to nobody, is an error entry, not an exception."""
        data = cms.cms_encrypt(MESSAGE, _certs(certs=[self.recipient])).get(b"data")
        other = keys.certificate(keys.rsa_key(), "other")
        wrong = HSLArray({b"x509": X509Resource(other), b"privatekey": rsa_privatekey(keys.pem(keys.rsa_key()))})
        self.assertIn(b"error", cms.cms_decrypt(data, HSLArray({b"certificate": wrong})).to_dict())
        self.assertIn(b"error", cms.cms_encrypt(MESSAGE, _certs(certs=[])).to_dict())
        self.assertIn(b"error", cms.cms_encrypt(MESSAGE, _certs(certs=[self.recipient]), HSLArray({b"cipher": b"des"})).to_dict())
