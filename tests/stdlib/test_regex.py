"""PCRE emulation and the pcre_* functions."""

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib.regex import Regex, compile_regex, regex_match, to_regex
from tests.stdlib.helpers import plain, fn, show


def matches(pattern, subject, flags=b""):
    return compile_regex(pattern, flags).matches(subject)


class ManualExamplesTests(unittest.TestCase):
    def test_replaceLink(self):
        """The manual's [link] example, byte for byte."""
        out = fn("pcre_replace")(rb"\[link](.*?)\[/link]", b'<a href="$1">$1</a>', b"[link]http://halon.se[/link]")
        self.assertEqual(out, b'<a href="http://halon.se">http://halon.se</a>')

    def test_replaceDigits(self):
        """The manual's $0 example: foo(1)bar(2)baz."""
        self.assertEqual(fn("pcre_replace")(rb"\d", b"($0)", b"foo1bar2baz"), b"foo(1)bar(2)baz")

    def test_replaceCallback(self):
        """The manual's ucfirst example: the callback gets the groups array."""
        out = fn("pcre_replace")(rb"\b[a-z]", lambda i: i.get(0).upper(), b"hello world")
        self.assertEqual(out, b"Hello World")

    def test_wordOperatorExample(self):
        """The =~ example: partial matching with \\b."""
        self.assertTrue(regex_match(rb"\bhalon\b", b"we use halon here"))
        self.assertFalse(regex_match(rb"\bhalon\b", b"halonic"))


class FunctionTests(unittest.TestCase):
    def test_match(self):
        """Groups by number, trailing unmatched groups left out, middle ones empty, names added."""
        self.assertEqual(plain(fn("pcre_match")(rb"(a)(x)?(b)?", b"a")), ['a', 'a'])
        self.assertEqual(show(fn("pcre_match")(rb"(?<first>a)(x)?(b)", b"ab")), '[0=>"ab",1=>"a",2=>"",3=>"b","first"=>"a"]')
        self.assertEqual(plain(fn("pcre_match")(rb"z", b"ab")), [])

    def test_matchAll(self):
        """pcre_match_all groups results by capture group."""
        self.assertEqual(plain(fn("pcre_match_all")(rb"(\d)(\w)", b"1a 2b 3")), [['1a', '2b'], ['1', '2'], ['a', 'b']])
        self.assertEqual(plain(fn("pcre_match_all")(rb"(\d)", b"x")), [[], []])

    def test_replaceLimitAndGroups(self):
        """limit counts replacements; ${n} and unknown groups; an empty pattern match."""
        r = fn("pcre_replace")
        self.assertEqual(r(b"o", b"0", b"foo boo", 2.0), b"f00 boo")
        self.assertEqual(r(b"(o)", b"${1}x$9", b"fo"), b"fox")
        self.assertEqual(r(b"x*", b"-", b"ab"), b"-a-b-")
        self.assertEqual(r(b"/A/i", b"b", b"aA"), b"bb")

    def test_quote(self):
        """Quoted text matches itself literally, NUL included."""
        text = b"a.b*c/d-(e)[f]{g}|^$?+#\\\x00"
        quoted = fn("pcre_quote")(text)
        self.assertEqual(show(fn("pcre_match")(b"^" + quoted + b"$", text)), show(fn("pcre_match")(b"^(?s).*$", text)))

    def test_compile(self):
        """pcre_compile gives a Regex object that every pcre_ function accepts."""
        r = fn("pcre_compile")(b"/^H(.)/i")
        self.assertIsInstance(r, Regex)
        self.assertEqual(plain(fn("pcre_match")(r, b"hello")), ['he', 'e'])
        self.assertIs(to_regex(r), r)
        self.assertIs(fn("pcre_compile")(b"/^H(.)/i"), r)

    def test_errors(self):
        """Invalid patterns and wrong types are runtime errors naming the function."""
        e = self.assertRaises(HSLRuntimeError, fn("pcre_match"), b"(", b"x")
        self.assertIn("pcre_match()", str(e))
        self.assertRaises(HSLRuntimeError, fn("pcre_match"), 5.0, b"x")
        self.assertRaises(HSLRuntimeError, fn("pcre_replace"), b"x", 5.0, b"x")
        self.assertRaises(HSLRuntimeError, compile_regex, b"x", b"q")


class PCRESyntaxTests(unittest.TestCase):
    def test_delimitedForm(self):
        """/pattern/flags strings; slashes without flags are delimiters too; other slashes are pattern."""
        self.assertTrue(regex_match(b"/HELLO/i", b"say hello"))
        self.assertTrue(regex_match(b"/a/", b"a"))
        self.assertTrue(regex_match(b"/usr/bin", b"/usr/bin"))

    def test_flags(self):
        """i, m, s, x and U behave as in PCRE."""
        self.assertTrue(matches(b"^b$", b"a\nb\nc", b"m"))
        self.assertFalse(matches(b"^b$", b"a\nb\nc"))
        self.assertTrue(matches(b"a.c", b"a\nc", b"s"))
        self.assertFalse(matches(b"a.c", b"a\nc"))
        self.assertTrue(matches(b" a  b # comment\n c", b"abc", b"x"))
        self.assertEqual(plain(fn("pcre_match")(b"/<(.+)>/U", b"<a><b>")), ['<a>', 'a'])
        self.assertEqual(plain(fn("pcre_match")(b"/<(.+?)>/U", b"<a><b>")), ['<a><b>', 'a><b'])

    def test_inlineFlags(self):
        """(?i) mid-pattern lasts to the end of its group and carries into later alternatives."""
        pattern = b"x(?i)a(b(?-i)c|d)e|f"
        self.assertTrue(matches(pattern, b"xAbcE"))
        self.assertFalse(matches(pattern, b"xAbCE"))
        self.assertTrue(matches(pattern, b"xAdE"))
        self.assertTrue(matches(pattern, b"F"))
        self.assertFalse(matches(pattern, b"XaBcE"))
        self.assertFalse(matches(b"(?i:a(?-i)b|c)", b"C"))
        self.assertTrue(matches(b"(?i:a(?-i)b|c)", b"Ab"))
        self.assertFalse(matches(b"(?i:a(?-i)b|c)", b"AB"))
        self.assertTrue(matches(b"(?s)a.b", b"a\nb"))

    def test_extraFlag(self):
        """Unknown letter escapes are literals, or errors with X."""
        self.assertTrue(matches(rb"\y", b"y"))
        self.assertRaises(HSLRuntimeError, compile_regex, rb"\y", b"X")

    def test_pcreOnlySyntax(self):
        """Named groups, \\k, \\g, \\Q..\\E, \\x{}, POSIX classes, \\h, \\R, \\z and \\Z."""
        self.assertEqual(show(fn("pcre_match")(rb"(?<n>b)(a)\g{-1}\k<n>\g2", b"baaba")), '[0=>"baaba",1=>"b",2=>"a","n"=>"b"]')
        self.assertTrue(matches(rb"(?'q'x)\k{q}", b"xx"))
        self.assertTrue(matches(rb"^\Q.*\E$", b".*"))
        self.assertFalse(matches(rb"^\Q.*\E$", b"ab"))
        self.assertTrue(matches(rb"\x{41}\101\e", b"AA\x1b"))
        self.assertTrue(matches(rb"^[[:alpha:][:digit:]_]+$", b"ab_9"))
        self.assertTrue(matches(rb"a\hb", b"a\tb"))
        self.assertTrue(matches(rb"^a\Rb$", b"a\r\nb"))
        self.assertTrue(matches(rb"a\Z", b"a\n"))
        self.assertFalse(matches(rb"a\z", b"a\n"))
        self.assertTrue(matches(rb"a{,3}", b"a{,3}"))
        self.assertTrue(matches(rb"(a)|b(?(1)c|d)", b"bd"))

    def test_bytesAndUtf8(self):
        """Without u a dot is one byte; with u one UTF-8 character, and caseless works beyond ASCII."""
        self.assertEqual(fn("pcre_match")(b"^(.)", b"\xc3\xa5").get(1), b"\xc3")
        self.assertEqual(fn("pcre_match")(b"/^(.)/u", b"\xc3\xa5").get(1), b"\xc3\xa5")
        self.assertTrue(regex_match(b"/\xc3\xa5/iu", b"\xc3\x85"))
        self.assertTrue(regex_match(b"/[\xc3\xa5]/iu", b"\xc3\x85"))
        self.assertFalse(regex_match(b"/\\w/u", b"\xc3\xa5"))
        self.assertEqual(fn("pcre_match")(b"/(.)$/u", b"a\xff").get(1), b"\xff")

    def test_unsupported(self):
        """What Python's re cannot do is reported, not silently changed."""
        for pattern in [rb"(?R)", rb"a\Kb", rb"\p{L}", rb"(?|a)", rb"(*FAIL)", rb"[[:^alpha:]]", rb"\G"]:
            self.assertRaises(HSLRuntimeError, compile_regex, pattern, b"")
