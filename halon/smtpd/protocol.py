# -*- test-case-name: tests.smtpd.test_protocol -*-
"""
The ESMTP server protocol: the wire only.  Every decision is asked of the
connection's L{halon.smtpd.hooks.Hooks} and every message is handed to the
server's commit (spool, then queue); this module never sees a script.

It subclasses twisted.mail.smtp.ESMTP for the parts that fit (the
TimeoutMixin timer, C{startTLS} hand-over, the class contract other Twisted
code expects) and replaces what that class cannot do for an MTA:

- command pipelining (RFC 2920) with decisions that take time: input is
  buffered while a hook runs and processed in order afterwards, so replies
  never overtake each other; the transport is paused when the buffer grows;
- DATA read in blocks with the smuggling-safe rules of L{halon.smtpd.data};
- SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8 and DSN parameters, limits
  on line length, message size, recipients and errors, per-state timeouts;
- STARTTLS that drops input pipelined after it (no command injection);
- AUTH PLAIN/LOGIN and hook-driven mechanisms; the PROXY v1 header;
- no Python exception ever reaches the client as anything but a 4xx.
"""

import base64
import errno
import time

from twisted.internet import defer, tcp
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener
from twisted.logger import Logger
from twisted.mail import smtp
from zope.interface import implementer

from halon.smtpd import tls as tlsmod
from halon.smtpd.data import BAD_END, DataReader
from halon.smtpd.envelope import PathError, Recipient, parse_path
from halon.smtpd.hooks import Decision
from halon.smtpd.proxyproto import MAX_HEADER, ProxyError, parse_header
from halon.smtpd.replies import R, Reply
from halon.smtpd.sasl import SASLExchange

__all__ = ["SMTPServerProtocol"]

log = Logger()

# Above this much unprocessed input (while a hook runs) reading pauses.
PAUSE_BUFFER = 256 * 1024

PROXY, COMMAND, DATA, AUTH, CLOSED = "PROXY", "COMMAND", "DATA", "AUTH", "CLOSED"

_DSN_NOTIFY = {b"SUCCESS", b"FAILURE", b"DELAY"}


@implementer(IHandshakeListener)
class SMTPServerProtocol(smtp.ESMTP):
    """
    One client connection.

    @param server: the L{halon.smtpd.server.SMTPServer} it belongs to
        (settings, limiter, hooks, commit).
    @param clock: L{IReactorTime} for timeouts.
    """

    noisy = False

    def __init__(self, server, clock):
        smtp.ESMTP.__init__(self)
        self.server = server
        self.settings = server.settings
        self.host = self.settings.hostname
        self._clock = clock
        self.hooks = None
        self.session = None
        self._mode = PROXY
        self._buffer = b""
        self._busy = True
        self._paused = False
        self._gone = False
        self._closing = False
        self._counted = False
        self._skip_line = False
        self._errors = 0
        self._state = "BANNER"
        self._data = None
        self._sasl = None
        self._proxy_next = False
        self._last_reply = None
        self._close_side = None
        self._closing_after = False
        self._max_line = self.settings.max_line_length

    def callLater(self, period, func):
        return self._clock.callLater(period, func)

    # -- connection lifecycle ---------------------------------------------

    def connectionMade(self):
        peer, local = self.transport.getPeer(), self.transport.getHost()
        self.session = self.server.new_session(peer, local)
        self.settings, self.hooks = self.server.configuration_for(self.session)
        self.host = self.settings.hostname
        self._max_line = self.settings.max_line_length
        refused = self.server.limiter.acquire(self.session.remoteip)
        if refused is not None:
            reply = R.TOO_MANY_CONNECTIONS if refused == "total" else R.TOO_MANY_FROM_IP
            self._reply(reply, close=True)
            return
        self._counted = True
        self.server.connection_made(self)
        self._set_timeout()
        if self.session.remoteip in self.server.proxy_networks:
            self._mode = PROXY
            self._busy = False
            return
        self._mode = COMMAND
        self._begin()

    def _begin(self):
        """After the PROXY header (if any): FCrDNS, then the connect hook, then the banner."""
        self._busy = True
        self.setTimeout(None)
        d = defer.succeed(None)
        if self.settings.remoteptr and self.hooks.has("connect"):
            d = self.server.lookup_ptr(self.session.remoteip)
            d.addCallback(self._got_ptr)
        d.addCallback(lambda _: self._ask(self.hooks.connect, self.session))
        d.addCallback(self._connect_decided)

    def _got_ptr(self, name):
        if name:
            self.session.remoteptr = name

    def _connect_decided(self, decision):
        if self._gone:
            return
        if decision.action == Decision.ACCEPT:
            if decision.options.get("remoteip"):
                self.session.remoteip = decision.options["remoteip"]
            if decision.options.get("remoteptr") is not None:
                self.session.remoteptr = decision.options["remoteptr"]
            banner = R.GREETING.format(self.settings.hostname)
            if self.settings.greeting != b"ESMTP":
                banner = Reply(220, None, self.settings.hostname + b" " + self.settings.greeting)
            if decision.reason is not None:
                banner = Reply(220, None, decision.reason)
            self._reply(banner)
            self._resume()
            return
        default = R.CONNECT_REJECT if decision.action == Decision.REJECT else R.CONNECT_DEFER
        self._reply(self._custom(default, decision), close=True)

    def timeoutConnection(self):
        if self._busy and not self._gone:
            # A hook is deciding: the client is not the one who is late.
            self.resetTimeout()
            return
        if not self._gone and not self._closing:
            self._reply(R.TIMEOUT, close=True)

    def connectionLost(self, reason=ConnectionDone()):
        if self._gone:
            return
        self._gone = True
        self._mode = CLOSED
        self.setTimeout(None)
        self._data = None
        if not self._counted:
            return
        self.server.limiter.release(self.session.remoteip)
        self.server.connection_lost(self)
        if not self.hooks.has("disconnect"):
            return
        close = self._close_side or ("local" if self._closing else "remote")
        error = None
        if not reason.check(ConnectionDone):
            error = {"reason": str(reason.value), "type": "tls" if "SSL" in type(reason.value).__name__ else "socket"}
            code = getattr(reason.value, "osError", None) or getattr(reason.value, "errno", None)
            if isinstance(code, int):
                error["code"] = code
        reply = None
        if self._last_reply is not None:
            reply = (self._last_reply, self._state)
        d = defer.maybeDeferred(self.hooks.disconnect, self.session, close, reply, error)
        d.addErrback(lambda f: log.failure("disconnect hook failed", f))

    def shutdown(self):
        """The service is stopping: say so between commands, else after the current one."""
        if self._gone or self._closing:
            return
        if self._busy or self._mode == DATA:
            self._closing_after = True
            return
        self._reply(R.SHUTTING_DOWN, close=True)

    def handshakeCompleted(self):
        if self.session is not None:
            self.session.tls = tlsmod.describe(self.transport, self.settings.tls)

    # -- input ---------------------------------------------------------------

    def dataReceived(self, data):
        if self._gone or self._closing:
            return
        self.resetTimeout()
        if self._mode == DATA and not self._busy and not self._buffer:
            self._buffer = data
        else:
            self._buffer += data
        try:
            self._process()
        except Exception:
            log.failure("SMTP protocol error; closing {peer}", peer=self.session.remoteip if self.session else "?")
            self._reply(R.LOCAL_ERROR, close=True)
        if not self._gone and len(self._buffer) > PAUSE_BUFFER and not self._paused:
            self._paused = True
            self.transport.pauseProducing()

    def _process(self):
        while not self._busy and not self._closing and not self._gone and self._buffer:
            if self._mode == DATA:
                self._feed_data()
                continue
            nl = self._buffer.find(b"\n")
            if nl < 0:
                limit = MAX_HEADER if self._mode == PROXY else self._max_line + 2
                if len(self._buffer) > limit:
                    self._buffer = b""
                    if self._mode == PROXY:
                        self._reply(R.PROXY_REQUIRED, close=True)
                    elif not self._skip_line:
                        self._skip_line = True
                        self._error(R.LINE_TOO_LONG)
                break
            line = self._buffer[:nl]
            self._buffer = self._buffer[nl + 1 :]
            if self._skip_line:
                self._skip_line = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self._max_line:
                self._error(R.LINE_TOO_LONG)
                continue
            if self._mode == PROXY:
                self._proxy_header(line)
            elif self._mode == AUTH:
                self._auth_line(line)
            else:
                self._command(line)
        if self._paused and not self._gone and len(self._buffer) < PAUSE_BUFFER // 2:
            self._paused = False
            self.transport.resumeProducing()

    def _resume(self):
        """A decision was applied: carry on with buffered input."""
        self._busy = False
        if self._gone:
            return
        if self._closing_after:
            self._reply(R.SHUTTING_DOWN, close=True)
            return
        self._set_timeout()
        try:
            self._process()
        except Exception:
            log.failure("SMTP protocol error; closing")
            self._reply(R.LOCAL_ERROR, close=True)

    # -- output ------------------------------------------------------------------

    def _reply(self, reply, close=False):
        if self._gone or self._closing:
            return
        self._last_reply = reply
        send_now(self.transport, reply.to_bytes())
        if close:
            self._closing = True
            self._mode = CLOSED
            self._buffer = b""
            self.setTimeout(None)
            self.transport.loseConnection()

    def _error(self, reply):
        """A client error; too many of them end the session."""
        self._errors += 1
        if self._errors >= self.settings.max_errors:
            self._reply(R.TOO_MANY_ERRORS, close=True)
        else:
            self._reply(reply)

    def _set_timeout(self):
        if not self._gone and not self._closing:
            self.setTimeout(self.settings.timeout(self._state))

    @staticmethod
    def _custom(default, decision):
        return Reply.custom(default, decision.reason, decision.code, decision.enhanced)

    # -- hooks ----------------------------------------------------------------

    def _ask(self, method, *args):
        """
        Run a hook; input waits (buffered) until its decision is applied.
        The state's timer keeps running (L{timeoutConnection} lets a busy
        connection be): moved on afterwards, not made again per hook.
        """
        self._busy = True
        d = defer.maybeDeferred(method, *args)
        d.addErrback(self._hook_failed)
        return d

    def _hook_failed(self, failure):
        log.failure("hook failed on {serverid}", failure, serverid=self.settings.serverid)
        return Decision(Decision.DEFER, error=failure)

    def _decided(self, decision, rejected, deferred):
        """The reply for a REJECT/DEFER decision (and whether to close), or None for ACCEPT."""
        if decision.action == Decision.ACCEPT:
            return None
        default = rejected if decision.action == Decision.REJECT else deferred
        return self._custom(default, decision)

    def _finish(self, reply, decision):
        self._reply(reply, close=decision.disconnect)
        if not decision.disconnect:
            self._resume()

    # -- PROXY header ---------------------------------------------------------

    def _proxy_header(self, line):
        try:
            header = parse_header(line)
        except ProxyError:
            self._reply(R.PROXY_REQUIRED, close=True)
            return
        self._mode = COMMAND
        if header.source_ip is not None:
            refused = self.server.limiter.move(self.session.remoteip, header.source_ip)
            if refused is not None:
                self._reply(R.TOO_MANY_FROM_IP, close=True)
                return
            self.session.proxyip = self.session.remoteip
            self.session.remoteip = header.source_ip
            self.session.remoteport = header.source_port
            self.session.localip = header.dest_ip
            self.session.localport = header.dest_port
        self._begin()

    # -- commands ---------------------------------------------------------------

    def _command(self, line):
        verb, _, rest = line.partition(b" ")
        verb = verb.upper()
        known = verb in _COMMANDS
        if self.hooks.has("proxy") and (self._proxy_next or not known):
            self._proxy_next = False
            self._ask(self.hooks.proxy, self.session, line).addCallback(self._proxy_decided, line)
            return
        self._dispatch(verb, rest.strip(b" "), known)

    def _dispatch(self, verb, rest, known):
        if not known:
            self._error(R.UNKNOWN)
            return
        self._state = _COMMANDS[verb]
        getattr(self, "do_" + verb.decode("ascii"))(rest)

    def _proxy_decided(self, decision, line):
        if self._gone:
            return
        self._proxy_next = bool(decision.options.get("next"))
        if decision.action == Decision.PASS:
            line = decision.options.get("command", line)
            verb, _, rest = line.partition(b" ")
            verb = verb.upper()
            self._busy = False
            self._dispatch(verb, rest.strip(b" "), verb in _COMMANDS)
            if not self._busy:
                self._resume()
            return
        default = R.PROXY_ERROR if decision.error is not None else R.PROXY_REPLY
        self._finish(self._custom(default, decision), decision)

    def do_HELO(self, rest):
        self._hello(b"HELO", rest)

    def do_EHLO(self, rest):
        self._hello(b"EHLO", rest)

    def _hello(self, verb, host):
        if not host:
            self._error(R.SYNTAX.format(verb + b" hostname"))
            return
        extensions = self._extensions() if verb == b"EHLO" else []
        d = self._ask(self.hooks.helo, self.session, verb, host, extensions)
        d.addCallback(self._helo_decided, verb, host, extensions)

    def _helo_decided(self, decision, verb, host, extensions):
        if self._gone:
            return
        reply = self._decided(decision, R.HELO_REJECT, R.HELO_DEFER)
        if reply is not None:
            self._finish(reply, decision)
            return
        options = decision.options
        self.session.helo_verb = verb
        self.session.helo_host = options.get("host", host)
        if "extensions" in options:
            extensions = list(options["extensions"])
        self.session.extensions = {e.split(b" ", 1)[0].upper() for e in extensions} if verb == b"EHLO" else set()
        self.session.new_transaction()
        first = decision.reason[0] if decision.reason else self.settings.hostname
        self._reply(Reply(250, None, [first] + extensions))
        self._resume()

    def _extensions(self):
        ext = [b"PIPELINING"]
        size = self.settings.max_message_size
        ext.append(b"SIZE %d" % size if size else b"SIZE")
        ext += [b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"DSN"]
        if self._tls_offered():
            ext.append(b"STARTTLS")
        if self._auth_offered():
            ext.append(b"AUTH " + b" ".join(m.encode("ascii") for m in self.settings.auth_mechanisms))
        return ext

    def _announced(self, keyword):
        return self.session.extensions is not None and keyword in self.session.extensions

    def _tls_offered(self):
        return self.settings.tls is not None and self.session.tls is None and not self.startedTLS

    def _auth_offered(self):
        if not self.hooks.has("auth") or not self.settings.auth_mechanisms:
            return False
        return self.session.tls is not None or self.startedTLS or not self.settings.auth_tls_required

    def do_MAIL(self, rest):
        session = self.session
        if session.helo_verb is None:
            self._error(R.NEED_HELO)
            return
        if session.transaction.started:
            self._error(R.NESTED_MAIL)
            return
        try:
            address, params = parse_path(rest, b"FROM", allow_null=True)
        except PathError as e:
            self._error(R.SYNTAX.format(b"MAIL FROM:<address> (" + str(e).encode() + b")"))
            return
        problem = self._mail_params(params)
        if problem is not None:
            self._error(problem)
            return
        if not address.is_ascii() and b"SMTPUTF8" not in params:
            self._error(R.NEED_SMTPUTF8)
            return
        d = self._ask(self.hooks.mailfrom, session, address, params)
        d.addCallback(self._mail_decided, address, params)

    def _mail_params(self, params):
        for name, value in params.items():
            need = _MAIL_PARAMS.get(name)
            if need is None or not self._announced(need):
                return R.UNKNOWN_PARAMETER.format(name)
            if name == b"SIZE":
                if value is None or not value.isdigit():
                    return R.BAD_PARAMETER.format(b"SIZE")
                limit = self.settings.max_message_size
                if limit and int(value) > limit:
                    return R.SIZE_EXCEEDED.format(limit)
            elif name == b"BODY" and (value or b"").upper() not in (b"7BIT", b"8BITMIME"):
                return R.BAD_PARAMETER.format(b"BODY")
            elif name == b"RET" and (value or b"").upper() not in (b"FULL", b"HDRS"):
                return R.BAD_PARAMETER.format(b"RET")
            elif name == b"ENVID" and (not value or len(value) > 100):
                return R.BAD_PARAMETER.format(b"ENVID")
            elif name == b"SMTPUTF8" and value is not None:
                return R.BAD_PARAMETER.format(b"SMTPUTF8")
        return None

    def _mail_decided(self, decision, address, params):
        if self._gone:
            return
        reply = self._decided(decision, R.MAIL_REJECT, R.MAIL_DEFER)
        if reply is None:
            transaction = self.session.transaction
            transaction.sender = decision.options.get("sender", address)
            transaction.senderparams = params
            reply = self._custom(R.SENDER_OK, decision)
        self._finish(reply, decision)

    def do_RCPT(self, rest):
        transaction = self.session.transaction
        if not transaction.started:
            self._error(R.NEED_MAIL)
            return
        try:
            address, params = parse_path(rest, b"TO", allow_null=False)
        except PathError as e:
            self._error(R.SYNTAX.format(b"RCPT TO:<address> (" + str(e).encode() + b")"))
            return
        problem = self._rcpt_params(params)
        if problem is not None:
            self._error(problem)
            return
        if not address.is_ascii() and b"SMTPUTF8" not in transaction.senderparams:
            self._error(R.NEED_SMTPUTF8)
            return
        if len(transaction.recipients) >= self.settings.max_recipients:
            self._reply(R.TOO_MANY_RECIPIENTS)
            return
        transportid = self.settings.transport or "mx"
        d = self._ask(self.hooks.rcptto, self.session, address, params, transportid)
        d.addCallback(self._rcpt_decided, address, params, transportid)

    def _rcpt_params(self, params):
        for name, value in params.items():
            if name not in (b"NOTIFY", b"ORCPT") or not self._announced(b"DSN"):
                return R.UNKNOWN_PARAMETER.format(name)
            if name == b"NOTIFY":
                words = set((value or b"").upper().split(b","))
                if words != {b"NEVER"} and not (words and words <= _DSN_NOTIFY):
                    return R.BAD_PARAMETER.format(b"NOTIFY")
            elif b";" not in (value or b""):
                return R.BAD_PARAMETER.format(b"ORCPT")
        return None

    def _rcpt_decided(self, decision, address, params, transportid):
        if self._gone:
            return
        reply = self._decided(decision, R.RCPT_REJECT, R.RCPT_DEFER)
        if reply is None:
            options = decision.options
            recipient = Recipient(options.get("recipient", address), params, options.get("transportid", transportid))
            self.session.transaction.recipients.append(recipient)
            reply = self._custom(R.RECIPIENT_OK, decision)
        self._finish(reply, decision)

    def do_DATA(self, rest):
        transaction = self.session.transaction
        if rest:
            self._error(R.SYNTAX.format(b"DATA"))
            return
        if not transaction.started:
            self._error(R.NEED_MAIL)
            return
        if not transaction.recipients:
            self._error(R.NO_VALID_RECIPIENTS)
            return
        limit = self.settings.max_message_size or (1 << 62)
        self._data = DataReader(limit, self._max_line + 2)
        self._mode = DATA
        self._state = "DATA"
        self._reply(R.DATA_GO)
        self._set_timeout()

    def _feed_data(self):
        reader = self._data
        status, rest = reader.feed(self._buffer)
        self._buffer = rest
        if status is None:
            return
        self._data = None
        self._mode = COMMAND
        self._state = "EOD"
        if status == BAD_END:
            self.session.new_transaction()
            self._reply(R.BARE_LF_END, close=True)
            return
        if reader.oversize:
            self.session.new_transaction()
            self._reply(R.SIZE_EXCEEDED.format(self.settings.max_message_size))
            return
        if reader.line_too_long:
            self.session.new_transaction()
            self._reply(R.DATA_LINE_TOO_LONG)
            return
        self.session.transaction.ts = time.time()
        d = self._ask(self.hooks.eod, self.session, reader.message())
        d.addCallback(self._eod_decided)

    def _eod_decided(self, decision):
        if self._gone:
            return
        transaction = self.session.transaction
        self.session.new_transaction()
        reply = self._decided(decision, R.EOD_REJECT, R.EOD_DEFER)
        if reply is not None:
            self._finish(reply, decision)
            return
        accepted = self._custom(R.QUEUED.format(transaction.id.encode()), decision)
        if not decision.queue:
            self._finish(accepted, decision)
            return
        d = self.server.commit(self.session, transaction, decision.queue)
        d.addCallbacks(self._committed, self._commit_failed, callbackArgs=(accepted, decision), errbackArgs=(decision,))

    def _committed(self, messages, reply, decision):
        """
        The message is on disk: answer, then hand it to the queue.  A
        client that left before its 250 will send again, so what it never
        got a 250 for is taken back out of the spool instead.
        """
        if self._gone:
            self.server.committer.withdraw(messages)
            return
        self._finish(reply, decision)
        self.server.committer.release(messages)

    def _commit_failed(self, failure, decision):
        if failure.check(OSError) and failure.value.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("could not spool a message: {reason}", reason=failure.value.strerror)
            reply = R.SPOOL_FULL
        else:
            log.failure("could not spool a message", failure)
            reply = R.SPOOL_ERROR
        if not self._gone:
            self._finish(reply, decision)

    def do_RSET(self, rest):
        self.session.new_transaction()
        self._reply(R.RESET)

    def do_NOOP(self, rest):
        self._reply(R.NOOP)

    def do_QUIT(self, rest):
        self._close_side = "remote"
        self._reply(R.BYE, close=True)

    def do_VRFY(self, rest):
        self._reply(R.VRFY)

    def do_EXPN(self, rest):
        self._reply(R.EXPN)

    def do_HELP(self, rest):
        self._reply(R.HELP)

    def do_BDAT(self, rest):
        self._error(R.NOT_IMPLEMENTED)

    def do_ETRN(self, rest):
        self._error(R.NOT_IMPLEMENTED)

    # -- STARTTLS -----------------------------------------------------------------

    def do_STARTTLS(self, rest):
        if rest:
            self._error(R.SYNTAX.format(b"STARTTLS"))
            return
        if self.session.tls is not None or self.startedTLS:
            self._error(R.TLS_ACTIVE)
            return
        if not self._tls_offered() or (self.session.extensions is not None and not self._announced(b"STARTTLS")):
            self._reply(R.TLS_NOT_AVAILABLE)
            return
        self._reply(R.TLS_GO)
        # Anything the client pipelined after STARTTLS was sent in clear
        # text and must not be read as if it came over TLS.
        self._buffer = b""
        self.transport.startTLS(self.settings.tls)
        self.startedTLS = True
        self.session.forget_helo()
        self.session.new_transaction()

    # -- AUTH ------------------------------------------------------------------------

    def do_AUTH(self, rest):
        session = self.session
        if not self._auth_offered():
            if self.hooks.has("auth") and self.settings.auth_tls_required and session.tls is None:
                self._error(R.AUTH_NEEDS_TLS)
            else:
                self._error(R.AUTH_NOT_AVAILABLE)
            return
        if session.extensions is not None and not self._announced(b"AUTH"):
            self._error(R.AUTH_NOT_AVAILABLE)
            return
        if session.auth is not None:
            self._error(R.AUTH_ALREADY)
            return
        if session.transaction.started:
            self._error(R.AUTH_IN_TRANSACTION)
            return
        words = rest.split()
        if not words or len(words) > 2:
            self._error(R.SYNTAX.format(b"AUTH mechanism [initial-response]"))
            return
        mechanism = words[0].upper()
        if mechanism.decode("ascii", "replace") not in self.settings.auth_mechanisms:
            self._error(R.AUTH_MECHANISM)
            return
        self._sasl = SASLExchange(mechanism)
        self._sasl_step(self._sasl.start(words[1] if len(words) > 1 else None))

    def _auth_line(self, line):
        self._sasl_step(self._sasl.respond(line))

    def _sasl_step(self, step):
        what, value = step
        if what == "challenge":
            self._mode = AUTH
            self._reply(R.AUTH_CHALLENGE.format(_b64(value)))
        elif what == "error":
            self._mode = COMMAND
            self._sasl = None
            self._error(value)
        else:
            sasl = self._sasl
            d = self._ask(
                self.hooks.auth,
                self.session,
                sasl.mechanism,
                sasl.username,
                sasl.password,
                sasl.state,
                sasl.response,
            )
            d.addCallback(self._auth_decided)

    def _auth_decided(self, decision):
        if self._gone:
            return
        sasl = self._sasl
        if decision.action == Decision.REPLY:
            sasl.hook_replied()
            self._mode = AUTH
            text = decision.reason[0] if decision.reason else b""
            reply = Reply.custom(R.AUTH_CHALLENGE, [_b64(text)], decision.code, decision.enhanced)
            self._finish(reply, decision)
            return
        self._mode = COMMAND
        self._sasl = None
        if decision.action == Decision.ACCEPT:
            username = decision.options.get("username", sasl.username)
            self.session.auth = {"mechanism": sasl.mechanism, "username": username}
            self._finish(self._custom(R.AUTH_OK, decision), decision)
            return
        default = R.AUTH_REJECT if decision.action == Decision.REJECT else R.AUTH_DEFER
        self._finish(self._custom(default, decision), decision)


def _b64(data):
    return base64.b64encode(data)


# Verb -> the state name scripts and timeouts use.
_COMMANDS = {
    b"HELO": "HELO",
    b"EHLO": "EHLO",
    b"MAIL": "MAIL",
    b"RCPT": "RCPT",
    b"DATA": "DATA",
    b"RSET": "RSET",
    b"NOOP": "NOOP",
    b"QUIT": "QUIT",
    b"VRFY": "NOOP",
    b"EXPN": "NOOP",
    b"HELP": "NOOP",
    b"BDAT": "BDAT",
    b"ETRN": "NOOP",
    b"STARTTLS": "STARTTLS",
    b"AUTH": "AUTH",
}

# MAIL parameter -> the EHLO keyword that must have been announced.
_MAIL_PARAMS = {
    b"SIZE": b"SIZE",
    b"BODY": b"8BITMIME",
    b"SMTPUTF8": b"SMTPUTF8",
    b"RET": b"DSN",
    b"ENVID": b"DSN",
    b"AUTH": b"AUTH",
}


def send_now(transport, data):
    """
    Write a reply to a plain TCP connection at once when nothing is queued
    before it, instead of through the reactor's next turn: Twisted's
    C{write} registers for writability and sends later, two epoll changes
    and a reactor pass for every reply of a dialogue whose replies are
    small and whose socket buffer is empty.  TLS, a queued buffer or a
    short send fall back to C{transport.write}, which keeps the order; so
    does any transport that is not Twisted's own TCP connection (a TLS
    wrapper passes attribute reads through to the socket beneath it), and
    a Twisted whose write buffer is not where this one keeps it.
    """
    if (
        not isinstance(transport, tcp.Connection)
        or transport.TLS
        or transport.dataBuffer
        or getattr(transport, "_tempDataBuffer", True)
        or transport.disconnecting
    ):
        transport.write(data)
        return
    try:
        sent = transport.socket.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        transport.write(data)
        return
    if sent < len(data):
        transport.write(data[sent:])
