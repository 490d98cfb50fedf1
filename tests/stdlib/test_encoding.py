"""Encodings, hashes, pack/unpack."""

import gzip
import subprocess
import zlib

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from tests.stdlib.helpers import amap, fn, plain


class BaseNTests(unittest.TestCase):
    def test_base64(self):
        """Standard base64 both ways; decoding skips line breaks and tolerates missing padding."""
        self.assertEqual(fn("base64_encode")(b"Hello"), b"SGVsbG8=")
        self.assertEqual(fn("base64_decode")(b"SGVsbG8="), b"Hello")
        self.assertEqual(fn("base64_decode")(b"SGVs\r\nbG8"), b"Hello")
        self.assertEqual(fn("base64_decode")(b""), b"")

    def test_base64url(self):
        """URL-safe alphabet, no padding; decoding accepts padding too."""
        data = b"\xfb\xff\xfe"
        self.assertEqual(fn("base64url_encode")(data), b"-__-")
        self.assertEqual(fn("base64url_decode")(b"-__-"), data)
        self.assertEqual(fn("base64url_encode")(b"a"), b"YQ")
        self.assertEqual(fn("base64url_decode")(b"YQ=="), b"a")

    def test_base32(self):
        """RFC 4648 test vectors; none for text that is not base32."""
        self.assertEqual(fn("base32_encode")(b"foobar"), b"MZXW6YTBOI======")
        self.assertEqual(fn("base32_decode")(b"MZXW6YTBOI======"), b"foobar")
        self.assertEqual(fn("base32_decode")(b"mzxw6ytboi"), b"foobar")
        self.assertIsNone(fn("base32_decode")(b"1!"))


class EscapingTests(unittest.TestCase):
    def test_url(self):
        """RFC 3986 unreserved characters stay; the rest is %XX; + is not a space."""
        self.assertEqual(fn("url_encode")(b"a b&c/\xc3\xbc-._~"), b"a%20b%26c%2F%C3%BC-._~")
        self.assertEqual(fn("url_decode")(b"a%20b%2fc+%zz%"), b"a b/c+%zz%")

    def test_xtext(self):
        """RFC 1891: + and = and non-printables become +XX."""
        self.assertEqual(fn("xtext_encode")(b"a+b=c d\xff"), b"a+2Bb+3Dc+20d+FF")
        self.assertEqual(fn("xtext_decode")(b"a+2Bb+3Dc+20d+FF"), b"a+b=c d\xff")

    def test_mimeword(self):
        """Q-encoded UTF-8 word out; any charset and B or Q in."""
        self.assertEqual(fn("mimeword_encode")(b"Hej d\xc3\xa5"), b"=?utf-8?Q?Hej_d=C3=A5?=")
        self.assertEqual(fn("mimeword_decode")(b"=?utf-8?Q?Hej_d=C3=A5?="), b"Hej d\xc3\xa5")
        self.assertEqual(fn("mimeword_decode")(b"=?iso-8859-1?B?5Q==?= =?utf-8?Q?x?= y"), b"\xc3\xa5x y")


class ZlibTests(unittest.TestCase):
    def test_roundTrip(self):
        """zlib format by default, readable by the zlib module."""
        data = b"hello " * 100
        packed = fn("zlib_compress")(data)
        self.assertEqual(zlib.decompress(packed), data)
        self.assertEqual(fn("zlib_uncompress")(packed), data)

    def test_windowBits(self):
        """gzip (31) and raw deflate (-15) through windowbits; gzip is detected by default."""
        data = b"x" * 1000
        self.assertEqual(gzip.decompress(fn("zlib_compress")(data, 9.0, 31.0)), data)
        raw = fn("zlib_compress")(data, 6.0, -15.0)
        self.assertEqual(fn("zlib_uncompress")(raw, -15.0), data)
        self.assertEqual(fn("zlib_uncompress")(gzip.compress(data)), data)

    def test_bad(self):
        """Garbage and truncated data decompress to none; bad levels are errors."""
        self.assertIsNone(fn("zlib_uncompress")(b"garbage"))
        self.assertIsNone(fn("zlib_uncompress")(zlib.compress(b"abc" * 100)[:-5]))
        self.assertRaises(HSLRuntimeError, fn("zlib_compress"), b"x", 10.0)


class HashTests(unittest.TestCase):
    def test_digests(self):
        """Hex digests, including the Rosetta Code SHA-1 and SHA-256 outputs."""
        self.assertEqual(fn("md5")(b""), b"d41d8cd98f00b204e9800998ecf8427e")
        self.assertEqual(fn("sha1")(b"Rosetta Code"), b"48c98f7e5a6e736d790ab740dfc3f51a61abe2b5")
        self.assertEqual(
            fn("sha2")(b"Rosetta code", 256.0), b"764faf5c61ac315f1497f9dfa542713965b785e5cc2f707d6468d7d1124cdfcf"
        )
        self.assertEqual(len(fn("sha2")(b"x", 512.0)), 128)
        self.assertRaises(HSLRuntimeError, fn("sha2"), b"x", 100.0)

    def test_binaryOption(self):
        """binary => true gives the raw digest."""
        self.assertEqual(fn("md5")(b"", amap([("binary", True)])).hex(), "d41d8cd98f00b204e9800998ecf8427e")
        self.assertRaises(HSLRuntimeError, fn("md5"), b"", amap([("hex", True)]))

    def test_hmac(self):
        """RFC 2202/4231 test vectors for the three HMACs."""
        key, msg = b"Jefe", b"what do ya want for nothing?"
        self.assertEqual(fn("hmac_md5")(key, msg), b"750c783e6ab0b503eaa86e310a5db738")
        self.assertEqual(fn("hmac_sha1")(key, msg), b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        self.assertEqual(
            fn("hmac_sha2")(key, msg, 256.0), b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )
        self.assertEqual(len(fn("hmac_sha2")(key, msg, 512.0, amap([("binary", True)]))), 64)

    def test_hash(self):
        """A stable number, equal for equal messages."""
        self.assertEqual(fn("hash")(b"abc"), fn("hash")(b"abc"))
        self.assertEqual(fn("hash")(b"abc"), float(zlib.crc32(b"abc")))
        self.assertNotEqual(fn("hash")(b"abc"), fn("hash")(b"abd"))

    def test_crypt(self):
        """crypt() agrees with openssl passwd, and verifies as the manual shows."""
        expected = subprocess.run(
            ["openssl", "passwd", "-1", "-salt", "abcdefgh", "secret"], capture_output=True, check=True
        ).stdout.strip()
        self.assertEqual(fn("crypt")(b"secret", b"$1$abcdefgh$"), expected)
        self.assertEqual(fn("crypt")(b"secret", expected), expected)
        self.assertNotEqual(fn("crypt")(b"wrong", expected), expected)


class PackTests(unittest.TestCase):
    def test_manualExamples(self):
        """pack("a32", ...) pads with NUL; pack("x16") is sixteen NULs; the inet_pton masking example."""
        self.assertEqual(fn("pack")(b"a32", b"short aes-256 key"), b"short aes-256 key".ljust(32, b"\0"))
        self.assertEqual(fn("pack")(b"x16"), b"\0" * 16)
        x = fn("unpack")(b"N*", bytes([192, 168, 1, 77]))
        self.assertEqual(plain(x), [3232235853.0])
        masked = fn("pack")(b"N*", float(int(x.get(0)) & 0xFFFFFF00))
        self.assertEqual(masked, bytes([192, 168, 1, 0]))

    def test_codes(self):
        """Every code of the table, with counts and * repeaters."""
        packed = fn("pack")(b"Cnv NVeE Z*a3H4", 1.0, 2.0, 3.0, 4.0, 5.0, 1.5, -2.0, b"zz", b"ab", b"beef")
        self.assertEqual(
            packed.hex(),
            "01" + "0002" + "0300" + "00000004" + "05000000" + "000000000000f83f" + "c000000000000000" + "7a7a00" + "616200" + "beef",
        )
        values = fn("unpack")(b"Cnv NVeE Z*a3H4", packed)
        self.assertEqual(plain(values), [1.0, 2.0, 3.0, 4.0, 5.0, 1.5, -2.0, "zz", "ab\0", "beef"])
        self.assertEqual(plain(fn("unpack")(b"c2", b"\xff\x01")), [-1.0, 1.0])
        self.assertEqual(plain(fn("unpack")(b"x2C", b"abc")), [99.0])
        self.assertEqual(plain(fn("unpack")(b"C", b"abc", 1.0)), [98.0])
        self.assertEqual(plain(fn("unpack")(b"Z5", b"ab\0cd")), ["ab"])

    def test_errors(self):
        """Too few arguments or data, unknown codes: none."""
        self.assertIsNone(fn("pack")(b"C2", 1.0))
        self.assertIsNone(fn("pack")(b"C", 1.0, 2.0))
        self.assertIsNone(fn("pack")(b"q", 1.0))
        self.assertIsNone(fn("unpack")(b"N", b"abc"))
        self.assertIsNone(fn("unpack")(b"C", b"abc", 9.0))
        self.assertEqual(plain(fn("unpack")(b"C*", b"")), [])
