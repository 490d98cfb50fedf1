"""
The same programs in HSL (compiled by halon.hsl) and in CPython, timed on
this machine and printed side by side; the target is HSL within 2x of
CPython for each.  Also: compiling a 2,000-line script, first and cached.

The two sides of a program run in turn, ROUNDS times, and the medians are
compared, so that load from other processes falls on both alike.
"""

import functools
import io
import json
import statistics
import time

from halon.hsl import compile_program
from halon.hsl.host import Host

ROUNDS = 7

PROGRAMS = [
    (
        "fib(27) recursive",
        "function fib($n) { return $n < 2 ? $n : fib($n - 1) + fib($n - 2); } echo fib(27);",
        lambda: _fib(27),
    ),
    (
        "1e6-iteration loop",
        "$s = 0; for ($i = 0; $i < 1000000; $i++) { $s += $i; } echo $s;",
        lambda: _loop(1000000),
    ),
    (
        "100k string concatenations",
        '$s = ""; for ($i = 0; $i < 100000; $i++) { $s .= "x"; } echo length($s);',
        lambda: _concat(100000),
    ),
    (
        "100k array appends + sort",
        "$a = []; for ($i = 0; $i < 100000; $i++) { $a[] = ($i * 7919) % 100003; } $a = array_sort(function ($x, $y) { return $x < $y; }, $a); echo $a[0];",
        lambda: _appends(100000),
    ),
    (
        # The same sort with a callback the compiler does not see as a plain
        # comparison, so it is called for every comparison, as CPython's is.
        "  the same, callback called",
        "$a = []; for ($i = 0; $i < 100000; $i++) { $a[] = ($i * 7919) % 100003; } $a = array_sort(function ($x, $y) { $r = $x < $y; return $r; }, $a); echo $a[0];",
        lambda: _appends(100000),
    ),
    (
        "json encode+decode 1 MB",
        '$a = []; for ($i = 0; $i < 20000; $i++) { $a[] = ["id" => $i, "name" => "user$i", "tags" => ["a", "b"]]; }'
        " $j = json_encode($a); $b = json_decode($j); echo length($j);",
        lambda: _json(20000),
    ),
]


def _fib(n):
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


def _loop(n):
    s = 0.0
    i = 0.0
    while i < n:
        s += i
        i += 1
    return s


def _concat(n):
    s = b""
    for _ in range(n):
        s += b"x"
    return len(s)


def _appends(n):
    a = []
    for i in range(n):
        a.append(float((i * 7919) % 100003))
    return sorted(a, key=functools.cmp_to_key(lambda x, y: -1 if x < y else 1))[0]


def _json(n):
    a = [{"id": i, "name": "user%d" % i, "tags": ["a", "b"]} for i in range(n)]
    j = json.dumps(a, separators=(",", ":"))
    json.loads(j)
    return len(j)


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def medians(first, second):
    """The median times of C{first} and C{second}, run in turn ROUNDS times."""
    times = [(_seconds(first), _seconds(second)) for _ in range(ROUNDS)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def big_script(lines=2000):
    parts = []
    for i in range(lines // 10):
        parts.append(
            "function f%d($a, $b = 2) {\n  $x = [$a, $b, \"k\" => $a . \"%d\"];\n  if ($a > $b) {\n"
            "    return $x[0] + $b * 3;\n  } else {\n    foreach ($x as $k => $v) { echo \"$k=$v\"; }\n"
            "  }\n  return match ($a) { 1 => \"one\", default => \"other\" };\n}\n$r%d = f%d(%d);\n" % (i, i, i, i, i)
        )
    return "".join(parts)


def main():
    host = Host(stdout=io.BytesIO())
    print("%-30s %10s %10s %8s   (medians of %d runs)" % ("program", "HSL s", "CPython s", "ratio", ROUNDS))
    for name, source, python in PROGRAMS:
        program = compile_program(source, "bench.hsl")
        hsl, py = medians(lambda: program.run(host), python)
        print("%-30s %10.3f %10.3f %7.2fx" % (name, hsl, py, hsl / py), flush=True)
    source = big_script()
    # A comment that differs each round keeps every first compile uncached.
    first = statistics.median(
        _seconds(lambda: compile_program(source + "// %d\n" % i, "big.hsl")) for i in range(ROUNDS)
    )
    cached = statistics.median(_seconds(lambda: compile_program(source, "big.hsl")) for _ in range(ROUNDS))
    print("compile %d lines: %.3f s first, %.6f s cached" % (source.count("\n"), first, cached))


if __name__ == "__main__":
    main()
