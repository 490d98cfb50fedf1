"""JSON, CSV and YAML."""

import json

from twisted.trial import unittest

from halon.hsl.values import HSLArray
from tests.stdlib.helpers import amap, arr, fn, plain, show


class JSONTests(unittest.TestCase):
    def test_encode(self):
        """Lists become arrays, other arrays objects; integers print without a fraction."""
        value = amap([("a", [1, 2.5, "x"]), ("b", None), (3, True)])
        self.assertEqual(fn("json_encode")(value), b'{"a":[1,2.5,"x"],"b":null,"3":true}')
        self.assertEqual(fn("json_encode")(arr()), b"[]")
        self.assertEqual(fn("json_encode")(b"x"), b'"x"')

    def test_encodeOptions(self):
        """ensure_ascii (default on) escapes non-ASCII; pretty_print indents."""
        self.assertEqual(fn("json_encode")(b"\xc3\xa5"), b'"\\u00e5"')
        self.assertEqual(fn("json_encode")(b"\xc3\xa5", amap([("ensure_ascii", False)])), b'"\xc3\xa5"')
        pretty = fn("json_encode")(amap([("blue", [1, 2]), ("ocean", "water")]), amap([("pretty_print", True)]))
        self.assertEqual(json.loads(pretty), {"blue": [1, 2], "ocean": "water"})
        self.assertIn(b"\n", pretty)

    def test_encodeErrors(self):
        """nan, objects, functions and non-UTF-8 strings have no JSON form: none."""
        self.assertIsNone(fn("json_encode")(float("nan")))
        self.assertIsNone(fn("json_encode")(arr(len)))
        self.assertIsNone(fn("json_encode")(b"\xff"))

    def test_decode(self):
        """The manual's translations: object to keyed array, null to none, numbers to floats."""
        value = fn("json_decode")(b'{ "foo": 1, "bar": [10, "apples"], "n": null, "t": true, "3": "x" }')
        self.assertEqual(show(value), '["foo"=>1,"bar"=>[0=>10,1=>"apples"],"n"=>none,"t"=>true,3=>"x"]')
        self.assertEqual(fn("json_decode")(b'"\\u00e5"'), b"\xc3\xa5")
        self.assertEqual(fn("json_decode")(b"12345678901234567890"), 12345678901234567890.0)

    def test_decodeKeys(self):
        """Integer keys become numbers (the next index follows them), others stay strings; a repeated key keeps its first place."""
        value = fn("json_decode")(b'{"5":"a","-1":"b","01":"c","1.0":"d","":"e","x":1,"x":2}')
        self.assertEqual(show(value), '[5=>"a",-1=>"b","01"=>"c","1.0"=>"d",""=>"e","x"=>2]')
        self.assertEqual(value.next_index(), 6.0)
        nested = fn("json_decode")(b'[[1,[2,{"k":[3]}]],{"a":{"b":[]}},"s",null]')
        self.assertEqual(show(nested), '[0=>[0=>1,1=>[0=>2,1=>["k"=>[0=>3]]]],1=>["a"=>["b"=>[]]],2=>"s",3=>none]')
        self.assertEqual(fn("json_encode")(nested), b'[[1,[2,{"k":[3]}]],{"a":{"b":[]}},"s",null]')

    def test_encodeNumbers(self):
        """Integral numbers print as integers, also as keys; arrays with gaps or out of order are objects."""
        value = amap([(2, 1e20), (0, -0.0), (1, 0.5)])
        self.assertEqual(fn("json_encode")(value), b'{"2":100000000000000000000,"0":0,"1":0.5}')
        self.assertIsNone(fn("json_encode")(arr(float("inf"))))
        self.assertEqual(fn("json_encode")(arr(*range(300))), json.dumps(list(range(300)), separators=(",", ":")).encode())

    def test_decodeErrors(self):
        """Malformed JSON, NaN and comments (unless allowed) give none."""
        for bad in [b"[1,]", b"NaN", b"{", b"", b"\xff", b"// c\n1"]:
            self.assertIsNone(fn("json_decode")(bad), bad)
        value = fn("json_decode")(b'// c\n{"a":/* x */1, "s":"//not"}', amap([("allow_comments", True)]))
        self.assertEqual(show(value), '["a"=>1,"s"=>"//not"]')

    def test_roundTripMegabyte(self):
        """A 1 MB document round-trips (its speed is bench/hsl's)."""
        doc = {"items": [{"id": i, "name": "item %d" % i, "tags": ["a", "b"], "price": i / 4} for i in range(12000)]}
        text = json.dumps(doc).encode()
        self.assertGreater(len(text), 700_000)
        out = fn("json_encode")(fn("json_decode")(text))
        self.assertEqual(json.loads(out), doc)


class CSVTests(unittest.TestCase):
    def test_encodeManual(self):
        """The manual's example, byte for byte."""
        self.assertEqual(fn("csv_encode")(arr("Hello", "World", "Hello World")), b'Hello,World,"Hello World"')

    def test_encodeQuotingAndRows(self):
        """Quotes doubled, a custom delimiter, numbers, several rows."""
        self.assertEqual(fn("csv_encode")(arr('a"b', "c;d", 1), amap([("delimiter", ";")])), b'"a""b";"c;d";1')
        self.assertEqual(fn("csv_encode")(arr(["a", "b"], ["c", "d"])), b"a,b\r\nc,d")

    def test_decodeManualSchema(self):
        """The manual's schema example, byte for byte."""
        options = amap([("schema", {"enabled": {"type": "boolean", "true": ["yes"], "false": ["no"]}})])
        out = fn("csv_decode")(b"enabled\nyes\nno", options)
        self.assertEqual(show(out), '[0=>["enabled"=>true],1=>["enabled"=>false]]')

    def test_decode(self):
        """Headers, quoted multi-line fields, no header, and a delimiter."""
        out = fn("csv_decode")(b'name,note\r\nbob,"two\nlines"\r\n"a,b","say ""hi"""\r\n')
        self.assertEqual(plain(out), [{"name": "bob", "note": "two\nlines"}, {"name": "a,b", "note": 'say "hi"'}])
        out = fn("csv_decode")(b"1;2\n3;4\n", amap([("header", False), ("delimiter", ";")]))
        self.assertEqual(plain(out), [["1", "2"], ["3", "4"]])

    def test_schemaTypes(self):
        """number and nullable columns; a value that does not convert makes the result none."""
        schema = {"n": {"type": "number", "nullable": True}, "s": {"nullable": ["NULL"]}}
        out = fn("csv_decode")(b"n,s\n1.5,NULL\n,x\n", amap([("schema", schema)]))
        self.assertEqual(plain(out), [{"n": 1.5, "s": None}, {"n": None, "s": "x"}])
        self.assertIsNone(fn("csv_decode")(b"n\nabc\n", amap([("schema", {"n": {"type": "number"}})])))

    def test_malformed(self):
        """An unterminated quote is none."""
        self.assertIsNone(fn("csv_decode")(b'a\n"unterminated\n'))


class YAMLTests(unittest.TestCase):
    def test_decode(self):
        """Maps, lists, scalars and timestamps."""
        out = fn("yaml_decode")(b"a: 1\nb: [x, 2.5, true, null]\nc: 2020-01-01\n")
        self.assertEqual(show(out), '["a"=>1,"b"=>[0=>"x",1=>2.5,2=>true,3=>none],"c"=>"2020-01-01"]')
        self.assertIsInstance(fn("yaml_decode")(b"- 1\n- 2\n"), HSLArray)

    def test_malformed(self):
        """Invalid YAML is none; tags that build objects are refused (safe loading)."""
        self.assertIsNone(fn("yaml_decode")(b"a: [1, 2"))
        self.assertIsNone(fn("yaml_decode")(b"!!python/object/apply:os.system ['true']"))
