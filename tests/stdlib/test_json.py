"""
json_encode() and json_decode() at their edges, once through the C
accelerator and once through the pure-Python path, which must agree byte
for byte; hypothesis then checks that they agree on arbitrary values and
texts.
"""

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from halon.hsl.stdlib import data
from halon.hsl.values import HSLArray
from tests.stdlib.helpers import amap, arr, fn


def encode(value, **options):
    return fn("json_encode")(value, amap(options.items()) if options else None)


def decode(text, **options):
    return fn("json_decode")(text, amap(options.items()) if options else None)


def shape(value):
    """A value with everything that tells HSL values apart spelled out: key types, the next index, -0."""
    if type(value) is HSLArray:
        return ("array", [(type(k).__name__, k, shape(v)) for k, v in value.items()], value.next_index(), value.shared)
    if type(value) is float:
        return ("number", repr(value))
    return value


def deep_map(levels, leaf):
    value = leaf
    for _ in range(levels):
        value = HSLArray.from_pairs([(b"a", value)])
    return value


def deep(levels):
    value = arr()
    for _ in range(levels):
        value = HSLArray.from_list([value])
    return value


class _Cases:
    accelerated = None

    def setUp(self):
        if self.accelerated:
            if data.accelerator is None:
                raise unittest.SkipTest("the C accelerator is not built")
        else:
            self.patch(data, "accelerator", None)

    # -- encoding ---------------------------------------------------------

    def test_encodeStrings(self):
        """
        Quote, backslash and control characters escaped as json.dumps does;
        DEL and non-ASCII only with ensure_ascii.
        """
        text = '"\\/\b\f\n\r\t\x00\x01\x1f\x7f aå€😀'
        for ascii in (True, False):
            self.assertEqual(
                encode(text.encode("utf-8"), ensure_ascii=ascii),
                json.dumps(text, ensure_ascii=ascii).encode("utf-8"),
            )
        self.assertEqual(encode(b"\xf0\x9f\x98\x80"), b'"\\ud83d\\ude00"')
        self.assertEqual(encode(amap([("å", "x")])), b'{"\\u00e5":"x"}')
        self.assertEqual(encode(amap([("å", "x")]), ensure_ascii=False), '{"å":"x"}'.encode())

    def test_encodeNotUTF8(self):
        """Bytes Python's strict UTF-8 decoder refuses make none, as values and as keys."""
        bad_bytes = [b"\xff", b"a\x80", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80"]
        bad_bytes += [b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xe2\x82"]
        for bad in bad_bytes:
            self.assertIsNone(encode(bad), bad)
            self.assertIsNone(encode(arr("ok", bad), ensure_ascii=False), bad)
            self.assertIsNone(encode(amap([(bad, 1)])), bad)

    def test_encodeNumbers(self):
        """Integral numbers as integers (however large, and -0 as 0), others as repr(); nan and inf make none."""
        value = arr(1, 1.5, -0.0, -7, 1e20, 1.5e300, 2.0**63, 0.1, 1e-7, 1.5e-300, -2.5)
        self.assertEqual(
            encode(value),
            b"[1,1.5,0,-7,100000000000000000000,%d,9223372036854775808,0.1,1e-07,1.5e-300,-2.5]" % int(1.5e300),
        )
        for bad in [float("nan"), float("inf"), float("-inf")]:
            self.assertIsNone(encode(bad))
            self.assertIsNone(encode(arr(1, bad)))
            self.assertIsNone(encode(amap([("k", bad)])))

    def test_encodeKeys(self):
        """Number keys as format_number() prints them, quoted."""
        value = amap([(5, "a"), (-3, "b"), (1e20, "c"), (1e21, "d"), ("x", "e"), (-0.0, "f")])
        self.assertEqual(encode(value), b'{"5":"a","-3":"b","100000000000000000000":"c","1e+21":"d","x":"e","0":"f"}')

    def test_encodeListOrMap(self):
        """Only keys 0..n-1 in order make a JSON list: not gaps, another order, string keys; an empty array is []."""
        self.assertEqual(encode(arr()), b"[]")
        self.assertEqual(encode(arr(arr(), amap([("a", arr())]))), b'[[],{"a":[]}]')
        self.assertEqual(encode(amap([(1, "b"), (0, "a")])), b'{"1":"b","0":"a"}')
        self.assertEqual(encode(amap([(0, "a"), (2, "c")])), b'{"0":"a","2":"c"}')
        self.assertEqual(encode(amap([(0, "a"), ("1", "b")])), b'["a","b"]')
        shrunk = arr("a", "b", "c")
        shrunk.delete(0.0)
        self.assertEqual(encode(shrunk), b'{"1":"b","2":"c"}')
        shrunk = arr("a", "b", "c")
        shrunk.delete(2.0)
        self.assertEqual(encode(shrunk), b'["a","b"]')

    def test_encodePretty(self):
        """pretty_print indents by four spaces as json.dumps(indent=4) does, empty arrays included."""
        doc = {"a": [1, 2.5, [], []], "b": {"c": None, "d": [True, False]}, "e": [], "é": "ü"}
        value = amap(
            [
                ("a", arr(1, 2.5, arr(), HSLArray())),
                ("b", amap([("c", None), ("d", arr(True, False))])),
                ("e", arr()),
                ("é", "ü"),
            ]
        )
        for ascii in (True, False):
            self.assertEqual(
                encode(value, pretty_print=True, ensure_ascii=ascii),
                json.dumps(doc, indent=4, separators=(",", ": "), ensure_ascii=ascii).encode(),
            )
        self.assertEqual(encode(arr(), pretty_print=True), b"[]")
        self.assertEqual(encode(b"x", pretty_print=True), b'"x"')

    def test_encodeNotJSON(self):
        """Functions, objects and anything else without a JSON form make none, also deep inside."""
        self.assertIsNone(encode(len))
        self.assertIsNone(encode(arr(1, arr(len))))
        self.assertIsNone(encode(amap([("k", object())])))

    def test_encodePythonValues(self):
        """Values the stdlib should not make but the Python path takes (int, str, unnormalised keys) still encode."""
        self.assertEqual(encode(HSLArray.from_dict({0: b"a", 1.0: 3, b"k": "s"}, 2.0)), b'{"0":"a","1":3,"k":"s"}')
        self.assertEqual(encode(HSLArray.from_dict({0: b"a", 1.0: b"b"}, 2.0)), b'["a","b"]')

    def test_encodeDepth(self):
        """Deep nesting encodes up to the recursion limit; beyond it, none."""
        self.assertEqual(encode(deep(100)), b"[" * 101 + b"]" * 101)
        self.assertIsNone(encode(deep(100000)))

    # -- decoding ---------------------------------------------------------

    def test_decodeStrings(self):
        """Escapes unescaped to UTF-8; lone surrogates kept (as "surrogatepass" writes them)."""
        cases = {
            b'"\\u00e5\\u20AC"': "å€".encode(),
            b'"\\ud83d\\ude00"': "😀".encode(),
            b'"\\ud800"': b"\xed\xa0\x80",
            b'"\\udc00x"': b"\xed\xb0\x80x",
            b'"\\ud800\\u0041"': b"\xed\xa0\x80A",
            b'"\\ud800\\ud800"': b"\xed\xa0\x80\xed\xa0\x80",
            b'"\\"\\\\\\/\\b\\f\\n\\r\\t"': b'"\\/\b\f\n\r\t',
            '"å\x7f😀"'.encode(): "å\x7f😀".encode(),
            b'""': b"",
        }
        for text, value in cases.items():
            self.assertEqual(decode(text), value, text)

    def test_decodeBadStrings(self):
        """Raw control characters, unknown escapes, short \\u escapes, bytes that are not UTF-8: none."""
        bad = [b'"a\x00"', b'"\n"', b'"\\x41"', b'"\\u12g4"', b'"\\u12"', b'"\\ud800\\u12"', b'"abc', b'"\\']
        bad += [b'"\xff"', b'"\xed\xa0\x80"', b'"\xc0\x80"', b'"\xe2\x82"']
        for text in bad:
            self.assertIsNone(decode(text), text)
        self.assertIsNone(decode(b'/* \xff */ 1', allow_comments=True))

    def test_decodeNumbers(self):
        """Numbers are read by float(): -0 stays negative, too large ones are inf."""
        cases = {b"1": 1.0, b"-0": -0.0, b"1.5": 1.5, b"1E2": 100.0, b"1e-2": 0.01, b"-1.5e+3": -1500.0, b"0.1": 0.1}
        cases.update({b"1e400": math.inf, b"-1e400": -math.inf, b"1" * 400: math.inf})
        cases[b"123456789012345678"] = 123456789012345678.0
        for text, value in cases.items():
            self.assertEqual(shape(decode(text)), shape(value), text)

    def test_decodeMalformed(self):
        """What the JSON grammar does not allow, including NaN and Infinity, makes none."""
        bad = [b"", b" ", b"01", b"1.", b".5", b"-", b"+1", b"1e", b"1e+", b"--1", b"0x10", b"Infinity", b"-Infinity"]
        bad += [b"NaN", b"1 2", b"[1,]", b"[1 2]", b'{"a":1,}', b'{"a" 1}', b"{1:2}", b"[", b"{", b"]", b"tru", b"nul"]
        bad += [b"True", b"\x0b1", b"\xc2\xa01", b"\xef\xbb\xbf1", b"[1]x", b"{'a':1}"]
        for text in bad:
            self.assertIsNone(decode(text), text)
        self.assertEqual(shape(decode(b" \t\n\r[ 1 , true,false ,null ]\r\n")), shape(arr(1, True, False, None)))

    def test_decodeKeys(self):
        """
        Canonical integers under 16 characters become number keys (escaped or
        not); a repeated key keeps its first place and last value.
        """
        value = decode(b'{"0":1,"-0":2,"00":3,"-5":4,"123456789012345":5,"1234567890123456":6,"-12345678901234":7,'
                       b'"1e3":8," 1":9,"\\u0037":10,"":11,"7":12,"-":13}')
        expected = [(0.0, 1.0), (b"-0", 2.0), (b"00", 3.0), (-5.0, 4.0), (123456789012345.0, 5.0)]
        expected += [(b"1234567890123456", 6.0), (-12345678901234.0, 7.0), (b"1e3", 8.0), (b" 1", 9.0), (7.0, 12.0)]
        expected += [(b"", 11.0), (b"-", 13.0)]
        self.assertEqual(shape(value), shape(HSLArray.from_pairs(expected)))
        self.assertEqual(value.next_index(), 123456789012346.0)
        self.assertEqual(decode(b'{"x":1}').next_index(), 0.0)
        self.assertEqual(decode(b'{"-3":1}').next_index(), 0.0)
        self.assertEqual(decode(b"[1,[],{}]").next_index(), 3.0)
        self.assertEqual(shape(decode(b"[[],{}]")), shape(arr(arr(), HSLArray())))

    def test_decodeComments(self):
        """allow_comments blanks // and /* */ comments outside strings."""
        value = decode(b'/* c */ [1, // x\n "//y/*z*/"]', allow_comments=True)
        self.assertEqual(shape(value), shape(arr(1, "//y/*z*/")))
        self.assertIsNone(decode(b"[1, // x\n 2]"))

    def test_decodeDepth(self):
        """Deep nesting decodes up to the recursion limit; beyond it, none."""
        self.assertEqual(shape(decode(b"[" * 100 + b"]" * 100)), shape(deep(99)))
        self.assertEqual(shape(decode(b'{"a":' * 100 + b"1" + b"}" * 100)), shape(deep_map(100, 1.0)))
        self.assertIsNone(decode(b"[" * 100000 + b"]" * 100000))
        self.assertIsNone(decode(b'{"a":' * 100000 + b"1" + b"}" * 100000))

    def test_roundTrip(self):
        """Decoding what was encoded gives the same arrays back (list-like and keyed, nested)."""
        value = amap([("list", arr(1, "two", arr(), None)), (7, amap([("k", True)])), ("å", -0.5)])
        self.assertEqual(shape(decode(encode(value))), shape(value))


class AcceleratedJSONTests(_Cases, unittest.TestCase):
    accelerated = True


class PythonJSONTests(_Cases, unittest.TestCase):
    accelerated = False


# -- both paths on arbitrary input -----------------------------------------

_keys = st.one_of(st.binary(max_size=6), st.integers(-3, 300).map(float), st.sampled_from([b"0", b"\xc3\xa5", b"\xff"]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20).map(float),
    st.binary(max_size=8),
    st.text(max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(HSLArray.from_list),
        st.lists(st.tuples(_keys, inner), max_size=4).map(lambda pairs: amap(pairs)),
    ),
    max_leaves=20,
)
_json_texts = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20,
).map(lambda doc: json.dumps(doc).encode())


def _both(call, *args):
    accelerated = call(*args)
    saved, data.accelerator = data.accelerator, None
    try:
        return accelerated, call(*args)
    finally:
        data.accelerator = saved


class EquivalenceTests(unittest.TestCase):
    def setUp(self):
        if data.accelerator is None:
            raise unittest.SkipTest("the C accelerator is not built")

    @settings(max_examples=300, deadline=None)
    @given(_values, st.booleans(), st.booleans())
    def test_encode(self, value, ascii, pretty):
        options = amap([("ensure_ascii", ascii), ("pretty_print", pretty)])
        fast, slow = _both(fn("json_encode"), value, options)
        self.assertEqual(fast, slow)

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(_json_texts, st.binary(max_size=30), _json_texts.map(lambda t: t[: len(t) // 2])))
    def test_decode(self, text):
        fast, slow = _both(fn("json_decode"), text)
        self.assertEqual(shape(fast), shape(slow))
