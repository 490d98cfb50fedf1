"""
Every reply the SMTP server sends, in one table shared by the code and the
tests, so that a code or an enhanced status never drifts between the two.

A L{Reply} is a code, an enhanced status code (or None where RFC 2034 keeps
it out: the greeting, the EHLO answer, 334 and 354) and text lines.  Hook
decisions make replies too (L{Reply.custom}), with the defaults of Halon's
hook reference (docs/smtpd.md lists them).
"""

__all__ = ["Reply", "R"]


class Reply:
    """One SMTP reply; immutable, formatted by L{lines}."""

    __slots__ = ("code", "enhanced", "text", "_wire")

    def __init__(self, code, enhanced, text):
        self.code = code
        self.enhanced = tuple(enhanced) if enhanced is not None else None
        if isinstance(text, (bytes, str)):
            text = [text]
        self.text = tuple(t.encode("utf-8") if isinstance(t, str) else t for t in text)
        self._wire = None

    def __repr__(self):
        return "Reply(%d, %r, %r)" % (self.code, self.enhanced, self.text)

    def __eq__(self, other):
        return isinstance(other, Reply) and (self.code, self.enhanced, self.text) == (
            other.code,
            other.enhanced,
            other.text,
        )

    def __hash__(self):
        return hash((self.code, self.enhanced, self.text))

    def format(self, *args):
        """The same reply with C{%} applied to its (single) text line."""
        return Reply(self.code, self.enhanced, [self.text[0] % args] + list(self.text[1:]))

    @property
    def status(self):
        """The enhanced code as C{b"2.1.0"}, or b""."""
        if self.enhanced is None:
            return b""
        return b"%d.%d.%d" % self.enhanced

    def lines(self):
        """The reply on the wire: one C{bytes} per line, without CRLF."""
        prefix = b"%d" % self.code
        status = self.status + b" " if self.enhanced is not None else b""
        text = [line for chunk in self.text for line in _split(chunk)] or [b""]
        last = len(text) - 1
        return [prefix + (b" " if i == last else b"-") + status + line for i, line in enumerate(text)]

    def to_bytes(self):
        # Formatted once: most replies sent are the table's own objects.
        if self._wire is None:
            self._wire = b"".join(line + b"\r\n" for line in self.lines())
        return self._wire

    @classmethod
    def custom(cls, default, reason=None, code=None, enhanced=None):
        """
        A hook's reply: C{default} with the script's reason lines, code and
        enhanced code where given.  A code whose class differs from the
        default's keeps the enhanced code consistent by taking its class
        digit from the code (Reject with code 451 gives 4.x.x).
        """
        if reason is None and code is None and enhanced is None:
            return default
        new_code = default.code if code is None else int(code)
        if enhanced is None:
            enhanced = default.enhanced
            if enhanced is not None and new_code // 100 != enhanced[0]:
                enhanced = (new_code // 100,) + enhanced[1:]
        text = default.text if reason is None else reason
        return cls(new_code, enhanced, text)


def _split(chunk):
    """A text chunk as reply lines: CR and LF never reach the wire inside a line."""
    if b"\n" not in chunk and b"\r" not in chunk:
        return [chunk]
    return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")


class R:
    """The table. Texts with C{%s} are filled in with L{Reply.format}."""

    # connection
    GREETING = Reply(220, None, "%s ESMTP")
    BYE = Reply(221, (2, 0, 0), "Bye")
    TOO_MANY_CONNECTIONS = Reply(421, (4, 7, 0), "Too many connections, try again later")
    TOO_MANY_FROM_IP = Reply(421, (4, 7, 0), "Too many connections from your address, try again later")
    TIMEOUT = Reply(421, (4, 4, 2), "Timeout, closing connection")
    TOO_MANY_ERRORS = Reply(421, (4, 7, 0), "Too many errors, closing connection")
    SHUTTING_DOWN = Reply(421, (4, 3, 2), "Service shutting down")
    PROXY_REQUIRED = Reply(421, (4, 7, 0), "PROXY protocol header required")
    LOCAL_ERROR = Reply(451, (4, 3, 0), "Local error in processing, try again later")

    # commands
    NOOP = Reply(250, (2, 0, 0), "Ok")
    RESET = Reply(250, (2, 0, 0), "Ok")
    HELP = Reply(214, (2, 0, 0), "See RFC 5321")
    VRFY = Reply(252, (2, 5, 0), "Cannot VRFY user, but will accept message")
    EXPN = Reply(502, (5, 5, 1), "EXPN not available")
    UNKNOWN = Reply(500, (5, 5, 2), "Command not recognized")
    NOT_IMPLEMENTED = Reply(502, (5, 5, 1), "Command not implemented")
    LINE_TOO_LONG = Reply(500, (5, 5, 2), "Line too long")
    SYNTAX = Reply(501, (5, 5, 4), "Syntax: %s")
    NEED_HELO = Reply(503, (5, 5, 1), "Send HELO or EHLO first")
    NESTED_MAIL = Reply(503, (5, 5, 1), "Sender already given")
    NEED_MAIL = Reply(503, (5, 5, 1), "Need MAIL command first")
    NO_VALID_RECIPIENTS = Reply(554, (5, 5, 1), "No valid recipients")
    BAD_PARAMETER = Reply(501, (5, 5, 4), "Bad parameter %s")
    UNKNOWN_PARAMETER = Reply(555, (5, 5, 4), "Unsupported parameter %s")
    NEED_SMTPUTF8 = Reply(553, (5, 6, 7), "Non-ASCII address requires SMTPUTF8")
    SIZE_EXCEEDED = Reply(552, (5, 3, 4), "Message size exceeds the limit of %d bytes")
    TOO_MANY_RECIPIENTS = Reply(452, (4, 5, 3), "Too many recipients")

    # hook defaults (Halon's reference): accepted, rejected, deferred
    SENDER_OK = Reply(250, (2, 1, 0), "Sender ok")
    RECIPIENT_OK = Reply(250, (2, 1, 5), "Recipient ok")
    CONNECT_REJECT = Reply(521, (5, 7, 1), "Service not available")
    CONNECT_DEFER = Reply(421, (4, 7, 1), "Service temporarily not available")
    HELO_REJECT = Reply(554, (5, 7, 1), "Rejected")
    HELO_DEFER = Reply(450, (4, 7, 1), "Try again later")
    MAIL_REJECT = Reply(554, (5, 7, 1), "Sender rejected")
    MAIL_DEFER = Reply(450, (4, 7, 1), "Sender deferred, try again later")
    RCPT_REJECT = Reply(554, (5, 7, 1), "Recipient rejected")
    RCPT_DEFER = Reply(450, (4, 7, 1), "Recipient deferred, try again later")
    EOD_REJECT = Reply(550, (5, 7, 1), "Message rejected")
    EOD_DEFER = Reply(421, (4, 7, 1), "Message deferred, try again later")
    QUEUED = Reply(250, (2, 0, 0), "Ok: queued as %s")
    PROXY_REPLY = Reply(250, (2, 0, 0), "Ok")
    PROXY_ERROR = Reply(421, (4, 3, 0), "Local error in processing")

    # DATA
    DATA_GO = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
    DATA_LINE_TOO_LONG = Reply(500, (5, 5, 2), "Message line too long")
    BARE_LF_END = Reply(550, (5, 5, 2), "Bare <LF> in end of data is not allowed")
    SPOOL_ERROR = Reply(451, (4, 3, 0), "Could not store the message, try again later")
    SPOOL_FULL = Reply(452, (4, 3, 1), "Insufficient system storage, try again later")

    # TLS
    TLS_GO = Reply(220, (2, 0, 0), "Ready to start TLS")
    TLS_NOT_AVAILABLE = Reply(454, (4, 7, 0), "TLS not available")
    TLS_ACTIVE = Reply(503, (5, 5, 1), "TLS already active")

    # AUTH
    AUTH_OK = Reply(235, (2, 7, 0), "Authentication successful")
    AUTH_CHALLENGE = Reply(334, None, "%s")
    AUTH_REJECT = Reply(535, (5, 7, 8), "Authentication credentials invalid")
    AUTH_DEFER = Reply(454, (4, 7, 0), "Temporary authentication failure")
    AUTH_NOT_AVAILABLE = Reply(503, (5, 5, 1), "Authentication not enabled")
    AUTH_NEEDS_TLS = Reply(538, (5, 7, 11), "Encryption required for requested authentication mechanism")
    AUTH_ALREADY = Reply(503, (5, 5, 1), "Already authenticated")
    AUTH_IN_TRANSACTION = Reply(503, (5, 5, 1), "AUTH not allowed during a mail transaction")
    AUTH_MECHANISM = Reply(504, (5, 5, 4), "Unrecognized authentication mechanism")
    AUTH_ABORTED = Reply(501, (5, 7, 0), "Authentication aborted")
    AUTH_BAD_BASE64 = Reply(501, (5, 5, 2), "Cannot decode the response")
