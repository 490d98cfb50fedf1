"""
Durable per-recipient queue state, beside the immutable spool files.

A spool file (.hqf) is written once, when the message is accepted, and never
changed.  What changes afterwards (state, retry count, next retry, transport
id, metadata, and "this recipient is done") is appended here as one line per
change, so a halonctl update of 100,000 recipients is a few megabytes of
sequential writes and one fsync, not 100,000 file rewrites.

Files in the journal folder:

    snapshot      "#gen N" then one line per recipient whose state was ever journaled
    journal.N     changes made since the snapshot of generation N, in order

Lines (tab-separated, newline-terminated):

    S <uuid:n> <state> <retry> <next_retry> <transportid> <metadata JSON or -> [<grouping>]
    D <uuid:n>

The grouping (queues.grouping) is there once an attempt decided it, so a
restart lists and suspends a waiting recipient by it as before.

Loading replays the snapshot and then every journal of its generation or
later; the last line for an id wins.  L{Journal.compact} starts a new
generation and writes a fresh snapshot in a thread, so the journal never
grows without bound.  Writes go to the OS on the next reactor turn (a kill -9
loses nothing written); L{Journal.sync} fsyncs, batching every caller that
asks while an fsync is already running into the next one.
"""

import json
import os

from twisted.internet import defer, threads
from twisted.python import log

from halon.queue import states

_DURABLE = {
    states.ACTIVE: states.ACTIVE,
    states.DEFER: states.DEFER,
    states.HOLD: states.HOLD,
    states.UPDATE: states.UPDATE,
    # A recipient being worked on falls back to the active queue on restart.
    states.SENDING: states.ACTIVE,
    states.UNKNOWN: states.ACTIVE,
}


def _escape(text):
    if "\t" in text or "\n" in text or "\\" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def _unescape(text):
    if "\\" not in text:
        return text
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"t": "\t", "n": "\n"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def render(rcpt):
    """The S line for C{rcpt}'s durable state."""
    metadata = rcpt.metadata
    return "S\t%s:%d\t%d\t%d\t%.3f\t%s\t%s%s\n" % (
        rcpt.message.uuid,
        rcpt.n,
        _DURABLE[rcpt.state],
        rcpt.retry,
        rcpt.next_retry,
        _escape(rcpt.transportid),
        "-" if metadata is None else json.dumps(metadata, separators=(",", ":")),
        "\t" + _escape(rcpt.grouping) if rcpt.grouping else "",
    )


class Entry:
    """The journaled state of one recipient, as L{Journal.load} found it."""

    __slots__ = ("state", "retry", "next_retry", "transportid", "metadata", "grouping")

    def __init__(self, state, retry, next_retry, transportid, metadata, grouping=""):
        self.state = state
        self.retry = retry
        self.next_retry = next_retry
        self.transportid = transportid
        self.metadata = metadata
        self.grouping = grouping


DONE = "done"


class Journal:
    """
    @ivar generation: the generation new lines are appended to.
    """

    def __init__(self, folder, reactor, compact_bytes=64 * 1024 * 1024, run_in_thread=None):
        self.folder = folder
        self._reactor = reactor
        self._run_in_thread = run_in_thread or (
            lambda f, *args: threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)
        )
        self.compact_bytes = compact_bytes
        self.generation = 0
        self._file = None
        self._pending = []
        self._flush_call = None
        self._syncing = None
        self._waiters = []
        self._written = 0
        self._snapshot_size = 0
        self._compacting = None

    # -- loading ----------------------------------------------------------------

    def load(self):
        """
        id -> L{Entry} or L{DONE}, replayed from disk; then open the journal
        for appending.  Unreadable lines are skipped and logged, never fatal:
        the spool files stay the source of truth for what is queued.
        """
        os.makedirs(self.folder, exist_ok=True)
        entries = {}
        generation = 0
        snapshot = os.path.join(self.folder, "snapshot")
        if os.path.exists(snapshot):
            with open(snapshot, "r", encoding="utf-8", errors="replace") as f:
                header = f.readline()
                if header.startswith("#gen "):
                    generation = int(header.split()[1])
                self._replay(f, entries, snapshot)
            self._snapshot_size = os.path.getsize(snapshot)
        journals = sorted(self._journal_generations())
        for number in journals:
            path = self._journal_path(number)
            if number < generation:
                os.unlink(path)
                continue
            with open(path, "r", encoding="utf-8", errors="replace") as f:
                self._replay(f, entries, path)
            self._written += os.path.getsize(path)
        self.generation = max([generation] + journals)
        self._file = open(self._journal_path(self.generation), "ab")
        return entries

    def _replay(self, lines, entries, path):
        for number, line in enumerate(lines, 1):
            if not line.endswith("\n"):
                # A line cut short by a crash: everything before it counts.
                break
            parts = line[:-1].split("\t")
            try:
                if parts[0] == "S":
                    entries[parts[1]] = Entry(
                        int(parts[2]),
                        int(parts[3]),
                        float(parts[4]),
                        _unescape(parts[5]),
                        None if parts[6] == "-" else json.loads(parts[6]),
                        _unescape(parts[7]) if len(parts) > 7 else "",
                    )
                elif parts[0] == "D":
                    entries[parts[1]] = DONE
                else:
                    raise ValueError("unknown record %r" % (parts[0],))
            except (IndexError, ValueError) as e:
                log.msg("queue journal %s:%d skipped: %s" % (path, number, e))

    def _journal_generations(self):
        for name in os.listdir(self.folder):
            if name.startswith("journal.") and name[8:].isdigit():
                yield int(name[8:])

    def _journal_path(self, generation):
        return os.path.join(self.folder, "journal.%d" % (generation,))

    # -- appending ----------------------------------------------------------------

    def record(self, rcpt):
        """Journal C{rcpt}'s current state (written on the next reactor turn)."""
        rcpt.journaled = True
        self._pending.append(render(rcpt))
        self._schedule()

    def record_many(self, rcpts):
        for rcpt in rcpts:
            rcpt.journaled = True
        self._pending.extend(map(render, rcpts))
        self._schedule()

    def done(self, rcpt):
        """Journal that C{rcpt} left the queue (delivered, bounced or deleted)."""
        self._pending.append("D\t%s:%d\n" % (rcpt.message.uuid, rcpt.n))
        self._schedule()

    def _schedule(self):
        if self._flush_call is None:
            self._flush_call = self._reactor.callLater(0, self.flush)

    def flush(self):
        """Hand every pending line to the OS now."""
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        if not self._pending or self._file is None:
            return
        data = "".join(self._pending).encode("utf-8")
        self._pending = []
        self._file.write(data)
        self._file.flush()
        self._written += len(data)

    def sync(self):
        """A Deferred that fires once everything journaled so far is on disk."""
        self.flush()
        d = defer.Deferred()
        self._waiters.append(d)
        if self._syncing is None:
            self._start_sync()
        return d

    def _start_sync(self):
        waiters, self._waiters = self._waiters, []
        fd = self._file.fileno()
        self._syncing = self._run_in_thread(os.fsync, fd)

        def done(result):
            self._syncing = None
            for d in waiters:
                d.callback(None)
            if self._waiters:
                self._start_sync()
            return None

        def failed(failure):
            self._syncing = None
            for d in waiters:
                d.errback(failure)
            if self._waiters:
                self._start_sync()
            return None

        self._syncing.addCallbacks(done, failed)

    # -- compaction ---------------------------------------------------------------

    def wants_compaction(self):
        return self._compacting is None and self._written > max(self.compact_bytes, 2 * self._snapshot_size)

    def compact(self, recipients):
        """
        Start generation N+1 and write a snapshot of C{recipients} (every
        recipient whose state was ever journaled) in a thread; then drop the
        journals the snapshot replaces.  Returns a Deferred.
        """
        if self._compacting is not None:
            return self._compacting
        self.flush()
        lines = [render(r) for r in recipients]
        old_file = self._file
        self.generation += 1
        generation = self.generation
        self._file = open(self._journal_path(generation), "ab")
        self._written = 0
        folder = self.folder

        def write():
            old_file.flush()
            os.fsync(old_file.fileno())
            old_file.close()
            temporary = os.path.join(folder, "snapshot.tmp")
            with open(temporary, "w", encoding="utf-8") as f:
                f.write("#gen %d\n" % (generation,))
                f.writelines(lines)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, os.path.join(folder, "snapshot"))
            _fsync_folder(folder)
            for number in list(self._journal_generations()):
                if number < generation:
                    os.unlink(self._journal_path(number))
            return os.path.getsize(os.path.join(folder, "snapshot"))

        def finished(size):
            self._snapshot_size = size
            self._compacting = None

        def failed(failure):
            self._compacting = None
            log.err(failure, "queue journal compaction failed")

        d = self._run_in_thread(write)
        d.addCallbacks(finished, failed)
        self._compacting = d
        return d

    def close(self):
        self.flush()
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _fsync_folder(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
