"""
The language as the manual defines it: every statement and operator, the
value semantics (arrays copy, objects do not), and positioned errors.
"""

from twisted.trial import unittest

from halon.hsl import HSLRuntimeError, HSLSyntaxError
from tests.hsl.helpers import run

# (script, expected echo lines)
PROGRAMS = [
    # Rosetta Code programs and the manual's own examples
    ('echo "Hello world!";', [b"Hello world!"]),
    ('echo "Hello" . "World " . 123;', [b"HelloWorld 123"]),
    ('$a = []; $a[] = 1; $a["key"] = 3; $a[0] = 2; echo $a[0]; echo $a["key"];', [b"2", b"3"]),
    ('foreach (["Apple", "Banana", "Coconut"] as $f) echo $f;', [b"Apple", b"Banana", b"Coconut"]),
    ("function multiply($a, $b) { return $a * $b; } echo multiply(3, 4);", [b"12"]),
    ('echo 2 + 2 . "test"; echo 1.0 . 2.5;', [b"4test", b"12.5"]),
    ('echo ["1"=>123]; echo [1.9=>123]; echo ["1.9"=>123];', [b"[1=>123]", b"[1=>123]", b'["1.9"=>123]']),
    ('$var = 42; if (($r = 7) > 5) echo "$r is larger than 5";', [b"7 is larger than 5"]),
    ('echo function ($n) { return "Hello $n"; }("World");', [b"Hello World"]),
    ('$plural = "s"; $x = 2; echo "$x bottle$plural"; echo "${x}x";', [b"2 bottles", b"2x"]),
    # numbers
    ("echo 0.1 + 0.2; echo 10 / 4; echo 3600 * 24; echo -7 % 3; echo 2 ** 10;", [b"0.30000000000000004", b"2.5", b"86400", b"-1", b"1024"]),
    ("echo 0xff + 0b11 + 0o10 + 1_000;", [b"1266"]),
    ("echo 5 & 3; echo 5 | 3; echo 5 ^ 3; echo ~0; echo 1 << 4; echo -16 >> 2; echo -1 >>> 28;", [b"1", b"7", b"6", b"-1", b"16", b"-4", b"15"]),
    # arrays: copy on assignment, nested, operators, slices
    ("$a = [1, 2]; $b = $a; $b[] = 3; echo $a; echo $b;", [b"[0=>1,1=>2]", b"[0=>1,1=>2,2=>3]"]),
    ('$a = ["x" => ["y" => 1]]; $b = $a; $b["x"]["y"] = 2; echo $a; echo $b;', [b'["x"=>["y"=>1]]', b'["x"=>["y"=>2]]']),
    ("function f($a) { $a[] = 9; return $a; } $x = [1]; $y = f($x); echo $x; echo $y;", [b"[0=>1]", b"[0=>1,1=>9]"]),
    ('$a = ["foo", 3 => "bar", "baz"]; echo $a;', [b'[0=>"foo",3=>"bar",4=>"baz"]']),
    ('echo ["foo", 5] - 5; echo ["foo", "foo", 5] - "foo"; echo ["foo", 5] - ["foo", 5];', [b'[0=>"foo"]', b"[2=>5]", b"[]"]),
    ('echo ["a" => 1, 2] + ["a" => 3, 4]; echo [1] + "x";', [b'["a"=>3,0=>2,1=>4]', b'[0=>1,1=>"x"]']),
    ('echo "x" * 3; echo ["x", "y"] * 2;', [b"xxx", b'[0=>"x",1=>"y",2=>"x",3=>"y"]']),
    ('$t = "Halon"; echo $t[1:4]; echo $t[-3:]; echo $t[::-1]; echo $t[:2] . $t[2:]; echo $t[0];', [b"alo", b"lon", b"nolaH", b"Halon", b"H"]),
    ("$v = [1, 2, 7, 5]; $v[2:3] = [3, 4]; echo $v;", [b"[0=>1,1=>2,2=>3,3=>4,4=>5]"]),
    ('$a = ["k" => 1]; echo $a["missing"]; echo $a->k;', [b"none", b"1"]),
    ("[$a, $b, $c = 3] = [1, 2]; echo \"$a $b $c\"; [$x, ...$r] = [1, 2, 3]; echo $r;", [b"1 2 3", b"[0=>2,1=>3]"]),
    ('["k" => $k, "z" => $z = 5] = ["k" => 1]; echo $k + $z;', [b"6"]),
    ('$a = [[1, 2], [3, 4]]; foreach ($a as $row) { $row[] = 0; } echo $a;', [b"[0=>[0=>1,1=>2],1=>[0=>3,1=>4]]"]),
    ("$a = [1, 2, 3]; foreach ($a as $k => $v) { $a[$k] = $v * 2; } echo $a;", [b"[0=>2,1=>4,2=>6]"]),
    # strings and formatting
    ("""echo "Hello %s!" % ["World"]; echo "%5s|%>5s|%'0>5f|%[0]s" % ["a", "b", 42]; echo "%.2f" % [3.14159];""", [b"Hello World!", b"a    |    b|00042|a", b"3.14"]),
    ("echo ''raw $x \\n'';", [b"raw $x \\n"]),
    ('echo "tab\\tx\\x41";', [b"tab\tx\x41"]),
    # comparison and logic
    ('echo 5 == true; echo 1 == true; echo "1" == 1; echo "1" === 1; echo none == false; echo [] == false;', [b"false", b"true", b"true", b"false", b"false", b"true"]),
    ('echo 1 < 2 and 2 < 3; echo not true or false; echo "abc" =~ #/B/i; echo "abc" !~ "^b";', [b"true", b"false", b"true", b"true"]),
    ('echo 0 ?: "elvis"; echo none ?? "coalesce"; $x = none; $x ??= 4; echo $x; echo $nope["a"]["b"] ?? "deep";', [b"elvis", b"coalesce", b"4", b"deep"]),
    ("echo true ? 1 : false ? 2 : 3;", [b"1"]),
    # statements
    ("for ($i = 0; $i < 5; $i++) { if ($i == 2) continue; if ($i == 4) break; echo $i; }", [b"0", b"1", b"3"]),
    ("$i = 0; while ($i < 3) $i += 1; echo $i; forever { $i--; if ($i < 0) break; } echo $i;", [b"3", b"-1"]),
    ('switch (2) { case 1: echo "one"; case 2: echo "two"; case 3: echo "three"; break; default: echo "d"; }', [b"two", b"three"]),
    ('switch ("x") { case "a": echo "a"; break; default: echo "default"; }', [b"default"]),
    ("foreach ([1, 2, 3] as $v) { switch ($v) { case 2: continue; } echo $v; }", [b"1", b"3"]),
    ('echo match (5) { 0, 2, 4 => "even", 1, 3, 5 => "odd", default => "?" };', [b"odd"]),
    ('try { throw "x"; } catch ($e) { echo "caught $e"; }', [b"caught x"]),
    ('try { json_decode("{"); $a = [] . ""; throw Exception("mine"); } catch ($e) { echo $e->message(); }', [b"mine"]),
    ("try { $f = 1; $f(); } catch ($e) { echo $e->line() . \":\" . $e->column(); }", [b"1:17"]),
    # functions
    ('function hello($name = "World") { return "Hello $name."; } echo hello(); echo hello("You");', [b"Hello World.", b"Hello You."]),
    ("function avg(...$values) { $r = 0; foreach ($values as $v) $r += $v; return $r / length($values); } echo avg(...[0, 5, 10, 15]);", [b"7.5"]),
    ("function fact($n) { return $n <= 1 ? 1 : $n * fact($n - 1); } echo fact(10);", [b"3628800"]),
    ("echo later(); function later() { return \"hoisted\"; }", [b"hoisted"]),
    ("function g() { global $x; $x = 5; } g(); echo $x;", [b"5"]),
    ("$n = 1; $f = function () closure ($n) { $n += 1; }; $f(); $f(); echo $n;", [b"3"]),
    ("$f = length; echo $f([1, 2]);", [b"2"]),
    ('function length($x) { return "mine"; } echo length("abc"); echo builtin length("abc");', [b"mine", b"3"]),
    ("function counter() { $c = 0; return function () closure ($c) { $c += 1; return $c; }; } $f = counter(); $f(); echo $f();", [b"2"]),
    # the compiler's fast paths give the same results as the general ones
    ('function g($n) { echo "g$n"; } g(1); g("x");', [b"g1", b"gx"]),
    ("function h($n) { if ($n > 1) return $n; } echo h(2); echo h(0); echo h(\"5\");", [b"2", b"none", b"5"]),
    ("function k($n) { return $n < 1 ? [] : k($n - 1); } echo k(3);", [b"[]"]),
    ('function s($a, $b) { return $a + $b; } echo s(1, 2); echo s("2", 3); echo s([1], [2]);', [b"3", b"5", b"[0=>1,1=>2]"]),
    ("function fib($n) { return $n < 2 ? $n : fib($n - 1) + fib($n - 2); } echo fib(20); echo fib(\"10\");", [b"6765", b"55"]),
    (
        'function desc($a, $b) { return $a > $b; } echo array_sort(desc, [1, 3, 2]);'
        ' echo array_sort(function ($x, $y) { if ($x == 2) return; return $x < $y ? "yes" : ""; }, [3, 2, 1]);'
        ' echo array_sort(function ($x, $y) { return $x < $y; }, ["b" => 2, "a" => 1], ["keys" => true]);',
        [b"[1=>3,2=>2,0=>1]", b"[2=>1,0=>3,1=>2]", b'["a"=>1,"b"=>2]'],
    ),
    ('$a = [1]; $b = $a; $b[] = 2; $c[] = 3; $a[] = 4; echo $a; echo $b; echo $c; echo 7 % 3; echo "7" % 3;', [b"[0=>1,1=>4]", b"[0=>1,1=>2]", b"[0=>3]", b"1", b"1"]),
    # classes
    (
        "class Foo { constructor($a) { $this->a = $a; } $b = 2; static $s = 5; private $p = 1;"
        " function sum() { return $this->a + $this->b + $this->p; } static function twice($x) { return $x * 2; } }"
        " $f = Foo(1); echo $f->sum(); echo Foo::twice(4); echo Foo::$s; $g = $f; $g->b = 10; echo $f->sum();",
        [b"4", b"8", b"5", b"12"],
    ),
    ("class C { $items = []; function add($x) { $this->items[] = $x; } } $c = C(); $c->add(1); $c->add(2); echo $c->items;", [b"[0=>1,1=>2]"]),
    # isset/unset, cache, barrier, Map/Set
    ('echo isset($x); $x = ["a" => 1]; echo isset($x); echo isset($x["a"]); echo isset($x["b"]); unset($x["a"]); echo $x; unset($x); echo isset($x);', [b"false", b"true", b"true", b"false", b"[]", b"false"]),
    ('function slow($x) { echo "called"; return $x * 2; } echo cache [] slow(2); echo cache ["ttl" => 10] slow(2);', [b"called", b"4", b"4"]),
    ('barrier "counter" => $var { $var = isset($var) ? $var : 0; echo $var; $var += 1; }', [b"0"]),
]

# (script, expected message with its position)
ERRORS = [
    ("echo $undefined;", "t.hsl:1:6: $undefined is not defined"),
    ("echo 1;\n  $x = [1] . none;\n  echo unknown();", "t.hsl:3:8: undefined function unknown()"),
    ("echo length(1, 2);", "t.hsl:1:6: length() takes at most 1 argument, 2 given"),
    ("if (1) {", "t.hsl:1:9: syntax error, unexpected end of input"),
    ("function f($a) { return $a; }\necho f(1, 2);", "t.hsl:2:6: f() takes at most 1 argument, 2 given"),
    ('throw "boom";', "t.hsl:1:1: uncaught exception: boom"),
    ("$a = 1;\n$a();", "t.hsl:2:3: number is not a function"),
    ('echo match (9) { 1 => "one" };', "t.hsl:1:6: match: no arm matches 9"),
    ("break;", "t.hsl:1:1: break outside a loop or switch"),
    ('$s = "x";\n$s[] = 1;', "t.hsl:2:6: cannot assign into string with []"),
    ("function f($n) { return $n + 1 + $n(); }\necho f(1);", "t.hsl:1:36: number is not a function"),
    ("$connection = 1;", "t.hsl:1:1: $connection is read-only"),
]


class ProgramTests(unittest.TestCase):
    def test_programs(self):
        for source, expected in PROGRAMS:
            self.assertEqual(run(source), expected, source)

    def test_errors(self):
        for source, expected in ERRORS:
            with self.assertRaises((HSLRuntimeError, HSLSyntaxError), msg=source) as caught:
                run(source, variables=("connection",), readonly=("connection",))
            self.assertEqual(str(caught.exception), expected, source)

    def test_plainComparatorSort(self):
        """
        array_sort with a plain C{$a < $b} or C{$a > $b} callback (sorted
        without calling it when every operand is a number) gives what the
        same comparison written so that it is called gives: same order, same
        keys, equal values in their first order.
        """
        data = "[5, 3 => 1, 2, \"k\" => 5, -0, 0, 7, 2, 9 => 1, 0.5, -3, 100000000000000000000]"
        mixed = '[3, "b", 1, "a", 2]'
        for op in ("<", ">"):
            for array, options in [(data, "[]"), ("[4 => \"x\", 1 => \"y\", 3 => \"z\"]", '["keys" => true]'), (mixed, "[]")]:
                plain = "array_sort(function ($x, $y) { return $x %s $y; }, %s, %s)" % (op, array, options)
                called = "array_sort(function ($x, $y) { $r = $x %s $y; return $r; }, %s, %s)" % (op, array, options)
                self.assertEqual(run("echo %s;" % plain), run("echo %s;" % called), plain)
        self.assertEqual(run("echo array_sort(function ($a, $b) { return $a > $b; }, [1, 3 => 2, 2]);"), [b"[3=>2,4=>2,0=>1]"])

    def test_predefinedVariables(self):
        out = run(
            'echo $connection["remoteip"]; function f() { global $connection; return $connection["remoteport"]; } echo f();',
            variables=("connection",),
            values={"connection": __import__("halon.hsl.values", fromlist=["HSLArray"]).HSLArray({b"remoteip": b"192.0.2.1", b"remoteport": 25.0})},
        )
        self.assertEqual(out, [b"192.0.2.1", b"25"])

    def test_hookFunctions(self):
        """Functions the host supplies per execution; ScriptExit ends the script quietly."""
        from halon.hsl import ScriptExit

        decisions = []

        def Reject(reason=None):
            decisions.append(reason)
            raise ScriptExit()

        out = run('echo "before"; Reject("no"); echo "after";', functions=("Reject",), callables={"Reject": Reject})
        self.assertEqual(out, [b"before"])
        self.assertEqual(decisions, [b"no"])

    def test_compiledOnce(self):
        from halon.hsl import compile_program

        self.assertIs(compile_program("echo 1;", "same.hsl"), compile_program("echo 1;", "same.hsl"))

    def test_variablesComeBack(self):
        """run() returns the predefined variables as the script left them ($context between hooks)."""
        from halon.hsl import compile_program
        from halon.hsl.host import Host
        from halon.hsl.values import HSLArray

        program = compile_program('$context["n"] = ($context["n"] ?? 0) + 1; Stop();', "ctx.hsl", variables=("context",), functions=("Stop",))

        def Stop():
            from halon.hsl import ScriptExit

            raise ScriptExit()

        first = program.run(Host(), {"context": None}, {"Stop": Stop})
        second = program.run(Host(), first, {"Stop": Stop})
        self.assertEqual(second["context"], HSLArray({b"n": 2.0}))


class FileTests(unittest.TestCase):
    """include, import and data imports, through a host with a root path and virtual files."""

    def setUp(self):
        import os

        from halon.hsl.host import Host

        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "lib"))
        files = {
            "lib/util.hsl": b'function shout($s) { return str_upper($s) . "!"; }\n$version = 2;\n',
            "lib/counter.hsl": b"$count = ($count ?? 0) + 1;\n",
            "lib/cycle.hsl": b'include "cycle.hsl";\n',
            "conf.json": b'{"name": "mx", "ports": [25, 587]}',
            "list.csv": b"id,name\n1,a\n2,b\n",
            "notes.txt": b"one\ntwo\n",
        }
        for name, data in files.items():
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(data)
        self.host = Host(rootpath=self.root, files={"virtual.hsl": b'echo "from a virtual file";\n'})

    def test_include(self):
        out = run(
            'include "lib/counter.hsl"; include "lib/counter.hsl"; include_once "lib/util.hsl"; include_once "lib/util.hsl";'
            ' echo $count; echo shout("hi"); include "virtual.hsl";',
            host=self.host,
        )
        self.assertEqual(out, [b"2", b"HI!", b"from a virtual file"])

    def test_includeCycle(self):
        with self.assertRaises(HSLSyntaxError) as caught:
            run('include "lib/cycle.hsl";', host=self.host)
        self.assertIn("includes itself", str(caught.exception))

    def test_imports(self):
        out = run(
            'import { shout as loud, $version } from "file://lib/util.hsl";\n'
            'import * as util from "lib/util.hsl";\n'
            "echo loud(\"a\"); echo $version; echo util::shout(\"b\"); echo util::$version;",
            host=self.host,
        )
        self.assertEqual(out, [b"A!", b"2", b"B!", b"2"])

    def test_dataImports(self):
        out = run(
            'import $conf from "conf.json"; import $rows from "list.csv" with ["header" => true];'
            ' import $text from "notes.txt"; import $lines from "notes.txt" with ["array" => true];'
            ' echo $conf["ports"][1]; echo $rows[1]["name"]; echo length($text); echo $lines;',
            host=self.host,
        )
        self.assertEqual(out, [b"587", b"b", b"8", b'[0=>"one",1=>"two"]'])

    def test_outsideTheRoot(self):
        with self.assertRaises(HSLSyntaxError) as caught:
            run('include "../../etc/passwd";', host=self.host)
        self.assertIn("is outside the root path", str(caught.exception))


class ReadsTests(unittest.TestCase):
    def test_predefinedVariablesRead(self):
        from halon.hsl import compile_program

        names = ("connection", "transaction", "arguments", "context")

        def reads(source):
            return compile_program(source, "reads.hsl", variables=names).reads

        self.assertEqual(reads('echo $arguments["x"]; $context = 1;'), {"arguments"})
        self.assertEqual(reads("function f() { global $transaction; return 1; } echo isset($connection);"), {"transaction", "connection"})
        self.assertEqual(reads('$context["n"] = 1; $f = function () closure ($arguments) { return 1; };'), {"context", "arguments"})
        self.assertEqual(reads("echo $connection ?? 1;"), {"connection"})
