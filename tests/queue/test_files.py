"""The delivery path's spool file helpers: messages kept in memory, files removed in batches."""

import os

from twisted.internet import defer
from twisted.trial import unittest

from halon.queue import spool
from halon.queue.files import Recent, Unlinker
from halon.queue.index import Message
from halon.queue.spool import SpoolError, SpoolMessage

from tests.queue.helpers import tempdir, write


class RecentTests(unittest.TestCase):
    def test_budget(self):
        """Kept within the byte budget, oldest dropped first; what is not kept is read from its file."""
        recent = Recent(budget=10)
        first, second = SpoolMessage("a", {}, [], message=b"123456"), SpoolMessage("b", {}, [], message=b"7890")
        recent.add(first)
        recent.add(second)
        self.assertEqual((len(recent), recent.size), (2, 10))
        recent.add(SpoolMessage("c", {}, [], message=b"x"))
        self.assertEqual((len(recent), recent.size), (2, 5))
        self.assertIs(recent.read("b", None), second)
        self.assertRaises(SpoolError, recent.read, "a", os.path.join(tempdir(self), "gone.hqf"))
        recent.discard("b")
        recent.add(SpoolMessage("big", {}, [], message=b"x" * 11))
        self.assertEqual((len(recent), recent.size), (1, 1))


    def test_data(self):
        """
        A message's bytes: the ones at hand, else read at the offset the
        index keeps, else found by reading the file's envelope; a file cut
        short is an error, not short data.
        """
        body = b"Subject: x\r\n\r\nbody\r\n"
        folder = tempdir(self)
        path = write(os.path.join(folder, "m0", "m.hqf"),
                     SpoolMessage("m", {"sender": "a@b"}, [{"index": 1, "recipient": "c@d"}], message=body).to_bytes())
        self.assertEqual(spool.read(path).message, body)
        spooled = spool.read(path, keep=len(body) - 1)
        self.assertIsNone(spooled.message)
        self.assertEqual([(m.uuid, m.message) for m in spool.load(folder)], [("m", None)])
        recent = Recent()
        at = Message("m", "a@b", 0, size=spooled.length, path=path, offset=spooled.offset)
        self.assertEqual(recent.data(at), body)
        self.assertEqual(recent.data(Message("m", "a@b", 0, size=spooled.length, path=path)), body)
        recent.add(SpoolMessage("m", {}, [], message=b"in memory"))
        self.assertEqual(recent.data(at), b"in memory")
        recent.discard("m")
        with open(path, "r+b") as f:
            f.truncate(spooled.offset + 3)
        self.assertRaises(SpoolError, recent.data, at)


class UnlinkerTests(unittest.TestCase):
    def setUp(self):
        self.calls = []

        def run_in_thread(f, *args):
            d = defer.Deferred()
            self.calls.append((d, f, args))
            return d

        self.unlinker = Unlinker(None, run_in_thread)
        folder = tempdir(self)
        self.paths = [write(os.path.join(folder, "%d.hqf" % n), b"x") for n in range(3)]

    def finish(self):
        d, f, args = self.calls.pop(0)
        f(*args)
        d.callback(None)

    def test_batches(self):
        """One batch runs at a time; paths queued meanwhile go in the next; when_done waits for all."""
        first, second, third = self.paths
        self.unlinker.unlink(first)
        self.unlinker.unlink(second)
        self.unlinker.unlink(third)
        done = self.unlinker.when_done()
        self.assertEqual([args for _, _, args in self.calls], [([first],)])
        self.finish()
        self.assertFalse(os.path.exists(first))
        self.assertEqual([args for _, _, args in self.calls], [([second, third],)])
        self.assertFalse(done.called)
        self.finish()
        self.assertTrue(done.called)
        self.assertFalse(self.unlinker.busy)
        self.assertEqual([os.path.exists(p) for p in self.paths], [False] * 3)

    def test_flushAtShutdown(self):
        """What is still queued is removed at once; a file already gone is no error."""
        self.unlinker.unlink(self.paths[0])
        self.unlinker.unlink(self.paths[1])
        self.unlinker.unlink(self.paths[1])
        self.unlinker.flush()
        self.assertEqual([os.path.exists(p) for p in self.paths], [True, False, True])
