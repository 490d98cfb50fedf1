"""
The in-memory index of every queued recipient.

Halon keeps the metadata of the whole queue in memory so that halonctl can
filter, group and change a million recipients in well under a second.  The
records here are that metadata: one L{Message} per spooled message (what
its recipients share) and one L{Recipient} per queue id C{uuid:N}.  Both use
C{__slots__}; domains and transport ids are interned, so a recipient costs a
few hundred bytes.  Iteration over all recipients is a chain of C-level
iterators (see L{QueueIndex.recipients}), which is what lets grouping run
through C{collections.Counter} without a Python loop per record.

The index knows nothing about time, files or delivery: it stores records,
keeps the per-state counts the queue.* counters publish and the usage of
each named quota (C{queue_quota()}), and tracks the freeze requests of
L{freeze}.  L{halon.queue.core.Queue} drives it.
"""

import sys
from itertools import chain
from operator import attrgetter

from halon.queue import states

_intern = sys.intern
_recipients_of = attrgetter("recipients")


def split_address(address):
    """C{(localpart, domain)} of an envelope address; the domain lower-cased and interned."""
    at = address.rfind("@")
    if at < 0:
        return address, ""
    return address[:at], _intern(address[at + 1 :].lower())


class Message:
    """
    What the recipients of one spooled message share.

    @ivar uuid: the transaction id, the first half of every queue id.
    @ivar path: the message's spool file, or C{None} for records made in tests.
    @ivar offset: where the message bytes start in that file, when known.
    @ivar ts: the Unix time the message was received.
    @ivar dsn: C{None}, or a dict with "envid" and "ret" from MAIL FROM.
    @ivar extra: what the spool keeps that the index does not interpret
        (the reader's own record), handed back to the spool and hooks.
    """

    __slots__ = (
        "uuid",
        "path",
        "offset",
        "sender",
        "sender_domain",
        "ts",
        "size",
        "serverid",
        "jobid",
        "tenantid",
        "priority",
        "dsn",
        "recipients",
        "extra",
    )

    def __init__(
        self,
        uuid,
        sender,
        ts,
        size=0,
        path=None,
        serverid="",
        jobid="",
        tenantid="",
        priority=0,
        dsn=None,
        extra=None,
        offset=None,
    ):
        self.uuid = uuid
        self.path = path
        self.offset = offset
        self.sender = sender
        self.sender_domain = split_address(sender)[1]
        self.ts = ts
        self.size = size
        self.serverid = _intern(serverid)
        self.jobid = _intern(jobid)
        self.tenantid = _intern(tenantid)
        self.priority = priority
        self.dsn = dsn
        self.recipients = []
        self.extra = extra

    def __repr__(self):
        return "<Message %s %d recipients>" % (self.uuid, len(self.recipients))


class Recipient:
    """
    One queue entry: a recipient of a message and its delivery state.

    @ivar n: the queue number, the second half of the id C{uuid:n}.
    @ivar next_retry: Unix time of the next attempt (meaningful in DEFER).
    @ivar metadata: C{None} or a dict str -> str (SetMetaData, --updatemetadata).
    @ivar params: C{None} or the recipient's DSN parameters ("notify", "orcpt").
    @ivar quotas: C{None} or the names of the quotas it counts in (the
        C{quotas} option of C{queue()}), each once.
    @ivar remotemx, remoteip, grouping, localip: known once resolved/attempted.
    @ivar freezing: an operator asked to freeze this recipient while it was
        in a working state; it goes to UPDATE when the work ends.
    @ivar journaled: its state has been written to the journal at least once
        (so snapshots must keep it).
    @ivar work: what the delivery machinery attached while working on it.
    """

    __slots__ = (
        "message",
        "n",
        "address",
        "domain",
        "transportid",
        "state",
        "retry",
        "next_retry",
        "metadata",
        "params",
        "quotas",
        "remotemx",
        "remoteip",
        "grouping",
        "localip",
        "freezing",
        "journaled",
        "work",
    )

    def __init__(self, message, n, address, transportid, state=states.ACTIVE, retry=0, next_retry=0.0):
        self.message = message
        self.n = n
        self.address = address
        self.domain = split_address(address)[1]
        self.transportid = _intern(transportid)
        self.state = state
        self.retry = retry
        self.next_retry = next_retry
        self.metadata = None
        self.params = None
        self.quotas = None
        self.remotemx = ""
        self.remoteip = ""
        self.grouping = ""
        self.localip = ""
        self.freezing = False
        self.journaled = False
        self.work = None

    @property
    def id(self):
        return "%s:%d" % (self.message.uuid, self.n)

    def __repr__(self):
        return "<Recipient %s %s %s>" % (self.id, self.address, states.NAMES[self.state])


def parse_id(text):
    """C{(uuid, n)} from C{uuid:n}, or ValueError."""
    uuid, sep, n = text.strip().rpartition(":")
    if not sep or not uuid or not n.isdigit():
        raise ValueError("invalid queue id %r (expected uuid:number)" % (text,))
    return uuid, int(n)


class QueueIndex:
    """
    Every queued recipient, by message, with counts per state.

    Callers change a recipient's state only through L{set_state}, so the
    counts (and the freeze bookkeeping) never drift from the records.

    @ivar quotas: quota name -> (queue entries, bytes) of the recipients
        counted in it; a name without any is absent.  Each value is replaced
        whole, so a script thread reading it never sees half an update.
    """

    def __init__(self):
        self.messages = {}
        self.counts = [0] * len(states.NAMES)
        self.freeze_pending = 0
        self.quotas = {}

    def __len__(self):
        return sum(self.counts)

    def add(self, message):
        """Index C{message} and its recipients (already built, with their states)."""
        if message.uuid in self.messages:
            raise ValueError("message %s is already queued" % (message.uuid,))
        self.messages[message.uuid] = message
        counts = self.counts
        for rcpt in message.recipients:
            counts[rcpt.state] += 1
            if rcpt.quotas:
                self._count(rcpt.quotas, 1, message.size)

    def remove(self, rcpt):
        """
        Forget C{rcpt}; True when it was its message's last recipient (the
        message is then forgotten too and its files may go).
        """
        message = rcpt.message
        message.recipients.remove(rcpt)
        self.counts[rcpt.state] -= 1
        if rcpt.quotas:
            self._count(rcpt.quotas, -1, -message.size)
        if rcpt.freezing:
            rcpt.freezing = False
            self.freeze_pending -= 1
        if message.recipients:
            return False
        del self.messages[message.uuid]
        return True

    def _count(self, names, entries, size):
        quotas = self.quotas
        for name in names:
            count, total = quotas.get(name, (0, 0))
            count += entries
            if count > 0:
                quotas[name] = (count, total + size)
            else:
                quotas.pop(name, None)

    def quota(self, name):
        """C{(queue entries, bytes)} counted in the quota C{name}."""
        return self.quotas.get(name, (0, 0))

    def set_state(self, rcpt, state):
        """
        Move C{rcpt} to C{state}.  A recipient leaving a working state while
        a freeze is pending lands in UPDATE instead; the state it got is
        returned.
        """
        old = rcpt.state
        if rcpt.freezing and old in states.WORKING and state not in states.WORKING:
            rcpt.freezing = False
            self.freeze_pending -= 1
            state = states.UPDATE
        if old != state:
            self.counts[old] -= 1
            self.counts[state] += 1
            rcpt.state = state
        return state

    def freeze(self, rcpt):
        """Ask for C{rcpt} (in a working state) to go to UPDATE when its work ends."""
        if rcpt.state not in states.WORKING:
            raise ValueError("%s is not in a working state" % (rcpt.id,))
        if not rcpt.freezing:
            rcpt.freezing = True
            self.freeze_pending += 1

    def get(self, queue_id):
        """The recipient with id C{uuid:n}, or None."""
        try:
            uuid, n = parse_id(queue_id)
        except ValueError:
            return None
        message = self.messages.get(uuid)
        if message is None:
            return None
        for rcpt in message.recipients:
            if rcpt.n == n:
                return rcpt
        return None

    def recipients(self):
        """An iterator over every recipient, in the order messages were queued."""
        return chain.from_iterable(map(_recipients_of, self.messages.values()))

    def count(self, state):
        return self.counts[state]
