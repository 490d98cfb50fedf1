"""
The spool files as the delivery path touches them, kept off the reactor
thread's critical path.

L{Recent}: a message the SMTP server has just committed is still in memory
(its L{halon.queue.spool.SpoolMessage} with the bytes); its first attempt
usually follows within milliseconds, so reading the file back would only
repeat what is at hand.  Kept up to a byte budget, oldest dropped first;
anything not kept is read from the file as before.

L{Unlinker}: a delivered message's file is removed in a worker thread, in
batches.  The journal's "D" lines, not the unlink, are what make a delivery
final, so a file left behind by a crash is removed at the next load.  An
unlink on a busy disk can take a millisecond, long enough to stall every
session on the reactor.
"""

import os
from collections import OrderedDict

from twisted.internet import defer, threads

from halon.queue import spool


class Recent:
    """Recently committed messages (uuid -> SpoolMessage) within C{budget} bytes."""

    def __init__(self, budget=32 * 1024 * 1024):
        self.budget = budget
        self.size = 0
        self._messages = OrderedDict()

    def add(self, spooled):
        length = len(spooled.message) if spooled.message is not None else None
        if length is None or length > self.budget or spooled.uuid in self._messages:
            return
        self._messages[spooled.uuid] = spooled
        self.size += length
        while self.size > self.budget:
            _, oldest = self._messages.popitem(last=False)
            self.size -= len(oldest.message)

    def read(self, uuid, path):
        """The SpoolMessage of C{uuid}: the one at hand, else the file at C{path}."""
        spooled = self._messages.get(uuid)
        return spooled if spooled is not None else spool.read(path)

    def data(self, message):
        """
        The bytes of C{message} (an index L{halon.queue.index.Message}): the
        ones at hand, else read where its file keeps them, without parsing
        the envelope again when the index knows where that is.
        """
        spooled = self._messages.get(message.uuid)
        if spooled is not None:
            return spooled.message
        if message.offset is not None:
            return spool.read_data(message.path, message.offset, message.size)
        return spool.read(message.path).read_message()

    def discard(self, uuid):
        spooled = self._messages.pop(uuid, None)
        if spooled is not None:
            self.size -= len(spooled.message)

    def __len__(self):
        return len(self._messages)


def unlink_all(paths):
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


class Unlinker:
    """
    Removes files in one worker thread at a time: paths queued while a batch
    runs go in the next one.  L{busy} says whether any is still to go.

    @param run_in_thread: f, *args -> Deferred; None removes at once (for a
        reactor without threads).
    """

    def __init__(self, reactor, run_in_thread=None):
        if run_in_thread is None and hasattr(reactor, "getThreadPool"):
            def run_in_thread(f, *args):
                return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)
        self._run_in_thread = run_in_thread
        self._pending = []
        self._running = None
        self._waiters = []

    @property
    def busy(self):
        return bool(self._pending) or self._running is not None

    def unlink(self, path):
        if self._run_in_thread is None:
            unlink_all([path])
            return
        self._pending.append(path)
        if self._running is None:
            self._next()

    def _next(self):
        batch, self._pending = self._pending, []
        self._running = self._run_in_thread(unlink_all, batch)
        self._running.addBoth(self._done)

    def _done(self, _):
        self._running = None
        if self._pending:
            self._next()
        else:
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.callback(None)

    def when_done(self):
        """A Deferred that fires once every path queued so far is gone."""
        if not self.busy:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    def flush(self):
        """Remove what is still queued here, in this thread (at shutdown)."""
        batch, self._pending = self._pending, []
        unlink_all(batch)
