"""Map, Set and their iterators."""

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.stdlib.collections import Iterator
from tests.stdlib.helpers import arr, plain

Map = core.classes["Map"]
Set = core.classes["Set"]


class MapTests(unittest.TestCase):
    def test_setGetHasDelete(self):
        """The basic methods, and none for a missing key."""
        m = Map(b"string", b"any")
        self.assertIs(m.set(b"a", 1.0), True)
        self.assertIs(m.has(b"a"), True)
        self.assertEqual(m.get(b"a"), 1.0)
        self.assertIsNone(m.get(b"b"))
        self.assertEqual(m.size(), 1.0)
        self.assertIs(m.delete(b"a"), True)
        self.assertIs(m.delete(b"a"), False)
        self.assertEqual(m.size(), 0.0)

    def test_typed(self):
        """Keys and values of the wrong type are refused."""
        m = Map(b"number", b"string")
        m.set(1.0, b"x")
        self.assertRaises(HSLRuntimeError, m.set, b"1", b"x")
        self.assertRaises(HSLRuntimeError, m.set, 1.0, 5.0)
        self.assertRaises(HSLRuntimeError, Map, b"array", b"any")
        self.assertRaises(HSLRuntimeError, Map, b"string", b"float")
        m.set(1.5, b"y")
        self.assertEqual(m.get(1.5), b"y")
        self.assertEqual(m.get(1.0), b"x")

    def test_merge(self):
        """merge() adds numbers and appends to arrays, like +."""
        m = Map(b"string", b"any")
        m.merge(b"n", 1.0)
        m.merge(b"n", 2.0)
        self.assertEqual(m.get(b"n"), 3.0)
        m.merge(b"list", arr("a"))
        m.merge(b"list", arr("b"))
        m.merge(b"list", b"c")
        self.assertEqual(plain(m.get(b"list")), ["a", "b", "c"])

    def test_valuesAreCopies(self):
        """An array stored and later changed by its owner's copy-on-write stays as stored."""
        m = Map(b"string", b"array")
        a = arr(1)
        m.set(b"k", a)
        self.assertTrue(a.shared)
        b = a.own()
        b.append(2.0)
        self.assertEqual(plain(m.get(b"k")), [1.0])

    def test_entries(self):
        """entries() iterates [key, value] values, or key => value pairs."""
        m = Map(b"string", b"number")
        m.set(b"a", 1.0)
        m.set(b"b", 2.0)
        it = m.entries()
        self.assertIsInstance(it, Iterator)
        self.assertEqual([plain(v) for v in it], [["a", 1.0], ["b", 2.0]])
        self.assertEqual(list(m.entries().hsl_items()), [(b"a", 1.0), (b"b", 2.0)])
        it = m.entries()
        m.clear()
        self.assertEqual(len(list(it)), 2)
        self.assertEqual(list(m), [])


class SetTests(unittest.TestCase):
    def test_methods(self):
        """add/has/delete/size/clear."""
        s = Set(b"string")
        self.assertIs(s.add(b"a"), True)
        self.assertIs(s.add(b"a"), False)
        self.assertIs(s.has(b"a"), True)
        self.assertEqual(s.size(), 1.0)
        self.assertIs(s.delete(b"a"), True)
        self.assertIs(s.has(b"a"), False)
        s.add(b"x")
        s.clear()
        self.assertEqual(s.size(), 0.0)
        self.assertRaises(HSLRuntimeError, s.add, 1.0)

    def test_values(self):
        """values() iterates the keys as values."""
        s = Set(b"number")
        s.add(2.0)
        s.add(1.0)
        self.assertEqual(list(s.values()), [2.0, 1.0])
        self.assertEqual(list(s.values().hsl_items()), [(0.0, 2.0), (1.0, 1.0)])

    def test_methodTable(self):
        """Every method classes.json lists is exposed by name."""
        self.assertEqual(set(Map.hsl_methods), {"set", "has", "get", "delete", "merge", "size", "clear", "entries"})
        self.assertEqual(set(Set.hsl_methods), {"add", "has", "delete", "size", "clear", "values"})
