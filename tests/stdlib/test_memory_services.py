"""memory_* across threads, and the functions delegated to daemon services."""

import threading

from twisted.trial import unittest

from halon.hsl.errors import HSLNotAvailable, HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.stdlib import core
from halon.hsl.stdlib.memory import memory_of
from halon.hsl.stdlib.services import DELEGATED
from tests.stdlib.helpers import arr, plain


class MemoryTests(unittest.TestCase):
    def setUp(self):
        self.host = Host()
        self.ns = core.namespace(self.host)

    def test_addStoreFetch(self):
        """add only when absent; store reports an overwrite to the callback; fetch's callback makes defaults."""
        ns = self.ns
        self.assertIs(ns["memory_add"](b"k", 1.0), True)
        self.assertIs(ns["memory_add"](b"k", 2.0), False)
        seen = []
        self.assertIs(ns["memory_store"](b"k", 3.0, lambda k, old: seen.append((k, old))), True)
        self.assertEqual(seen, [(b"k", 1.0)])
        self.assertEqual(ns["memory_fetch"](b"k"), 3.0)
        self.assertIsNone(ns["memory_fetch"](b"missing"))

        def create(k):
            ns["memory_store"](k, 123.0)
            return 123.0

        self.assertEqual(ns["memory_fetch"](b"x", create), 123.0)
        self.assertEqual(ns["memory_fetch"](b"x"), 123.0)

    def test_existsDelete(self):
        """exists and delete call back with the value only when the key is there."""
        ns = self.ns
        seen = []
        self.assertIs(ns["memory_exists"](b"k", lambda k, v: seen.append(v)), False)
        ns["memory_store"](b"k", b"v")
        self.assertIs(ns["memory_exists"](b"k", lambda k, v: seen.append(v)), True)
        self.assertIs(ns["memory_delete"](b"k", lambda k, v: seen.append(v)), True)
        self.assertIs(ns["memory_delete"](b"k"), False)
        self.assertEqual(seen, [b"v", b"v"])

    def test_incDec(self):
        """Counters start at 0; non-numbers give none; remove_if_zero deletes."""
        ns = self.ns
        self.assertEqual(ns["memory_inc"](b"n"), 1.0)
        self.assertEqual(ns["memory_inc"](b"n", 5.0), 6.0)
        self.assertEqual(ns["memory_dec"](b"n", 6.0, True), 0.0)
        self.assertIs(ns["memory_exists"](b"n"), False)
        ns["memory_store"](b"s", b"text")
        self.assertIsNone(ns["memory_inc"](b"s"))

    def test_updateManualExamples(self):
        """The manual's list append with an initial value, and its compare-and-swap."""
        ns = self.ns

        def append(k, c, v):
            c = c.own()
            c.append(v)
            return c

        self.assertIs(ns["memory_update"](b"list", b"item", append, arr()), True)
        ns["memory_update"](b"list", b"item2", append, arr())
        self.assertEqual(plain(ns["memory_fetch"](b"list")), ["item", "item2"])
        self.assertIs(ns["memory_update"](b"absent", 1.0, lambda k, c, v: v), False)
        ns["memory_store"](b"x", 3.0)
        swapped = []

        def cas(k, c, v):
            if c != 3.0:
                return c
            swapped.append(True)
            return v

        self.assertTrue(ns["memory_update"](b"x", 5.0, cas) and swapped)
        self.assertEqual(ns["memory_fetch"](b"x"), 5.0)

    def test_copies(self):
        """A stored array does not change when the script changes its own copy afterwards."""
        a = arr(1)
        self.ns["memory_store"](b"a", a)
        a.append(2.0)
        got = self.ns["memory_fetch"](b"a")
        self.assertEqual(plain(got), [1.0])
        self.assertTrue(got.shared)

    def test_atomicAcrossThreads(self):
        """Eight threads incrementing 500 times each lose no update."""

        def work():
            for _ in range(500):
                self.ns["memory_update"](b"c", 1.0, lambda k, c, v: c + v, 0.0)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(self.ns["memory_fetch"](b"c"), 4000.0)

    def test_jsonInterface(self):
        """store/fetch/delete with JSON values reach the same entries scripts use."""
        store = memory_of(self.host)
        store.store("theanswer", 42)
        self.assertEqual(self.ns["memory_fetch"](b"theanswer"), 42.0)
        self.ns["memory_store"](b"cfg", arr("a", {"b": True}))
        self.assertEqual(store.fetch("cfg"), ["a", {"b": True}])
        self.assertIs(store.delete("theanswer"), True)
        self.assertIsNone(store.fetch("theanswer"))
        self.assertIs(memory_of(self.host), store)

    def test_keyType(self):
        """Keys are strings."""
        self.assertRaises(HSLRuntimeError, self.ns["memory_fetch"], 1.0)


class Resolver:
    """A host service as a daemon registers it: methods named like the HSL functions."""

    def __init__(self):
        self.calls = []

    def dns_query(self, *args):
        self.calls.append(args)
        return "answer"


class ServiceTests(unittest.TestCase):
    def test_delegation(self):
        """Arguments go to the service method as the script gave them, optional ones only when given."""
        host = Host()
        resolver = Resolver()
        host.services["resolver"] = resolver
        ns = core.namespace(host)
        self.assertEqual(ns["dns_query"](b"example.com"), "answer")
        ns["dns_query"](b"example.com", arr())
        self.assertEqual(resolver.calls, [(b"example.com",), (b"example.com", arr())])

    def test_notAvailable(self):
        """Without the service the call is HSLNotAvailable naming the function."""
        ns = core.namespace(Host())
        for name in DELEGATED:
            self.assertIn(name, core.functions)
        e = self.assertRaises(HSLNotAvailable, ns["queue_quota"], b"q")
        self.assertEqual(str(e), "queue_quota() is not available here")

    def test_arity(self):
        """The registry's arity follows functions.json."""
        entry = core.functions["http"]
        self.assertEqual((entry.min_args, entry.max_args), (1, 4))
        entry = core.functions["metrics_set"]
        self.assertEqual((entry.min_args, entry.max_args), (3, 3))
        self.assertEqual((core.functions["spf_query"].min_args, core.functions["spf_query"].max_args), (3, 3))
