"""
Receiving SMTP servers for the delivery tests: real Twisted servers on
127.0.0.1 that accept, answer 4xx or 5xx to chosen commands, drop the
connection during DATA, stall, offer STARTTLS with a certificate made for
the test, and speak LMTP when asked.  They record what they received.

    server = SMTPServer(reactor, replies={"RCPT bad@example.com": b"550 5.1.1 no such user"})
    port = server.start()
    ... server.messages -> [Received(sender, recipients, data)]
"""

from twisted.internet import defer, protocol, ssl
from twisted.protocols.basic import LineReceiver

from tests.util.certs import make_ca, make_leaf


class Received:
    def __init__(self, sender, recipients, data):
        self.sender = sender
        self.recipients = recipients
        self.data = data

    def __repr__(self):
        return "Received(%r, %r, %d bytes)" % (self.sender, self.recipients, len(self.data))


class _Session(LineReceiver):
    delimiter = b"\r\n"
    MAX_LENGTH = 1 << 20

    def connectionMade(self):
        self.server = self.factory.server
        self.server.connections += 1
        self.server.open.append(self)
        self.sender = None
        self.recipients = []
        self.lines = None
        self.tls = False
        self.transactions = 0
        self.reply("BANNER", b"220 test.example ESMTP")

    def connectionLost(self, reason):
        if self in self.server.open:
            self.server.open.remove(self)

    def reply(self, state, default, key=None):
        """Send the configured reply for C{state} (or C{default}); False if the session must stop."""
        server = self.server
        for name in ([state + " " + key] if key else []) + [state]:
            if name in server.stall:
                server.stalled.append(name)
                return False
            if name in server.drop:
                self.transport.abortConnection()
                return False
            if name in server.replies:
                self.sendLine(server.replies[name])
                if server.replies[name].startswith(b"421"):
                    self.transport.loseConnection()
                    return False
                return True
        self.sendLine(default)
        return True

    def lineReceived(self, line):
        if self.server.stalled:
            return
        if self.lines is not None:
            if line == b".":
                self.end_of_data()
            else:
                self.lines.append(line[1:] if line.startswith(b"..") else line)
            return
        self.server.commands.append(line)
        verb = line.split(b" ", 1)[0].upper()
        if verb in (b"EHLO", b"LHLO"):
            extensions = [b"250-test.example", b"250-SIZE 10240000"]
            if self.server.pipelining:
                extensions.append(b"250-PIPELINING")
            if self.server.tls is not None and not self.tls:
                extensions.append(b"250-STARTTLS")
            if self.server.dsn:
                extensions.append(b"250-DSN")
            extensions.append(b"250 8BITMIME")
            state = verb.decode()
            if state in self.server.replies or state in self.server.drop or state in self.server.stall:
                self.reply(state, b"")
                return
            for ext in extensions:
                self.sendLine(ext)
        elif verb == b"HELO":
            self.reply("HELO", b"250 test.example")
        elif verb == b"STARTTLS":
            if self.reply("STARTTLS", b"220 2.0.0 go ahead"):
                self.tls = True
                self.transport.startTLS(self.server.tls)
        elif verb == b"MAIL":
            sender = line[10:].split(b">")[0].lstrip(b"<").decode()
            self.recipients = []
            if self.reply("MAIL", b"250 2.1.0 ok", sender) and not self.server.refused("MAIL", sender):
                self.sender = sender
        elif verb == b"RCPT":
            if self.sender is None:
                self.sendLine(b"503 5.5.1 MAIL first")
                return
            rcpt = line[8:].split(b">")[0].lstrip(b"<").decode()
            if self.reply("RCPT", b"250 2.1.5 ok", rcpt):
                if self.server.last_reply_ok(self, "RCPT", rcpt):
                    self.recipients.append(rcpt)
        elif verb == b"DATA":
            if not self.recipients:
                self.sendLine(b"554 5.5.1 no valid recipients")
                return
            if self.reply("DATA", b"354 go ahead"):
                self.lines = []
        elif verb == b"RSET":
            self.sender, self.recipients = None, []
            self.reply("RSET", b"250 2.0.0 ok")
        elif verb == b"NOOP":
            self.sendLine(b"250 ok")
        elif verb == b"QUIT":
            self.sendLine(b"221 bye")
            self.transport.loseConnection()
        else:
            self.sendLine(b"502 5.5.2 unknown command")

    def rawDataReceived(self, data):
        pass

    def end_of_data(self):
        data = b"".join(line + b"\r\n" for line in self.lines)
        self.lines = None
        if "EOD" in self.server.drop:
            self.transport.abortConnection()
            return
        if "EOD" in self.server.stall:
            self.server.stalled.append("EOD")
            return
        self.transactions += 1
        if self.server.lmtp:
            for rcpt in self.recipients:
                self.reply("EOD", b"250 2.0.0 delivered", rcpt)
            accepted = [r for r in self.recipients if not self.server.refused("EOD", rcpt=r)]
        else:
            self.reply("EOD", b"250 2.0.0 queued as X")
            accepted = [] if self.server.refused("EOD") else list(self.recipients)
        if accepted:
            self.server.messages.append(Received(self.sender, accepted, data))
            for waiter in self.server.waiters:
                if not waiter.called:
                    waiter.callback(None)
            self.server.waiters = [w for w in self.server.waiters if not w.called]
        self.sender, self.recipients = None, []


class SMTPServer:
    """
    @param replies: "STATE" or "STATE address" -> the reply line to send instead.
    @param drop: states at which the connection is cut ("DATA" after 354 is "EOD": cut when data ends).
    @param stall: states at which the server stops answering.
    @param tls: None, or a twisted.internet.ssl server context factory.
    @param dsn: whether EHLO offers DSN (RFC 3461), so that clients send its parameters.
    """

    def __init__(self, reactor, replies=None, drop=(), stall=(), tls=None, pipelining=True, lmtp=False, dsn=False):
        self._reactor = reactor
        self.replies = dict(replies or {})
        self.drop = set(drop)
        self.stall = set(stall)
        self.tls = tls
        self.pipelining = pipelining
        self.lmtp = lmtp
        self.dsn = dsn
        self.messages = []
        self.commands = []
        self.stalled = []
        self.connections = 0
        self.open = []
        self.waiters = []
        self._port = None

    def start(self):
        factory = protocol.ServerFactory.forProtocol(_Session)
        factory.server = self
        self._port = self._reactor.listenTCP(0, factory, interface="127.0.0.1")
        return self._port.getHost().port

    def stop(self):
        for session in list(self.open):
            session.transport.abortConnection()
        return defer.maybeDeferred(self._port.stopListening)

    def received(self):
        """A Deferred that fires with the next message received."""
        d = defer.Deferred()
        self.waiters.append(d)
        return d

    def refused(self, state, rcpt=None):
        for name in ([state + " " + rcpt] if rcpt else []) + [state]:
            if name in self.replies:
                return not self.replies[name][:1] == b"2"
        return False

    def last_reply_ok(self, session, state, key):
        return not self.refused(state, key)


def make_ca_and_cert(hostname):
    """(CA certificate PEM, server certificate+key PEM) for C{hostname}, made now."""
    ca_pem, ca_key = make_ca("queue test CA")
    cert_pem, key_pem = make_leaf(ca_pem, ca_key, (hostname,))
    return ca_pem, cert_pem + key_pem


def tls_server_context(cert_and_key_pem):
    return ssl.PrivateCertificate.loadPEM(cert_and_key_pem).options()


def trust_root(ca_pem):
    return ssl.Certificate.loadPEM(ca_pem)
