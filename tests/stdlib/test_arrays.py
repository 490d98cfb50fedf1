"""Array functions, called directly with HSL values and Python callbacks."""

import random

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from tests.stdlib.helpers import plain, amap, arr, fn, show


def even(x):
    return x % 2 == 0


class ArrayTests(unittest.TestCase):
    def test_every(self):
        """The manual's array_every examples."""
        self.assertIs(fn("array_every")(even, arr(0, 2, 4, 6)), True)
        self.assertIs(fn("array_every")(even, arr(0, 2, 5, 6)), False)
        self.assertIs(fn("array_every")(even, arr()), True)

    def test_filterKeepsKeys(self):
        """array_filter keeps keys; is_number as a callback (the manual's second example)."""
        self.assertEqual(show(fn("array_filter")(even, arr(0, 1, 2, 3))), "[0=>0,2=>2]")
        self.assertEqual(show(fn("array_filter")(fn("is_number"), arr(0, "Hello World", 2))), "[0=>0,2=>2]")

    def test_find(self):
        """The manual's array_find example, and none when nothing matches."""
        data = arr({"id": 1, "name": "a"}, {"id": 2, "name": "b"})
        found = fn("array_find")(lambda x: x.get(b"id") == 2.0, data)
        self.assertEqual(show(found), '["id"=>2,"name"=>"b"]')
        self.assertTrue(found.shared)
        self.assertIsNone(fn("array_find")(lambda x: False, data))

    def test_includes(self):
        """The manual's examples: a callback, or === against each value."""
        self.assertIs(fn("array_includes")(lambda x: x == 2.0, arr(0, 1, 2, 3)), True)
        self.assertIs(fn("array_includes")(False, arr(0, None, "")), False)
        self.assertIs(fn("array_includes")(b"", arr(0, None, "")), True)
        self.assertIs(fn("array_includes")(arr(1), arr(arr(1))), True)

    def test_join(self):
        """array_join stringifies values; the default separator is empty."""
        self.assertEqual(fn("array_join")(arr("a", 1, True), b", "), b"a, 1, true")
        self.assertEqual(fn("array_join")(arr("a", "b")), b"ab")

    def test_keysAndMap(self):
        """array_keys lists keys; array_map keeps keys (the manual's doubling example)."""
        a = amap([("a", 1), (5, 2)])
        self.assertEqual(plain(fn("array_keys")(a)), ['a', 5])
        self.assertEqual(plain(fn("array_map")(lambda x: x * 2, arr(0, 1, 2, 3))), [0, 2, 4, 6])
        self.assertEqual(show(fn("array_map")(lambda x: x * 2, a)), '["a"=>2,5=>4]')

    def test_random(self):
        """array_random gives a [key, value] pair from the array, none when empty."""
        a = amap([("a", 1), ("b", 2)])
        for _ in range(20):
            k, v = fn("array_random")(a).to_list()
            self.assertEqual(a.get(k), v)
        self.assertIsNone(fn("array_random")(arr()))

    def test_range(self):
        """Half-open ranges with integer, negative and fractional steps."""
        r = fn("array_range")
        self.assertEqual(plain(r(0.0, 9.0)), [0, 1, 2, 3, 4, 5, 6, 7, 8])
        self.assertEqual(plain(r(0.0, 10.0, 3.0)), [0, 3, 6, 9])
        self.assertEqual(plain(r(5.0, 0.0, -2.0)), [5, 3, 1])
        self.assertEqual(plain(r(0.0, 1.0, 0.25)), [0, 0.25, 0.5, 0.75])
        self.assertEqual(plain(r(3.0, 1.0)), [])
        self.assertRaises(HSLRuntimeError, r, 0.0, 1.0, 0.0)
        self.assertRaises(HSLRuntimeError, r, 0.0, float("inf"))

    def test_reduce(self):
        """The manual's sum, an initial value, one value alone, and the empty-array error."""
        add = lambda c, x: c + x  # noqa: E731
        self.assertEqual(fn("array_reduce")(add, arr(0, 1, 2, 3)), 6.0)
        self.assertEqual(fn("array_reduce")(add, arr(1, 2), 10.0), 13.0)
        self.assertEqual(fn("array_reduce")(add, arr("only")), b"only")
        self.assertIsNone(fn("array_reduce")(add, arr(), None))
        self.assertRaises(HSLRuntimeError, fn("array_reduce"), add, arr())

    def test_reverseReindexes(self):
        """Integer keys are renumbered, string keys kept."""
        a = amap([("a", 1), (5, 2), (6, 3)])
        self.assertEqual(show(fn("array_reverse")(a)), '[0=>3,1=>2,"a"=>1]')
        self.assertEqual(plain(fn("array_reverse")(arr(1, 2, 3))), [3, 2, 1])

    def test_sort(self):
        """The manual's sort and reverse sort; keys stay with their values."""
        sort = fn("array_sort")
        self.assertEqual(show(sort(lambda a, b: a < b, arr(2, 3, 1))), "[2=>1,0=>2,1=>3]")
        self.assertEqual(show(sort(lambda a, b: a > b, arr(2, 3, 1))), "[1=>3,0=>2,2=>1]")
        byname = amap([("b", 1), ("a", 2)])
        self.assertEqual(show(sort(lambda a, b: a < b, byname, amap([("keys", True)]))), '["a"=>2,"b"=>1]')
        self.assertRaises(HSLRuntimeError, sort, lambda a, b: a < b, arr(), amap([("reverse", True)]))

    def test_sortLarge(self):
        """100k numbers sort with a less-than callback (its speed is bench/hsl's)."""
        values = [float(random.randrange(1_000_000)) for _ in range(100_000)]
        result = fn("array_sort")(lambda a, b: a < b, arr(*values))
        self.assertEqual(result.to_list(), sorted(values))

    def test_shuffle(self):
        """array_shuffle keeps the values and renumbers integer keys."""
        a = arr(*range(50))
        s = fn("array_shuffle")(a)
        self.assertEqual(sorted(s.to_list()), a.to_list())
        self.assertEqual(list(s.keys()), [float(i) for i in range(50)])

    def test_unique(self):
        """The first key of each value is kept; 1 and "1" and true are different values."""
        a = arr(1, "1", True, 1, "a", "1", arr(1), arr(1), None, None)
        self.assertEqual(show(fn("array_unique")(a)), '[0=>1,1=>"1",2=>true,4=>"a",6=>[0=>1],8=>none]')

    def test_combine(self):
        """Keys from one array, values from the other, a default for missing values."""
        c = fn("array_combine")
        self.assertEqual(show(c(arr("a", "b"), arr(1, 2))), '["a"=>1,"b"=>2]')
        self.assertEqual(show(c(arr("a", "a"), arr(1, 2))), '["a"=>2]')
        self.assertEqual(show(c(arr("a", "b"), arr(1), 0.0)), '["a"=>1,"b"=>0]')
        self.assertRaises(HSLRuntimeError, c, arr("a", "b"), arr(1))

    def test_argumentsUntouched(self):
        """No function changes its argument or returns it."""
        a = arr(3, 1, 2)
        before = show(a)
        for name, args in [
            ("array_sort", (lambda x, y: x < y, a)),
            ("array_reverse", (a,)),
            ("array_map", (lambda x: x, a)),
            ("array_filter", (lambda x: True, a)),
            ("array_unique", (a,)),
            ("array_shuffle", (a,)),
        ]:
            result = fn(name)(*args)
            self.assertIsNot(result, a, name)
        self.assertEqual(show(a), before)

    def test_typeErrors(self):
        """Callbacks must be functions and arrays arrays."""
        self.assertRaises(HSLRuntimeError, fn("array_map"), b"x", arr())
        self.assertRaises(HSLRuntimeError, fn("array_map"), len, b"x")
