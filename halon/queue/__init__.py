"""
The queue: where committed messages go after the spool made them durable.

The SMTP server only knows the small L{QueueSink} interface: once a
message is on disk (L{halon.queue.spool}) it calls C{sink.submit(message)}
on the reactor thread with the L{halon.queue.spool.SpoolMessage}; at start
the queue loads the spool itself (L{halon.queue.spool.load}).

L{MemoryQueue} is the stand-in that keeps what it is given in memory; the
scheduling and delivery queue replaces it.
"""

from halon.queue.spool import load

__all__ = ["QueueSink", "MemoryQueue"]


class QueueSink:
    """What the SMTP server hands committed messages to."""

    def submit(self, message):
        """C{message} (a SpoolMessage, bytes not kept in memory) is durable and now queued."""
        raise NotImplementedError

    def load(self, spool_path, on_error=None):
        """Take in every message already in the spool (at start-up); returns how many."""
        raise NotImplementedError


class MemoryQueue(QueueSink):
    """Keeps committed messages in a list, keyed by their queue ids."""

    def __init__(self):
        self.messages = []
        self.loaded = 0

    def submit(self, message):
        message.message = None
        self.messages.append(message)

    def load(self, spool_path, on_error=None):
        count = 0
        for message in load(spool_path, on_error):
            self.messages.append(message)
            count += 1
        self.loaded += count
        return count

    def recipients(self):
        """(queue id, recipient record) of every queued recipient."""
        return [("%s:%d" % (m.uuid, r["index"]), r) for m in self.messages for r in m.recipients]
