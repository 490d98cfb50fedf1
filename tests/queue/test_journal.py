"""The state journal: replay, torn lines, compaction, fsync batching."""

import os

from twisted.internet import reactor
from twisted.trial import unittest

from halon.queue import journal, states
from halon.queue.index import QueueIndex

from tests.queue.helpers import make_message, tempdir


class JournalTests(unittest.TestCase):
    def setUp(self):
        self.folder = os.path.join(tempdir(self), "journal")
        self.index = QueueIndex()
        self.index.add(make_message("u1", recipients=("a@example.com", "b@example.com")))

    def reopen(self):
        j = journal.Journal(self.folder, reactor)
        entries = j.load()
        self.addCleanup(j.close)
        return j, entries

    async def test_replayLastWins(self):
        """The last line for an id wins; D marks a recipient done; tabs in values survive."""
        j, _ = self.reopen()
        a, b = self.index.get("u1:1"), self.index.get("u1:2")
        a.state, a.retry, a.next_retry = states.DEFER, 2, 1234.5
        j.record(a)
        a.state, a.transportid, a.metadata = states.HOLD, "odd\ttransport", {"k": "v\n"}
        j.record(a)
        j.done(b)
        await j.sync()
        j.close()
        _, entries = self.reopen()
        entry = entries["u1:1"]
        self.assertEqual((entry.state, entry.retry, entry.next_retry), (states.HOLD, 2, 1234.5))
        self.assertEqual((entry.transportid, entry.metadata), ("odd\ttransport", {"k": "v\n"}))
        self.assertIs(entries["u1:2"], journal.DONE)

    async def test_workingStatesFallBackToActive(self):
        """A recipient journaled while SENDING comes back ACTIVE."""
        j, _ = self.reopen()
        a = self.index.get("u1:1")
        a.state = states.SENDING
        j.record(a)
        await j.sync()
        j.close()
        _, entries = self.reopen()
        self.assertEqual(entries["u1:1"].state, states.ACTIVE)

    def test_tornLineIgnored(self):
        """A last line cut short by a crash is ignored; everything before it counts."""
        os.makedirs(self.folder)
        with open(os.path.join(self.folder, "journal.0"), "w") as f:
            f.write("S\tu1:1\t2\t0\t0.000\tmx\t-\nS\tu1:2\t2\t0\t0.0")
        _, entries = self.reopen()
        self.assertEqual(list(entries), ["u1:1"])

    def test_garbageSkipped(self):
        """An unreadable line is skipped, not fatal."""
        os.makedirs(self.folder)
        with open(os.path.join(self.folder, "journal.0"), "w") as f:
            f.write("X\tnonsense\nS\tu1:1\tbad\nS\tu1:2\t2\t1\t5.000\tmx\t-\n")
        _, entries = self.reopen()
        self.assertEqual(list(entries), ["u1:2"])

    async def test_compaction(self):
        """Compaction writes a snapshot of the live records, drops old journals, and replay gives the same state."""
        j, _ = self.reopen()
        a = self.index.get("u1:1")
        for retry in range(50):
            a.retry = retry
            j.record(a)
        j.done(self.index.get("u1:2"))
        j.flush()
        await j.compact([a])
        a.state = states.HOLD
        j.record(a)
        await j.sync()
        self.assertEqual(sorted(os.listdir(self.folder)), ["journal.1", "snapshot"])
        j.close()
        _, entries = self.reopen()
        self.assertEqual((entries["u1:1"].retry, entries["u1:1"].state), (49, states.HOLD))
        self.assertNotIn("u1:2", entries)

    async def test_syncBatches(self):
        """Syncs asked for while an fsync runs share the next one; every waiter fires."""
        j, _ = self.reopen()
        a = self.index.get("u1:1")
        waits = []
        for _ in range(5):
            j.record(a)
            waits.append(j.sync())
        for d in waits:
            await d
        self.assertTrue(a.journaled)
        self.assertGreater(os.path.getsize(os.path.join(self.folder, "journal.0")), 0)
