"""
One AUTH exchange (RFC 4954) as a small state machine without I/O.

PLAIN and LOGIN are decoded here, so the AUTH hook gets a username and a
password; any other configured mechanism is passed to the hook as raw
responses, and the hook drives it with Reply() challenges (the flow chart
in Halon's AUTH reference).  The protocol feeds the client's lines in and
gets back what to do next:

    ("challenge", text)    send 334 with base64(text)
    ("ask", None)          run the AUTH hook with the collected arguments
    ("error", reply)       answer with C{reply} and end the exchange
"""

import base64
import binascii

from halon.smtpd.replies import R

__all__ = ["SASLExchange"]


def _decode(data):
    if data == b"=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


class SASLExchange:
    """
    @ivar mechanism: upper-case mechanism name (bytes).
    @ivar state: increments with every hook Reply(); the hook's C{state}.
    @ivar username, password: for PLAIN and LOGIN, once known.
    @ivar response: the last decoded client response (custom mechanisms).
    """

    def __init__(self, mechanism):
        self.mechanism = mechanism
        self.state = 0
        self.username = None
        self.password = None
        self.response = None
        self._hook_replied = False

    def start(self, initial):
        """The AUTH command with its optional initial response (None when absent)."""
        if self.mechanism == b"PLAIN":
            if initial is None:
                return "challenge", b""
            return self._plain(initial)
        if self.mechanism == b"LOGIN":
            if initial is None:
                return "challenge", b"Username:"
            return self._login(initial)
        if initial is not None:
            decoded = _decode(initial)
            if decoded is None:
                return "error", R.AUTH_BAD_BASE64
            self.response = decoded
        return "ask", None

    def respond(self, line):
        """A client line while the exchange is open."""
        if line == b"*":
            return "error", R.AUTH_ABORTED
        if self._hook_replied:
            decoded = _decode(line)
            if decoded is None:
                return "error", R.AUTH_BAD_BASE64
            self.response = decoded
            return "ask", None
        if self.mechanism == b"PLAIN":
            return self._plain(line)
        if self.mechanism == b"LOGIN":
            return self._login(line)
        return "error", R.AUTH_MECHANISM

    def hook_replied(self):
        """The hook answered with Reply(): the next client line is a response for it."""
        self._hook_replied = True
        self.state += 1

    def _plain(self, data):
        decoded = _decode(data)
        if decoded is None:
            return "error", R.AUTH_BAD_BASE64
        parts = decoded.split(b"\0")
        if len(parts) != 3:
            return "error", R.AUTH_BAD_BASE64
        _authzid, self.username, self.password = parts
        return "ask", None

    def _login(self, data):
        decoded = _decode(data)
        if decoded is None:
            return "error", R.AUTH_BAD_BASE64
        if self.username is None:
            self.username = decoded
            return "challenge", b"Password:"
        self.password = decoded
        return "ask", None
