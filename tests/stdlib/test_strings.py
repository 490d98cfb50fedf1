"""Data types and string functions, called directly with HSL values."""

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray
from tests.stdlib.helpers import arr, fn, plain


class TypesTests(unittest.TestCase):
    def test_length(self):
        """length() counts array items and string bytes; anything else is none."""
        self.assertEqual(fn("length")(b"h\xc3\xa5"), 3.0)
        self.assertEqual(fn("length")(arr(1, 2)), 2.0)
        self.assertIsNone(fn("length")(5.0))
        self.assertIsNone(fn("length")(None))

    def test_arrayBuildsAList(self):
        """array(...) is the positional form of []; nested arrays are shared, not copied."""
        inner = arr(1)
        a = fn("array")(b"a", inner)
        self.assertEqual(plain(a), ['a', [1]])
        self.assertTrue(inner.shared)

    def test_conversions(self):
        """boolean/number/string follow the truthiness table and number parsing."""
        self.assertIs(fn("boolean")(b""), False)
        self.assertIs(fn("boolean")(arr(0)), True)
        self.assertEqual(fn("number")(b"0x10"), 16.0)
        self.assertEqual(fn("number")(b"abc"), 0.0)
        self.assertEqual(fn("string")(1.5), b"1.5")
        self.assertEqual(fn("string")(arr("a", 1)), b'[0=>"a",1=>1]')

    def test_isTests(self):
        """Each is_* accepts only its own type."""
        values = [None, True, 1.0, b"x", arr(), len]
        expected = {
            "is_boolean": [True],
            "is_number": [1.0],
            "is_string": [b"x"],
            "is_array": [values[4]],
            "is_function": [len],
        }
        for name, yes in expected.items():
            for v in values:
                self.assertEqual(fn(name)(v), any(v is y for y in yes), (name, v))
        self.assertFalse(fn("is_object")(arr()))


class StringTests(unittest.TestCase):
    def test_chrOrd(self):
        """chr() and ord() complement each other."""
        self.assertEqual(fn("chr")(65.0), b"A")
        self.assertEqual(fn("ord")(b"A"), 65.0)
        self.assertEqual(fn("ord")(fn("chr")(255.0)), 255.0)
        self.assertEqual(fn("ord")(b""), 0.0)

    def test_strReplace(self):
        """The manual's example, and an empty search leaves the subject alone."""
        self.assertEqual(fn("str_replace")(b"Hello", b"Hej", b"Hello World"), b"Hej World")
        self.assertEqual(fn("str_replace")(b"", b"x", b"abc"), b"abc")

    def test_strSplit(self):
        """The manual's examples: a positive limit keeps the rest last, a negative one first."""
        split = fn("str_split")
        self.assertEqual(plain(split(b"how are you", b" ", 2.0)), ['how', 'are you'])
        self.assertEqual(plain(split(b"how are you", b" ", -2.0)), ['how are', 'you'])
        self.assertEqual(plain(split(b"how are you", b" ")), ['how', 'are', 'you'])
        self.assertEqual(plain(split(b"a,,b", b",")), ['a', '', 'b'])
        self.assertEqual(plain(split(b"abc", b"")), ['abc'])

    def test_strFind(self):
        """str_find and str_rfind give positions from the start, -1 when absent."""
        self.assertEqual(fn("str_find")(b"hello hello", b"llo"), 2.0)
        self.assertEqual(fn("str_find")(b"hello hello", b"llo", 3.0), 8.0)
        self.assertEqual(fn("str_find")(b"hello", b"x"), -1.0)
        self.assertEqual(fn("str_find")(b"hello", b"o", 10.0), -1.0)
        self.assertEqual(fn("str_rfind")(b"hello hello", b"llo"), 8.0)
        self.assertEqual(fn("str_rfind")(b"hello hello", b"llo", 3.0), 8.0)
        self.assertEqual(fn("str_rfind")(b"hello hello", b"llo", 4.0), 2.0)
        self.assertEqual(fn("str_rfind")(b"hello", b"x"), -1.0)

    def test_case(self):
        """Only US-ASCII letters change case."""
        self.assertEqual(fn("str_upper")(b"abc\xc3\xa5"), b"ABC\xc3\xa5")
        self.assertEqual(fn("str_lower")(b"ABC\xc3\x85"), b"abc\xc3\x85")

    def test_slice(self):
        """str_slice with negative offsets and lengths."""
        s = fn("str_slice")
        self.assertEqual(s(b"Halon", 1.0, 3.0), b"alo")
        self.assertEqual(s(b"Halon", -3.0), b"lon")
        self.assertEqual(s(b"Halon", 1.0, -1.0), b"alo")
        self.assertEqual(s(b"Halon", 9.0), b"")

    def test_strip(self):
        """Whitespace (space, tab, CR, LF) by default, or the given characters."""
        self.assertEqual(fn("str_strip")(b" \t\r\nx \n"), b"x")
        self.assertEqual(fn("str_lstrip")(b"  x  "), b"x  ")
        self.assertEqual(fn("str_rstrip")(b"  x  "), b"  x")
        self.assertEqual(fn("str_strip")(b"--x-", b"-"), b"x")
        self.assertEqual(fn("str_strip")(b"\x0bx"), b"\x0bx")

    def test_repeatAndChunk(self):
        """str_repeat and str_chunk, with a first chunk of its own length."""
        self.assertEqual(fn("str_repeat")(b"ab", 3.0), b"ababab")
        self.assertEqual(fn("str_repeat")(b"ab", -1.0), b"")
        self.assertEqual(plain(fn("str_chunk")(b"abcdefg", 3.0)), ['abc', 'def', 'g'])
        self.assertEqual(plain(fn("str_chunk")(b"abcdefg", 3.0, 1.0)), ['a', 'bcd', 'efg'])
        self.assertEqual(plain(fn("str_chunk")(b"", 3.0)), [])
        self.assertRaises(HSLRuntimeError, fn("str_chunk"), b"abc", 0.0)

    def test_wrongTypes(self):
        """A wrong argument type is a runtime error that names the function."""
        e = self.assertRaises(HSLRuntimeError, fn("str_lower"), 5.0)
        self.assertIn("str_lower()", str(e))
        self.assertIn("number", str(e))
        self.assertRaises(HSLRuntimeError, fn("str_repeat"), b"x", b"3")
        self.assertIsInstance(fn("str_split")(b"a", b","), HSLArray)
