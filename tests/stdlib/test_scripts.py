"""
The stdlib from real HSL: snippets compiled and run by halon.hsl, and the
same through the hsh command in a subprocess (both skipped until the
language and hsh have landed).
"""

import importlib.util
import inspect
import io
import os
import subprocess
import sys

from twisted.trial import unittest

from halon.hsl.host import Host

# (script, expected echo lines): manual examples and a representative set.
SNIPPETS = [
    ('echo str_split("how are you", " ", 2);', [b'[0=>"how",1=>"are you"]']),
    ('echo str_split("how are you", " ", -2);', [b'[0=>"how are",1=>"you"]']),
    ('echo pcre_replace("\\\\d", "($0)", "foo1bar2baz");', [b"foo(1)bar(2)baz"]),
    (
        'echo pcre_replace("\\\\[link](.*?)\\\\[/link]", "<a href=\\"$1\\">$1</a>", "[link]http://halon.se[/link]");',
        [b'<a href="http://halon.se">http://halon.se</a>'],
    ),
    ("echo pcre_replace(''\\b[a-z]'', function ($i) { return str_upper($i[0]); }, \"hello world\");", [b"Hello World"]),
    ('echo idna_encode("fu\xc3\x9fball.example");', [b"xn--fuball-cta.example"]),
    ('echo inet_reverse("12.34.56.78", "example.com");', [b"78.56.34.12.example.com"]),
    ('echo envelope_address_parse("user@example.com");', [b'["localpart"=>"user","domain"=>"example.com"]']),
    ('echo envelope_localpart_escape("email address") . "@example.org";', [b'"email address"@example.org']),
    ('echo csv_encode(["Hello", "World", "Hello World"]);', [b'Hello,World,"Hello World"']),
    (
        'echo csv_decode("enabled\\nyes\\nno", ["schema" => ["enabled" => ["type" => "boolean", "true" => ["yes"], "false" => ["no"]]]]);',
        [b'[0=>["enabled"=>true],1=>["enabled"=>false]]'],
    ),
    ("echo array_sort(function ($a, $b) { return $a < $b; }, [2, 3, 1]);", [b"[2=>1,0=>2,1=>3]"]),
    ("echo array_filter(function ($x) { return $x % 2 == 0; }, [0, 1, 2, 3]);", [b"[0=>0,2=>2]"]),
    ("echo array_reduce(function ($carry, $x) { return $carry + $x; }, [0, 1, 2, 3]);", [b"6"]),
    ('echo array_find(function ($x) { return $x["id"] === 2; }, [["id" => 1, "name" => "a"], ["id" => 2, "name" => "b"]]);', [b'["id"=>2,"name"=>"b"]']),
    ('echo sha1("Rosetta Code");', [b"48c98f7e5a6e736d790ab740dfc3f51a61abe2b5"]),
    ('echo sha2("Rosetta code", 256);', [b"764faf5c61ac315f1497f9dfa542713965b785e5cc2f707d6468d7d1124cdfcf"]),
    ('echo json_encode(["blue" => [1, 2], "ocean" => "water"]);', [b'{"blue":[1,2],"ocean":"water"}']),
    ('$x = json_decode(\'\'{ "foo": 1, "bar": [10, "apples"] }\'\'); echo $x["bar"][1];', [b"apples"]),
    ('$file = File::String("Hello\\nWorld"); echo $file->readline(); echo $file->readline();', [b"Hello", b"World"]),
    (
        '$x = unpack("N*", inet_pton("192.168.1.77")); $x[0] = $x[0] & 0xffffff00; echo inet_ntop(pack("N*", ...$x));',
        [b"192.168.1.0"],
    ),
    ('echo memory_fetch("x", function ($k) { $v = 123; memory_store("x", $v); return $v; }); echo memory_fetch("x");', [b"123", b"123"]),
    ('$m = Map("string", "number"); $m->set("a", 1); $m->merge("a", 2); foreach ($m->entries() as $k => $v) echo "$k=$v";', [b"a=3"]),
    ('$s = Set("string"); $s->add("x"); $s->add("x"); echo $s->size(); foreach ($s->values() as $v) echo $v;', [b"1", b"x"]),
    ('if ("Hello World" =~ #/^hello/i) echo "match";', [b"match"]),
    ('echo pcre_match(pcre_compile("/^H(.)/i"), "hello");', [b'[0=>"he",1=>"e"]']),
    ('echo domain_includes("www.halon.io", ".halon.io"); echo domain_includes("halon.io", ".halon.io");', [b"true", b"false"]),
    ('echo inet_includes("2001:4860:4860::8888", "2001:4860:4860::/48");', [b"true"]),
    ('echo strpduration("1d2h3m4s");', [b"93784"]),
    ('echo length("abc") + length([1, 2]);', [b"5"]),
    ('echo round(2.5) . " " . abs(-3);', [b"3 3"]),
    ('echo base64_decode(base64_encode("x\\x00y")) == "x\\x00y";', [b"true"]),
]


def _compile_program():
    try:
        from halon.hsl import compile_program
    except ImportError:
        raise unittest.SkipTest("halon.hsl.compile_program has not landed yet")
    return compile_program


def run_script(source):
    """What the script echoed, one bytes line per echo."""
    compile_program = _compile_program()
    params = inspect.signature(compile_program).parameters
    kwargs = {name: "test.hsl" for name in ("filename", "name", "path", "file") if name in params}
    program = compile_program(source, **kwargs)
    out = io.BytesIO()
    host = Host(stdout=out)
    required = [p for p in list(inspect.signature(program.run).parameters.values())[1:] if p.default is p.empty]
    program.run(host, *([{}] * len(required)))
    return out.getvalue().split(b"\n")[:-1]


class ScriptTests(unittest.TestCase):
    def test_snippets(self):
        """Each snippet prints what the manual (or the function's definition) says."""
        for source, expected in SNIPPETS:
            self.assertEqual(run_script(source.encode("latin-1").decode("utf-8")), expected, source)

    def test_errorIsPositioned(self):
        """A stdlib type error surfaces with the script position and the function's name."""
        _compile_program()
        from halon.hsl.errors import HSLRuntimeError

        try:
            run_script('$x = 1;\necho str_lower(5);\n')
        except HSLRuntimeError as e:
            self.assertIn("str_lower()", str(e))
            self.assertIn(":2:", str(e))
        else:
            self.fail("str_lower(5) did not raise")

    def test_catchable(self):
        """Stdlib errors are catchable with try/catch."""
        lines = run_script('try { str_repeat("x", "y"); } catch ($e) { echo "caught"; }')
        self.assertEqual(lines, [b"caught"])


class HshTests(unittest.TestCase):
    def setUp(self):
        if importlib.util.find_spec("halon.cli") is None or importlib.util.find_spec("halon.cli.hsh") is None:
            raise unittest.SkipTest("hsh has not landed yet")
        self.hsh = os.path.join(os.path.dirname(sys.executable), "hsh")
        if not os.path.exists(self.hsh):
            raise unittest.SkipTest("the hsh console script is not installed (make venv)")

    def test_snippetsThroughHsh(self):
        """A representative set of snippets as one file run by the hsh command."""
        chosen = SNIPPETS[:12]
        path = self.mktemp() + ".hsl"
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(src.encode("latin-1").decode("utf-8") for src, _ in chosen) + "\n")
        result = subprocess.run([self.hsh, path], capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        expected = [line for _, lines in chosen for line in lines]
        self.assertEqual(result.stdout.split(b"\n")[:-1], expected)
