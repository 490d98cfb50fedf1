"""
Hashes: md5, sha1, sha2 and their HMACs (hex by default, raw bytes with
the C{binary} option), the numeric hash(), and crypt() from the system's
libcrypt.
"""

import ctypes
import ctypes.util
import hashlib
import hmac as _hmac
import threading
import zlib

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, integer, options, string
from halon.hsl.values import truthy

_SHA2 = {224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}
_OPTIONS = {"binary"}


def _digest(fn, algorithm, message, options_):
    binary = truthy(options(fn, options_, _OPTIONS).get("binary", False))
    h = hashlib.new(algorithm, string(fn, message, "message"))
    return h.digest() if binary else h.hexdigest().encode("ascii")


def _hmac_digest(fn, algorithm, key, message, options_):
    binary = truthy(options(fn, options_, _OPTIONS).get("binary", False))
    h = _hmac.new(string(fn, key, "key"), string(fn, message, "message"), algorithm)
    return h.digest() if binary else h.hexdigest().encode("ascii")


def _sha2(fn, hashsize):
    size = integer(fn, hashsize, "hashsize")
    if size not in _SHA2:
        fail(fn, "hashsize must be 224, 256, 384 or 512")
    return _SHA2[size]


@core.function()
def md5(message, options_=None):
    return _digest("md5", "md5", message, options_)


@core.function()
def sha1(message, options_=None):
    return _digest("sha1", "sha1", message, options_)


@core.function()
def sha2(message, hashsize, options_=None):
    return _digest("sha2", _sha2("sha2", hashsize), message, options_)


@core.function()
def hmac_md5(key, message, options_=None):
    return _hmac_digest("hmac_md5", "md5", key, message, options_)


@core.function()
def hmac_sha1(key, message, options_=None):
    return _hmac_digest("hmac_sha1", "sha1", key, message, options_)


@core.function()
def hmac_sha2(key, message, hashsize, options_=None):
    return _hmac_digest("hmac_sha2", _sha2("hmac_sha2", hashsize), key, message, options_)


@core.function("hash")
def hash_(message):
    """CRC-32 of the message: stable across runs and hosts, 0 .. 2**32-1."""
    return float(zlib.crc32(string("hash", message, "message")))


class _Crypt:
    """libcrypt's crypt(3); its result buffer is static, hence the lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fn = None
        name = ctypes.util.find_library("crypt")
        if name:
            lib = ctypes.CDLL(name, use_errno=True)
            self._fn = lib.crypt
            self._fn.restype = ctypes.c_char_p
            self._fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

    def __call__(self, key, salt):
        if self._fn is None:
            fail("crypt", "the system has no libcrypt")
        with self._lock:
            result = self._fn(key, salt)
        if result is None or result.startswith(b"*"):
            return None
        return result


_crypt = None


@core.function()
def crypt(key, salt):
    """The system crypt(3) of C{key} with C{salt}; none when the salt is not understood."""
    global _crypt
    if _crypt is None:
        _crypt = _Crypt()
    key = string("crypt", key, "key")
    salt = string("crypt", salt, "salt")
    if b"\0" in key or b"\0" in salt:
        return None
    return _crypt(key, salt)
