"""
Symmetric and public-key crypto for scripts: AES, RSA signatures, EC and
Ed25519 keys, on the C{cryptography} package.

These functions return C{none} on error (a wrong key length, a key that
does not parse, bad padding), as Halon's do; a script checks the result
instead of catching.  Only wrong argument types raise.

Keys are resources made once from PEM (C{rsa_privatekey} ...) or strings
given each time: raw DER (default) or PEM with C{"pem" => true}, for RSA
in the PKCS#1 (RSAPrivateKey/RSAPublicKey, default) or PKCS#8/SPKI
(PrivateKeyInfo/SubjectPublicKeyInfo) format; Ed25519 keys as the raw 32
bytes.  Key ids (C{"id" => true}, Halon's "pki:X") need a key store this
host does not have, so they give C{none}.
"""

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.values import HSLArray, HSLResource, to_bytes, truthy

__all__ = ["RSAPrivateKey", "ECPrivateKey", "ED25519PrivateKey", "private_key_of", "load_pem_private_key"]

_HASHES = {b"md5": hashes.MD5, b"sha1": hashes.SHA1, b"sha256": hashes.SHA256, b"sha512": hashes.SHA512}


class _PrivateKey(HSLResource):
    """A parsed private key held for a script."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


class RSAPrivateKey(_PrivateKey):
    __slots__ = ()
    hsl_resource_name = "RSAPrivateKey"


class ECPrivateKey(_PrivateKey):
    __slots__ = ()
    hsl_resource_name = "ECPrivateKey"


class ED25519PrivateKey(_PrivateKey):
    __slots__ = ()
    hsl_resource_name = "ED25519PrivateKey"


_RESOURCE_OF = (
    (rsa.RSAPrivateKey, RSAPrivateKey),
    (ec.EllipticCurvePrivateKey, ECPrivateKey),
    (ed25519.Ed25519PrivateKey, ED25519PrivateKey),
)


def load_pem_private_key(data):
    """A cryptography private key from PEM (PKCS#8 or traditional), or None."""
    try:
        return serialization.load_pem_private_key(to_bytes(data), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def private_key_of(value):
    """The cryptography key inside one of our key resources, or None."""
    return value.key if isinstance(value, _PrivateKey) else None


def _options(options, function, allowed):
    if options is None:
        return {}
    if not isinstance(options, HSLArray):
        raise HSLRuntimeError("%s(): options must be an array" % function)
    out = {}
    for key, value in options.items():
        name = to_bytes(key)
        if name not in allowed:
            raise HSLRuntimeError("%s(): unknown option %r" % (function, name.decode("utf-8", "replace")))
        out[name] = value
    return out


def _typed_key(kind, data):
    """A C{kind} resource from PEM when the key in it is of that kind, else None."""
    key = load_pem_private_key(data) if isinstance(data, bytes) else None
    for key_class, resource in _RESOURCE_OF:
        if resource is kind:
            return kind(key) if isinstance(key, key_class) else None
    raise AssertionError(kind)


# -- AES ------------------------------------------------------------------------


def _aes(function, message, key, mode, options, encrypt):
    opts = _options(options, function, {b"iv", b"padding"})
    key = to_bytes(key)
    if len(key) not in (16, 24, 32):
        return None
    mode = to_bytes(mode).lower()
    if mode == b"cbc":
        iv = to_bytes(opts.get(b"iv", b""))
        if len(iv) != 16:
            return None
        cipher_mode = modes.CBC(iv)
    elif mode == b"ecb":
        cipher_mode = modes.ECB()
    else:
        return None
    pad = truthy(opts.get(b"padding", True))
    data = to_bytes(message)
    cipher = Cipher(algorithms.AES(key), cipher_mode)
    try:
        if encrypt:
            if pad:
                padder = padding.PKCS7(128).padder()
                data = padder.update(data) + padder.finalize()
            context = cipher.encryptor()
            return context.update(data) + context.finalize()
        context = cipher.decryptor()
        data = context.update(data) + context.finalize()
        if pad:
            unpadder = padding.PKCS7(128).unpadder()
            data = unpadder.update(data) + unpadder.finalize()
        return data
    except ValueError:
        return None


@core.function()
def aes_encrypt(message, key, mode, options=None):
    return _aes("aes_encrypt", message, key, mode, options, True)


@core.function()
def aes_decrypt(message, key, mode, options=None):
    return _aes("aes_decrypt", message, key, mode, options, False)


# -- key resources ----------------------------------------------------------------


@core.function()
def rsa_privatekey(privatekey):
    return _typed_key(RSAPrivateKey, privatekey)


@core.function()
def is_rsa_privatekey(privatekey):
    return isinstance(privatekey, RSAPrivateKey)


@core.function()
def ec_privatekey(privatekey):
    return _typed_key(ECPrivateKey, privatekey)


@core.function()
def is_ec_privatekey(privatekey):
    return isinstance(privatekey, ECPrivateKey)


@core.function()
def ed25519_privatekey(privatekey):
    return _typed_key(ED25519PrivateKey, privatekey)


@core.function()
def is_ed25519_privatekey(privatekey):
    return isinstance(privatekey, ED25519PrivateKey)


# -- RSA signatures -----------------------------------------------------------------


def _hash(opts):
    algorithm = _HASHES.get(to_bytes(opts.get(b"hash", b"sha256")).lower())
    return None if algorithm is None else algorithm()


def _load_rsa_private(data, opts):
    data = to_bytes(data)
    try:
        if truthy(opts.get(b"pem", False)):
            key = serialization.load_pem_private_key(data, None)
        else:
            key = serialization.load_der_private_key(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def _load_rsa_public(data, opts):
    data = to_bytes(data)
    try:
        if truthy(opts.get(b"pem", False)):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


_RSA_OPTIONS = {b"hash", b"format", b"pem", b"id"}


@core.function()
def rsa_sign(message, privatekey, options=None):
    opts = _options(options, "rsa_sign", _RSA_OPTIONS)
    algorithm = _hash(opts)
    if algorithm is None or truthy(opts.get(b"id", False)):
        return None
    if isinstance(privatekey, RSAPrivateKey):
        key = privatekey.key
    elif isinstance(privatekey, bytes):
        key = _load_rsa_private(privatekey, opts)
    else:
        raise HSLRuntimeError("rsa_sign(): the private key must be an RSAPrivateKey or a string")
    if key is None:
        return None
    return key.sign(to_bytes(message), asym_padding.PKCS1v15(), algorithm)


@core.function()
def rsa_verify(message, signature, publickey, options=None):
    opts = _options(options, "rsa_verify", _RSA_OPTIONS)
    algorithm = _hash(opts)
    if algorithm is None or truthy(opts.get(b"id", False)):
        return None
    key = _load_rsa_public(publickey, opts)
    if key is None:
        return None
    try:
        key.verify(to_bytes(signature), to_bytes(message), asym_padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


# -- Ed25519 ----------------------------------------------------------------------------


@core.function()
def ed25519_sign(message, privatekey):
    if isinstance(privatekey, ED25519PrivateKey):
        key = privatekey.key
    elif isinstance(privatekey, bytes):
        if len(privatekey) not in (32, 64):
            return None
        key = ed25519.Ed25519PrivateKey.from_private_bytes(privatekey[:32])
    else:
        raise HSLRuntimeError("ed25519_sign(): the private key must be an ED25519PrivateKey or a string")
    return key.sign(to_bytes(message))


@core.function()
def ed25519_verify(message, signature, publickey):
    publickey = to_bytes(publickey)
    if len(publickey) != 32:
        return None
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(publickey).verify(to_bytes(signature), to_bytes(message))
    except InvalidSignature:
        return False
    except ValueError:
        return None
    return True
