"""
Synchronous DNS lookups for code that runs on a script thread.

Scripts and the libraries they call (pyspf, dkimpy) are written as blocking
code and run off the reactor thread; their lookups are handed to the reactor
and waited for here. Calling from the reactor thread itself would deadlock,
so it is refused.
"""

import threading

from twisted.internet.threads import blockingCallFromThread


class BlockingLookup:
    """C{lookup(name, rrtype, timeout)} -> L{halon.dns.client.Answer}, from any non-reactor thread."""

    def __init__(self, reactor, resolver):
        self._reactor = reactor
        self.resolver = resolver
        self._reactor_thread = None
        reactor.callWhenRunning(self._note_thread)

    def _note_thread(self):
        self._reactor_thread = threading.get_ident()

    def __call__(self, name, rrtype, timeout=None):
        if threading.get_ident() == self._reactor_thread:
            raise RuntimeError("a blocking DNS lookup was made on the reactor thread")
        return blockingCallFromThread(self._reactor, self.resolver.query, name, rrtype, timeout)
