"""AES, RSA and Ed25519 functions, checked against the openssl command line."""

from cryptography.hazmat.primitives import serialization
from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import crypto
from halon.hsl.values import HSLArray
from tests.crypto import keys


def _opts(**kw):
    return HSLArray({k.encode(): v for k, v in kw.items()})


class AESTests(unittest.TestCase):
    def setUp(self):
        self.openssl = keys.OpenSSL(self)

    def test_manualExample(self):
        """The manual's example (NUL-padded key, zero IV, CBC) matches openssl enc and decrypts back."""
        key = b"short aes-256 key".ljust(32, b"\0")
        iv = b"\0" * 16
        message = b"The quick brown fox jumps over the lazy dog"
        encrypted = crypto.aes_encrypt(message, key, b"cbc", _opts(iv=iv))
        path = self.openssl.file("plain", message)
        code, out, err = self.openssl.run("enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex(), "-in", path)
        self.assertEqual(code, 0, err)
        self.assertEqual(encrypted, out)
        self.assertEqual(crypto.aes_decrypt(encrypted, key, b"cbc", _opts(iv=iv)), message)

    def test_ecbWithoutPadding(self):
        """ECB without padding works on whole blocks and matches openssl -nopad; other lengths give none."""
        key = bytes(range(16))
        message = b"0123456789abcdef" * 2
        encrypted = crypto.aes_encrypt(message, key, b"ECB", _opts(padding=False))
        path = self.openssl.file("plain", message)
        code, out, err = self.openssl.run("enc", "-aes-128-ecb", "-nopad", "-K", key.hex(), "-in", path)
        self.assertEqual(encrypted, out)
        self.assertEqual(crypto.aes_decrypt(encrypted, key, b"ecb", _opts(padding=False)), message)
        self.assertIsNone(crypto.aes_encrypt(b"short", key, b"ecb", _opts(padding=False)))

    def test_decryptsOpenSSL(self):
        """What openssl encrypts with AES-192-CBC, aes_decrypt reads."""
        key, iv = bytes(range(24)), bytes(range(16, 32))
        path = self.openssl.file("plain", b"secret data")
        code, out, err = self.openssl.run("enc", "-aes-192-cbc", "-K", key.hex(), "-iv", iv.hex(), "-in", path)
        self.assertEqual(crypto.aes_decrypt(out, key, b"cbc", _opts(iv=iv)), b"secret data")

    def test_errorsAreNone(self):
        """Bad key length, missing IV, unknown mode and bad padding give none; bad options raise."""
        self.assertIsNone(crypto.aes_encrypt(b"x", b"short", b"ecb"))
        self.assertIsNone(crypto.aes_encrypt(b"x", bytes(16), b"cbc"))
        self.assertIsNone(crypto.aes_encrypt(b"x", bytes(16), b"gcm"))
        self.assertIsNone(crypto.aes_decrypt(b"x" * 16, bytes(16), b"ecb"))
        self.assertRaises(HSLRuntimeError, crypto.aes_encrypt, b"x", bytes(16), b"ecb", _opts(nope=1))


class RSATests(unittest.TestCase):
    def setUp(self):
        self.openssl = keys.OpenSSL(self)
        self.key = keys.rsa_key()
        self.message = b"message to sign\r\n"

    def _der(self, fmt):
        return self.key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())

    def test_signVerifiedByOpenSSL(self):
        """rsa_sign with every key form and hash gives signatures openssl dgst -verify accepts."""
        pub = self.openssl.file("pub.pem", keys.public_pem(self.key))
        msg = self.openssl.file("msg", self.message)
        resource = crypto.rsa_privatekey(keys.pem(self.key))
        self.assertTrue(crypto.is_rsa_privatekey(resource))
        forms = [
            (resource, None),
            (self._der(serialization.PrivateFormat.TraditionalOpenSSL), None),
            (self._der(serialization.PrivateFormat.PKCS8), _opts(format=b"PrivateKeyInfo")),
            (keys.traditional_pem(self.key), _opts(pem=True)),
        ]
        for key, options in forms:
            for name in (b"sha1", b"sha256", b"sha512"):
                opts = options or HSLArray()
                opts = opts.copy()
                opts.set(b"hash", name)
                signature = crypto.rsa_sign(self.message, key, opts)
                sig = self.openssl.file("sig", signature)
                code, out, err = self.openssl.run("dgst", "-" + name.decode(), "-verify", pub, "-signature", sig, msg)
                self.assertEqual(code, 0, (key, name, err))

    def test_verifyOpenSSLSignature(self):
        """rsa_verify accepts openssl's signature with the public key as PKCS#1 DER, SPKI DER and PEM."""
        keyfile = self.openssl.file("key.pem", keys.pem(self.key))
        msg = self.openssl.file("msg", self.message)
        code, signature, err = self.openssl.run("dgst", "-sha256", "-sign", keyfile, msg)
        self.assertEqual(code, 0, err)
        public = self.key.public_key()
        pkcs1 = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertIs(crypto.rsa_verify(self.message, signature, pkcs1), True)
        self.assertIs(crypto.rsa_verify(self.message, signature, spki, _opts(format=b"SubjectPublicKeyInfo")), True)
        self.assertIs(crypto.rsa_verify(self.message, signature, keys.public_pem(self.key), _opts(pem=True)), True)
        self.assertIs(crypto.rsa_verify(self.message + b"x", signature, pkcs1), False)
        self.assertIs(crypto.rsa_verify(self.message, signature, pkcs1, _opts(hash=b"sha1")), False)
        other = keys.rsa_key(second=True).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self.assertIs(crypto.rsa_verify(self.message, signature, other), False)

    def test_errorsAreNone(self):
        """Unparsable keys, unknown hashes and key ids give none; a wrong key type raises."""
        self.assertIsNone(crypto.rsa_privatekey(b"not a key"))
        self.assertIsNone(crypto.rsa_privatekey(keys.pem(keys.ec_key())))
        self.assertIsNone(crypto.rsa_sign(b"m", b"garbage"))
        self.assertIsNone(crypto.rsa_sign(b"m", crypto.rsa_privatekey(keys.pem(self.key)), _opts(hash=b"sha3")))
        self.assertIsNone(crypto.rsa_verify(b"m", b"s", b"garbage"))
        self.assertIsNone(crypto.rsa_sign(b"m", b"pki:1", _opts(id=True)))
        self.assertRaises(HSLRuntimeError, crypto.rsa_sign, b"m", 1.0)


class KeyTests(unittest.TestCase):
    def test_keyResources(self):
        """Each *_privatekey accepts only its own kind of key; is_* tells the kinds apart."""
        ec_pem, ed_pem, rsa_pem = keys.pem(keys.ec_key()), keys.pem(keys.ed25519_key()), keys.pem(keys.rsa_key())
        ec_res, ed_res, rsa_res = crypto.ec_privatekey(ec_pem), crypto.ed25519_privatekey(ed_pem), crypto.rsa_privatekey(rsa_pem)
        self.assertEqual(
            [crypto.is_ec_privatekey(ec_res), crypto.is_ed25519_privatekey(ed_res), crypto.is_rsa_privatekey(rsa_res)],
            [True, True, True],
        )
        self.assertFalse(crypto.is_ec_privatekey(rsa_res))
        self.assertFalse(crypto.is_rsa_privatekey(b"string"))
        self.assertIsNone(crypto.ec_privatekey(rsa_pem))
        self.assertIsNone(crypto.ed25519_privatekey(ec_pem))
        self.assertEqual(ec_res.hsl_resource_name, "ECPrivateKey")


class Ed25519Tests(unittest.TestCase):
    def setUp(self):
        self.openssl = keys.OpenSSL(self)
        self.key = keys.ed25519_key()
        self.raw = self.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        self.public = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def test_signVerifiedByOpenSSL(self):
        """ed25519_sign, with raw key bytes or a resource, makes signatures openssl pkeyutl verifies."""
        pub = self.openssl.file("pub.pem", keys.public_pem(self.key))
        msg = self.openssl.file("msg", b"sign me")
        for key in (self.raw, crypto.ed25519_privatekey(keys.pem(self.key))):
            signature = crypto.ed25519_sign(b"sign me", key)
            self.assertEqual(len(signature), 64)
            sig = self.openssl.file("sig", signature)
            code, out, err = self.openssl.run("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msg, "-sigfile", sig)
            self.assertEqual(code, 0, err)

    def test_verifyOpenSSLSignature(self):
        """ed25519_verify accepts openssl's signature and rejects a changed message; bad keys give none."""
        keyfile = self.openssl.file("key.pem", keys.pem(self.key))
        msg = self.openssl.file("msg", b"from openssl")
        code, signature, err = self.openssl.run("pkeyutl", "-sign", "-inkey", keyfile, "-rawin", "-in", msg)
        self.assertEqual(code, 0, err)
        self.assertIs(crypto.ed25519_verify(b"from openssl", signature, self.public), True)
        self.assertIs(crypto.ed25519_verify(b"from openssl!", signature, self.public), False)
        self.assertIsNone(crypto.ed25519_verify(b"m", signature, b"short"))
        self.assertIsNone(crypto.ed25519_sign(b"m", b"short"))
