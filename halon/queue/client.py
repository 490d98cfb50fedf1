"""
The outbound ESMTP/LMTP client: one connection, many transactions.

Twisted's C{twisted.mail.smtp.SMTPClient} drives one message per callback
round and sends RSET after every message, cannot pipeline, and rewrites
line endings of the data it sends; a pooled MTA client needs none of that.
This protocol is built on the same Twisted pieces (C{LineReceiver},
C{ITLSTransport.startTLS}) but keeps the session and the transaction apart:

    session:      BANNER -> EHLO/LHLO (HELO fallback) -> [STARTTLS -> EHLO] -> [AUTH]
    transaction:  MAIL, RCPT..., DATA (pipelined when offered) -> data -> EOD

L{SMTPClientProtocol.ready} fires once the session is set up;
L{SMTPClientProtocol.transaction} then sends one message and returns a
L{TransactionResult} with a reply per recipient, and the connection can be
handed to the next message (the pool does that).  Every command has its
own timeout (the state names of postdelivery's C{attempt.result.state}).
Nothing here decides what a reply means for the queue: that is the
delivery layer's job.
"""

import re

from twisted.internet import defer, error as net_error
from twisted.protocols.basic import LineReceiver

_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)")

# A deadline this close counts as reached (a timer may fire a hair early).
_SLACK = 0.001


class Reply:
    """An SMTP reply: code, enhanced status (or None), text lines, and the state it answered."""

    __slots__ = ("code", "enhanced", "lines", "state")

    def __init__(self, code, lines, state):
        self.code = code
        self.lines = lines
        self.state = state
        self.enhanced = None
        if lines:
            match = _ENHANCED.match(lines[0])
            if match:
                self.enhanced = tuple(int(g) for g in match.groups())

    @property
    def reason(self):
        """The text lines without the enhanced status code prefix, as str."""
        out = []
        for line in self.lines:
            match = _ENHANCED.match(line)
            out.append((line[match.end() :] if match else line).decode("utf-8", "replace"))
        return out

    def ok(self):
        return 200 <= self.code < 400

    def temporary(self):
        return 400 <= self.code < 500

    def __repr__(self):
        return "Reply(%d, %r, %s)" % (self.code, self.lines, self.state)


class SessionError(Exception):
    """
    The connection failed or was refused before or during a transaction.

    @ivar kind: "network", "tls", "protocol" or "smtp" (postdelivery's error types).
    @ivar reply: the L{Reply} that caused it, if an SMTP reply did.
    @ivar temporary: whether trying again later may work.
    """

    def __init__(self, message, kind="network", reply=None, temporary=True):
        Exception.__init__(self, message)
        self.kind = kind
        self.reply = reply
        self.temporary = temporary if reply is None else reply.code < 500
        # Whether the server answered any command of the transaction it broke.
        self.replied = True


class TransactionResult:
    """
    @ivar mail: the reply to MAIL FROM.
    @ivar rcpts: one L{Reply} per recipient (RCPT replies).
    @ivar data: the reply to DATA (None if not reached).
    @ivar eod: per recipient, the final reply (EOD for accepted recipients,
        the refusal for the others).
    """

    def __init__(self):
        self.mail = None
        self.rcpts = []
        self.data = None
        self.eod = []


def dot_stuff(data, at_line_start=True):
    """SMTP data transparency (RFC 5321 4.5.2) for CRLF-terminated C{data}."""
    data = data.replace(b"\r\n.", b"\r\n..")
    if at_line_start and data[:1] == b".":
        data = b"." + data
    return data


class SMTPClientProtocol(LineReceiver):
    """
    @ivar extensions: the EHLO keywords (upper-case bytes) -> parameters.
    @ivar greeting: the banner lines.
    @ivar tls: None, or a dict of what was negotiated once STARTTLS ran.
    @ivar transactions: messages sent on this connection.
    @ivar local_ip: our address on the connection, once the deliverer asked.
    """

    MAX_LENGTH = 65536
    local_ip = None
    delimiter = b"\r\n"

    def __init__(self, reactor, helo, tls_mode="disabled", tls_context=None, lmtp=False, auth=None, timeouts=None):
        self._reactor = reactor
        self.helo = helo.encode() if isinstance(helo, str) else helo
        self.tls_mode = tls_mode
        self.tls_context = tls_context
        self.lmtp = lmtp
        self.auth = auth
        self.timeouts = timeouts or {}
        self.ready = defer.Deferred()
        self.closed = defer.Deferred()
        self.extensions = {}
        self.greeting = []
        self.tls = None
        self.transactions = 0
        self.broken = None
        self._lines = []
        self._expect = []
        self._timer = None
        self._deadline = None
        self._deadline_state = None
        self._tick = max(1.0, min([300.0] + list(self.timeouts.values())))
        self._busy = False
        self._handshaking = False

    # -- wire ----------------------------------------------------------------------

    def connectionMade(self):
        self._await("BANNER", self._banner)

    def lineReceived(self, line):
        if len(line) < 3 or not line[:3].isdigit():
            self._fail(SessionError("invalid reply %r" % (line[:80],), "protocol", temporary=True))
            return
        self._lines.append(line[4:])
        if line[3:4] == b"-":
            return
        reply_lines, self._lines = self._lines, []
        if not self._expect:
            if int(line[:3]) == 421:
                self._fail(SessionError("server closed the session", "smtp", Reply(421, reply_lines, "NOOP")))
            return
        state, handler = self._expect.pop(0)
        self._cancel_timer()
        if int(line[:3]) == 421 and self.broken is None:
            # The server is closing the session; this reply still answers its command.
            self.broken = SessionError("server closed the session", "smtp", Reply(421, reply_lines, state))
        if self._expect:
            self._start_timer(self._expect[0][0])
        handler(Reply(int(line[:3]), reply_lines, state))

    def lineLengthExceeded(self, line):
        self._fail(SessionError("reply line too long", "protocol"))

    def connectionLost(self, reason):
        self._deadline = None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.broken is None:
            if reason.check(net_error.ConnectionDone) and not self._expect:
                self.broken = SessionError("connection closed", "network")
            else:
                detail = reason.getErrorMessage()
                kind = "tls" if self._handshaking or "ssl" in detail.lower() else "network"
                self.broken = SessionError("connection lost: %s" % (detail,), kind)
        expecting, self._expect = self._expect, []
        for state, handler in expecting:
            handler(None)
        if not self.ready.called:
            self.ready.errback(self.broken)
        if not self.closed.called:
            self.closed.callback(None)

    def _await(self, state, handler):
        self._expect.append((state, handler))
        if len(self._expect) == 1:
            self._start_timer(state)

    def _send(self, line, state, handler):
        self.sendLine(line)
        self._await(state, handler)

    def _start_timer(self, state):
        """
        The reply to C{state} is due within its timeout: a deadline, which
        one timer per connection looks at, waking at least every C{_tick}
        seconds (the shortest timeout, or 1 s), so that it is rarely due
        after a new deadline.  A new timer and a cancellation per command
        (four per message) would cost more than the wake-ups of a long wait.
        """
        seconds = self.timeouts.get(state, 300.0)
        deadline = self._deadline = self._reactor.seconds() + seconds
        self._deadline_state = state
        timer = self._timer
        if timer is not None:
            if timer.getTime() <= deadline:
                return
            timer.cancel()
        self._timer = self._reactor.callLater(min(self._tick, seconds), self._check_deadline)

    def _cancel_timer(self):
        self._deadline = None

    def _check_deadline(self):
        self._timer = None
        if self._deadline is None:
            # Nothing awaited (an idle pooled connection): the timer stops.
            return
        left = self._deadline - self._reactor.seconds()
        if left > _SLACK:
            self._timer = self._reactor.callLater(min(self._tick, left), self._check_deadline)
            return
        self._deadline = None
        self._fail(SessionError("timeout waiting for the reply to %s" % (self._deadline_state,), "network"))

    def _fail(self, error):
        if self.broken is None:
            self.broken = error
        self.transport.abortConnection()

    @property
    def usable(self):
        """Whether another transaction may be sent on this connection."""
        return self.broken is None and self.ready.called and not self._busy and self.transport.connected

    # -- session -------------------------------------------------------------------

    def _banner(self, reply):
        if reply is None:
            return
        self.greeting = reply.reason
        if reply.code != 220:
            self._refused("banner", reply)
            return
        self._hello()

    def _hello(self):
        verb = b"LHLO" if self.lmtp else b"EHLO"
        self._send(verb + b" " + self.helo, verb.decode(), self._hello_reply)

    def _hello_reply(self, reply):
        if reply is None:
            return
        self._handshaking = False
        if reply.code != 250:
            if not self.lmtp and 500 <= reply.code < 600 and not self.tls:
                self._send(b"HELO " + self.helo, "HELO", self._helo_reply)
                return
            self._refused("EHLO", reply)
            return
        self.extensions = {}
        for line in reply.lines[1:]:
            words = line.split()
            if words:
                self.extensions[words[0].upper()] = words[1:]
        self._after_hello()

    def _helo_reply(self, reply):
        if reply is None:
            return
        if reply.code != 250:
            self._refused("HELO", reply)
            return
        self.extensions = {}
        self._after_hello()

    def _after_hello(self):
        if self.tls is None and self.tls_mode != "disabled":
            if b"STARTTLS" in self.extensions and self.tls_context is not None:
                self._send(b"STARTTLS", "STARTTLS", self._starttls_reply)
                return
            if self.tls_mode.startswith("require") or self.tls_mode == "dane_require":
                self._fail(SessionError("STARTTLS required but not offered", "tls"))
                return
        self._authenticate()

    def _starttls_reply(self, reply):
        if reply is None:
            return
        if reply.code != 220:
            if self.tls_mode.startswith("require"):
                self._fail(SessionError("STARTTLS refused: %d" % (reply.code,), "tls", reply))
                return
            self._authenticate()
            return
        self.tls = {"started": True}
        self._handshaking = True
        self.transport.startTLS(self.tls_context)
        self._hello()

    def _authenticate(self):
        if self.tls is not None:
            self._note_tls()
        if self.auth and self.auth[0]:
            import base64

            token = base64.b64encode(b"\0" + _b(self.auth[0]) + b"\0" + _b(self.auth[1] or ""))
            self._send(b"AUTH PLAIN " + token, "AUTH", self._auth_reply)
            return
        self._session_ready()

    def _auth_reply(self, reply):
        if reply is None:
            return
        if reply.code != 235:
            self._refused("AUTH", reply)
            return
        self._session_ready()

    def _note_tls(self):
        try:
            handle = self.transport.getHandle()
            self.tls["protocol"] = handle.get_protocol_version_name()
            self.tls["cipher"] = handle.get_cipher_name()
            self.tls["keysize"] = handle.get_cipher_bits()
            cert = handle.get_peer_certificate()
            self.tls["peercert"] = None if cert is None else cert.to_cryptography()
            from cryptography.hazmat.primitives.serialization import Encoding

            chain = handle.get_peer_cert_chain() or []
            self.tls["chain"] = [c.to_cryptography().public_bytes(Encoding.DER) for c in chain]
        except Exception:
            pass

    def _session_ready(self):
        self.ready.callback(self)

    def _refused(self, state, reply):
        error = SessionError("%s refused: %d %s" % (state, reply.code, " ".join(reply.reason)), "smtp", reply)
        self.broken = error
        self.sendLine(b"QUIT")
        self.transport.loseConnection()

    # -- transactions --------------------------------------------------------------

    def transaction(self, sender, recipients, data, mail_params=b"", rcpt_params=()):
        """
        Send one message.  C{data} is the message (CRLF line endings, not
        dot-stuffed); C{rcpt_params} one bytes string per recipient.  The
        Deferred fires with a L{TransactionResult}, or fails with
        L{SessionError} when the connection broke before every recipient
        had its answer.
        """
        if not self.usable:
            return defer.fail(self.broken or SessionError("connection not ready", "network"))
        if b"DSN" not in self.extensions:
            # RET/ENVID/NOTIFY/ORCPT are DSN parameters (RFC 3461): only for servers that offer it.
            mail_params, rcpt_params = b"", ()
        self._busy = True
        self.transactions += 1
        result = TransactionResult()
        done = defer.Deferred()
        pipelining = b"PIPELINING" in self.extensions
        commands = [(b"MAIL FROM:<" + _b(sender) + b">" + _params(mail_params), "MAIL")]
        for i, rcpt in enumerate(recipients):
            params = rcpt_params[i] if i < len(rcpt_params) else b""
            commands.append((b"RCPT TO:<" + _b(rcpt) + b">" + _params(params), "RCPT"))
        commands.append((b"DATA", "DATA"))

        def finish(failure=None):
            # A lost connection answers every pending command with None; only the first counts.
            if done.called:
                return
            self._busy = False
            if failure is not None:
                done.errback(failure)
            else:
                done.callback(result)

        def on_reply(reply, index):
            if reply is None:
                if result.mail is not None and not result.mail.ok():
                    # Refused at MAIL, then closed (a 421): the refusal is the answer.
                    result.rcpts = [result.mail] * len(recipients)
                    result.eod = list(result.rcpts)
                    finish()
                    return
                self.broken.replied = result.mail is not None
                finish(self.broken)
                return
            if index == 0:
                result.mail = reply
            elif index <= len(recipients):
                result.rcpts.append(reply)
            else:
                result.data = reply
                after_data(reply)
                return
            if not pipelining:
                send(index + 1)

        def send(index):
            if index == 1 and not result.mail.ok():
                # MAIL refused: no RCPT, no DATA; the session stays usable.
                result.rcpts = [result.mail] * len(recipients)
                result.eod = list(result.rcpts)
                reset()
                return
            if index == len(commands) - 1 and not any(r.ok() for r in result.rcpts):
                result.eod = list(result.rcpts)
                reset()
                return
            line, state = commands[index]
            self._send(line, state, lambda reply: on_reply(reply, index))

        def after_data(reply):
            if not result.mail.ok():
                # Pipelined: MAIL was refused, so whatever RCPT got says nothing.
                result.rcpts = [result.mail] * len(recipients)
            accepted = [i for i, r in enumerate(result.rcpts) if r.ok()]
            if reply.code != 354:
                result.eod = [reply if result.rcpts[i].ok() else result.rcpts[i] for i in range(len(recipients))]
                reset()
                return
            if not accepted:
                # Only when pipelining: DATA got 354 although no recipient (or
                # MAIL) was accepted; end the data at once and send nothing.
                self.transport.write(b".\r\n")
                result.eod = list(result.rcpts)
                self._await("EOD", lambda reply: finish() if reply is not None else finish(self.broken))
                return
            self.transport.write(dot_stuff(data))
            self.transport.write(b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")
            replies = {}
            expected = accepted if self.lmtp else accepted[:1]

            def on_eod(reply, position):
                if reply is None:
                    finish(self.broken)
                    return
                replies[position] = reply
                if len(replies) < len(expected):
                    return
                eod = []
                for i in range(len(recipients)):
                    if not result.rcpts[i].ok():
                        eod.append(result.rcpts[i])
                    else:
                        eod.append(replies[i] if self.lmtp else replies[expected[0]])
                result.eod = eod
                finish()

            for position in expected:
                self._await("EOD", lambda reply, position=position: on_eod(reply, position))

        def reset():
            if self.broken is not None:
                finish()
                self.transport.loseConnection()
                return
            self._send(b"RSET", "RSET", lambda reply: finish() if reply is not None else finish(self.broken))

        if pipelining:
            self.transport.writeSequence([line + b"\r\n" for line, _ in commands])
            for index, (line, state) in enumerate(commands):
                self._await(state, lambda reply, index=index: on_reply(reply, index))
        else:
            send(0)
        return done

    def quit(self):
        """End the session politely; the connection closes when the server answers (or soon after)."""
        if self.transport is None or not self.transport.connected:
            return
        if self.broken is None:
            self.broken = SessionError("closed by us", "network")
        self.sendLine(b"QUIT")
        self._await("QUIT", lambda reply: self.transport.loseConnection())


def _b(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def _params(params):
    params = _b(params or b"")
    return b" " + params if params else b""
