"""Sliding-window counts, on a Clock."""

from twisted.internet.task import Clock
from twisted.trial import unittest

from halon.rated.window import RateError, RateTable


class WindowTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.table = RateTable(self.clock)

    def test_limitIsTheCount(self):
        """rate(ns, e, 3, 60) accepts three hits in a minute and refuses the fourth."""
        results = [self.table.check(b"out", b"u", 3, 60) is not None for _ in range(4)]
        self.assertEqual(results, [True, True, True, False])

    def test_windowSlides(self):
        """A hit older than the interval no longer counts, so a new one is accepted."""
        self.table.check(b"out", b"u", 2, 10)
        self.clock.advance(6)
        self.table.check(b"out", b"u", 2, 10)
        self.assertIsNone(self.table.check(b"out", b"u", 2, 10))
        self.clock.advance(4.5)
        self.assertIsNotNone(self.table.check(b"out", b"u", 2, 10))
        self.assertEqual(self.table.check(b"out", b"u", 0, 10), 2)

    def test_countZeroReadsWithoutRecording(self):
        """A count of 0 returns the hits in the interval and adds none."""
        for _ in range(3):
            self.table.check(b"n", b"e", 10, 60)
            self.clock.advance(10)
        self.assertEqual(self.table.check(b"n", b"e", 0, 60), 3)
        self.assertEqual(self.table.check(b"n", b"e", 0, 15), 1)
        self.assertEqual(self.table.check(b"n", b"e", 0, 60), 3)
        self.assertEqual(self.table.check(b"n", b"other", 0, 60), 0)

    def test_deniedHitsAreNotRecorded(self):
        """Refused calls do not extend the window (a client hammering stays at the limit)."""
        self.table.check(b"n", b"e", 1, 10)
        for _ in range(5):
            self.assertIsNone(self.table.check(b"n", b"e", 1, 10))
        self.assertEqual(self.table.check(b"n", b"e", 0, 10), 1)
        self.assertEqual(self.table.denied, 5)

    def test_longestIntervalIsKept(self):
        """Hits stay for the longest interval asked about, so a long window sees them."""
        self.table.check(b"n", b"e", 10, 300)
        self.table.check(b"n", b"e", 10, 5)
        self.clock.advance(100)
        self.table.expire()
        self.assertEqual(self.table.check(b"n", b"e", 0, 300), 2)
        self.assertEqual(self.table.check(b"n", b"e", 0, 5), 0)

    def test_expireDropsEmptyEntries(self):
        """An entry whose hits all left its window is deleted."""
        self.table.check(b"n", b"e", 10, 5)
        self.clock.advance(6)
        self.table.expire()
        self.assertEqual(len(self.table), 0)

    def test_remoteHitsCountButAreNotLocal(self):
        """Hits from a peer add to Count but not to Local count."""
        self.table.check(b"n", b"e", 10, 60)
        self.table.add_remote(b"n", b"e", 60, self.clock.seconds() - 5, count=2)
        self.assertEqual(self.table.check(b"n", b"e", 0, 60), 3)
        [row] = self.table.rows()
        self.assertEqual(row[:4], (b"n", b"e", 3, 1))

    def test_rowsAsTheSeedShowsThem(self):
        """Oldest/Newest are ages in seconds and the rate is count / (oldest - newest)."""
        for _ in range(5):
            self.table.check(b"delivery-failures", b"customer1", 10, 60)
            self.clock.advance(2)
        self.clock.advance(2)
        [row] = self.table.rows()
        self.assertEqual(row[:4], (b"delivery-failures", b"customer1", 5, 5))
        self.assertEqual(row[4:6], (12, 4))
        self.assertEqual(row[6], 0.625)

    def test_clearFilters(self):
        """clear deletes by namespace, by entry, or all, and says how many."""
        for ns, e in [(b"a", b"1"), (b"a", b"2"), (b"b", b"1")]:
            self.table.check(ns, e, 1, 60)
        self.assertEqual(self.table.clear(entry=b"1"), 2)
        self.assertEqual(self.table.clear(namespace=b"b"), 0)
        self.assertEqual(self.table.clear(), 1)

    def test_badArguments(self):
        """Negative, fractional or absurd counts and intervals are refused with a reason."""
        for limit, interval in [(-1, 10), (1.5, 10), (1, 0), (1, -5), (float("nan"), 1), (1, float("inf"))]:
            self.assertRaises(RateError, self.table.check, b"n", b"e", limit, interval)

    def test_localHitsForInitialSync(self):
        """Only synchronised entries' own hits are offered to a peer."""
        self.table.check(b"n", b"synced", 10, 60)
        self.table.check(b"n", b"private", 10, 60, sync=False)
        self.table.add_remote(b"n", b"remote", 60, self.clock.seconds())
        offered = [(ns, e, len(t)) for ns, e, keep, t in self.table.local_hits()]
        self.assertEqual(offered, [(b"n", b"synced", 1)])
