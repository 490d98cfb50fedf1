"""Condition matching, suspends and the pickup policy engine, on a task.Clock."""

import itertools

from twisted.internet.task import Clock
from twisted.trial import unittest

from halon.queue import matching, policies, suspends
from halon.stats import Stats


def engine(config, clock=None):
    clock = clock or Clock()
    stats = Stats()
    ids = itertools.count(1).__next__
    table = suspends.Suspends(clock, ids, stats)
    policy_engine = policies.PolicyEngine(clock, ids, table, stats)
    policy_engine.load(policies.parse_file(config))
    return clock, stats, table, policy_engine


CTX = {"transportid": "mx", "localip": "192.0.2.1", "remotemx": "mx1.example.com", "remoteip": "198.51.100.7",
       "recipientdomain": "example.com", "jobid": "", "tenantid": "", "grouping": ""}


class MatchingTests(unittest.TestCase):
    def test_valueTypes(self):
        """Strings, regexes, lists, wildcards, networks and @lists match as the manual describes."""
        lists = {"google": ["*.google.com", "aspmx.l.google.com"]}
        cases = [
            ("transportid", "mx", "mx", True),
            ("transportid", "/^m.$/", "mx", True),
            ("transportid", ["a", "b"], "mx", False),
            ("remotemx", "*.example.com", "MX1.Example.com", True),
            ("remotemx", "*.example.com", "example.com", False),
            ("remotemx", "@google", "alt1.google.com", True),
            ("remotemx", "@google", "aspmx.l.google.com", True),
            ("recipientdomain", "/^ex/i", "EXAMPLE.com", True),
            ("remoteip", "198.51.100.0/24", "198.51.100.7", True),
            ("remoteip", "2001:db8::1", "2001:0db8:0:0::1", True),
            ("localip", ["192.0.2.1", "192.0.2.2"], "192.0.2.3", False),
        ]
        for field, spec, value, expected in cases:
            self.assertEqual(matching.compile_value(field, spec, lists)(value), expected, (field, spec, value))

    def test_errorsNamePlace(self):
        """Bad values are refused with where they are."""
        for field, spec, fragment in [
            ("remoteip", "not-an-ip", "not an IP"),
            ("remotemx", "@nolist", "unknown list"),
            ("transportid", "/(/", "invalid regex"),
            ("colour", "red", "unknown field"),
        ]:
            e = self.assertRaises(ValueError, matching.compile_value, field, spec, {}, "here.if." + field)
            self.assertIn(fragment, str(e))
            self.assertIn("here.if.", str(e))

    def test_conditionNeedsEveryField(self):
        """A condition matches only when every field matches; an empty one matches all."""
        condition = matching.Condition({"remotemx": "*.example.com", "transportid": "other"})
        self.assertFalse(condition.matches(CTX))
        self.assertTrue(matching.Condition({"remotemx": "*.example.com"}).matches(CTX))
        self.assertTrue(matching.Condition({}).matches(CTX))


class SuspendTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.stats = Stats()
        self.table = suspends.Suspends(self.clock, itertools.count(100).__next__, self.stats)

    def test_fileAndDynamic(self):
        """File entries and dynamic ones both hold back matching contexts; reload replaces only the file's."""
        self.table.load(suspends.parse_file({"suspends": [{"recipientdomain": "example.com", "tag": "t"}]}))
        self.assertEqual(self.table.matching(CTX).tag, "t")
        dynamic = self.table.add({"remotemx": "*.example.com"}, ttl=60)
        self.table.load(suspends.parse_file({"suspends": []}))
        self.assertIs(self.table.matching(CTX), dynamic)
        self.assertEqual([s.source for s in self.table.listing()], ["dynamic"])

    def test_ttlLapses(self):
        """A dynamic suspend lapses after its ttl; adding the same one again only renews the ttl."""
        lifted = []
        self.table.on_change(lambda: lifted.append(self.clock.seconds()))
        first = self.table.add({"remotemx": "*.example.com"}, ttl=60)
        self.clock.advance(50)
        again = self.table.add({"remotemx": "*.example.com"}, ttl=60)
        self.assertEqual(first.id, again.id)
        self.assertEqual(self.stats.value("queue.policy.dynamic.suspends"), 1)
        self.clock.advance(59)
        self.assertIsNotNone(self.table.matching(CTX))
        self.clock.advance(1)
        self.assertIsNone(self.table.matching(CTX))
        self.assertEqual(lifted, [110])
        self.assertEqual(self.stats.value("queue.policy.dynamic.suspends"), 0)

    def test_emptySuspendsAll(self):
        """'- {}' suspends everything; delete lifts it."""
        self.table.load(suspends.parse_file({"suspends": [{}]}))
        (entry,) = self.table.listing()
        self.assertIsNotNone(self.table.matching(CTX))
        self.assertTrue(self.table.delete(entry.id))
        self.assertFalse(self.table.delete(entry.id))

    def test_fileErrors(self):
        """A bad suspend file names the entry and the problem."""
        e = self.assertRaises(ValueError, suspends.parse_file, {"suspends": [{"remoteip": "nope"}]})
        self.assertIn("suspends[0].remoteip", str(e))
        e = self.assertRaises(ValueError, suspends.parse_file, {"suspends": [{"colour": "x"}]})
        self.assertIn("unknown field colour", str(e))


class PolicyTests(unittest.TestCase):
    def test_concurrency(self):
        """Past its concurrency a key is suspended, and lifted as soon as one delivery ends."""
        clock, stats, table, engine_ = engine({"policies": [{"fields": ["remotemx"], "default": {"concurrency": 2}}]})
        grants = [engine_.acquire(CTX), engine_.acquire(CTX)]
        self.assertNotIn(None, grants)
        self.assertIsNone(engine_.acquire(CTX))
        self.assertEqual(table.matching(CTX).source, "policy")
        self.assertIsNone(table.matching(dict(CTX, remotemx="mx.other.org")))
        self.assertEqual(stats.value("queue.policy.concurrency.suspends"), 1)
        self.assertEqual(stats.value("queue.policy.concurrency.counters"), 1)
        engine_.release(grants[0])
        self.assertIsNone(table.matching(CTX))
        self.assertIsNotNone(engine_.acquire(CTX))

    def test_deletedSuspendComesBack(self):
        """A policy's suspend an operator deleted is made again while the key is still over its limit."""
        clock, stats, table, engine_ = engine({"policies": [{"fields": ["remotemx"], "default": {"concurrency": 1}}]})
        grant = engine_.acquire(CTX)
        self.assertIsNone(engine_.acquire(CTX))
        table.delete(table.matching(CTX).id)
        self.assertIsNone(table.matching(CTX))
        self.assertIsNone(engine_.acquire(CTX))
        self.assertEqual(table.matching(CTX).source, "policy")
        engine_.release(grant)
        self.assertEqual((table.matching(CTX), table.entries), (None, {}))

    def test_rate(self):
        """A rate of 2/10 lets two through, suspends for the refill time, then one more."""
        clock, stats, table, engine_ = engine({"policies": [{"fields": ["remotemx"], "default": {"rate": "2/10"}}]})
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertIsNone(engine_.acquire(CTX))
        self.assertEqual(stats.value("queue.policy.rate.suspends"), 1)
        self.assertEqual(stats.value("queue.policy.rate.buckets"), 1)
        clock.advance(4.9)
        self.assertIsNotNone(table.matching(CTX))
        clock.advance(0.1)
        self.assertIsNone(table.matching(CTX))
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertIsNone(engine_.acquire(CTX))

    def test_rollupsAndConditions(self):
        """Rolled-up values share one counter; conditions choose limits, first match wins, else default."""
        config = {
            "policies": [
                {
                    "fields": ["localip", {"remotemx": {"gsuite": ["*.google.com"]}}],
                    "conditions": [{"if": {"remotemx": "#gsuite"}, "then": {"concurrency": 1, "tag": "g"}}],
                    "default": {"concurrency": 5},
                }
            ]
        }
        clock, stats, table, engine_ = engine(config)
        first = engine_.acquire(dict(CTX, remotemx="alt1.google.com"))
        self.assertEqual(first.tags, ["g"])
        self.assertIsNone(engine_.acquire(dict(CTX, remotemx="alt2.google.com")))
        self.assertIsNotNone(engine_.acquire(dict(CTX, remotemx="alt2.google.com", localip="192.0.2.9")))
        self.assertIsNotNone(engine_.acquire(CTX))

    def test_dynamicConditionsComeFirst(self):
        """A run-time condition overrides the file's for its ttl, then the file's limits apply again."""
        clock, stats, table, engine_ = engine({"policies": [{"fields": ["remotemx"], "default": {"concurrency": 10}}]})
        id = engine_.add_dynamic(["remotemx"], {"remotemx": "*.example.com"}, {"concurrency": 1}, ttl=60)
        self.assertEqual(stats.value("queue.policy.dynamic.conditions"), 1)
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertIsNone(engine_.acquire(CTX))
        clock.advance(60)
        self.assertEqual(stats.value("queue.policy.dynamic.conditions"), 0)
        self.assertIsNone(table.matching(CTX))
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertFalse(engine_.delete_dynamic(id))

    def test_reloadKeepsCounters(self):
        """Reloading the file keeps concurrency counters and buckets of the same fields."""
        config = {"policies": [{"fields": ["remotemx"], "default": {"concurrency": 1}}]}
        clock, stats, table, engine_ = engine(config)
        self.assertIsNotNone(engine_.acquire(CTX))
        engine_.load(policies.parse_file(config))
        self.assertIsNone(engine_.acquire(CTX))

    def test_refill(self):
        """Refill clears the bucket matched exactly, or every bucket, and lifts its suspension."""
        config = {"policies": [{"fields": ["remotemx"], "default": {"rate": "1/3600"}}]}
        clock, stats, table, engine_ = engine(config)
        engine_.acquire(CTX)
        engine_.acquire(dict(CTX, remotemx="mx.other.org"))
        self.assertIsNone(engine_.acquire(CTX))
        self.assertEqual(engine_.refill({"remotemx": "nomatch"}), 0)
        self.assertEqual(engine_.refill({"remotemx": "mx1.example.com"}), 1)
        self.assertIsNone(table.matching(CTX))
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertEqual(engine_.refill(), 2)

    def test_partialRefill(self):
        """Refilling with a number of tokens adds that many (up to the capacity)."""
        config = {"policies": [{"fields": ["remotemx"], "default": {"rate": "5/3600"}}]}
        clock, stats, table, engine_ = engine(config)
        for _ in range(5):
            engine_.acquire(CTX)
        self.assertIsNone(engine_.acquire(CTX))
        self.assertEqual(engine_.refill({"remotemx": "mx1.example.com"}, tokens=2), 1)
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertIsNotNone(engine_.acquire(CTX))
        self.assertIsNone(engine_.acquire(CTX))

    def test_rates(self):
        """Rates parse from N/S text, bare numbers and [N, S] arrays; nonsense is refused."""
        self.assertEqual(policies.parse_rate("10/600"), (10.0, 600.0))
        self.assertEqual(policies.parse_rate(50), (50.0, 1.0))
        self.assertEqual(policies.parse_rate([3, 60]), (3.0, 60.0))
        for bad in ("x/1", "0/5", -1, True):
            self.assertRaises(ValueError, policies.parse_rate, bad)

    def test_fileErrors(self):
        """A bad policy file names the policy, the place and the reason."""
        e = self.assertRaises(ValueError, policies.parse_file,
                              {"policies": [{"fields": ["remotemx"], "conditions": [{"if": {"jobid": "x"}, "then": {}}]}]})
        self.assertIn("policies[0].conditions[0].if: jobid not among the policy's fields", str(e))
        e = self.assertRaises(ValueError, policies.parse_file, {"policies": [{"default": {"speed": 1}}]})
        self.assertIn("policies[0].default: unknown setting speed", str(e))
