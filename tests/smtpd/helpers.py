"""
What the smtpd tests share: a server on 127.0.0.1 with a real spool in a
temp folder, blocking clients (smtplib, or a raw socket for exact bytes)
run in a thread so the reactor keeps serving, and certificates made for
the test.

    server = start_server(self, ServerSettings(...), hooks=MyHooks())
    replies = yield raw(server.port, b"EHLO a\\r\\nQUIT\\r\\n", count=2)
    yield client(server.port, lambda s: s.sendmail(...))
    server.queue.messages   # what was committed, in order
"""

import datetime
import os
import smtplib
import socket
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import defer, reactor, threads

from halon.queue import MemoryQueue
from halon.queue.spool import Spool
from halon.smtpd.hooks import Decision, Hooks, QueueStager
from halon.smtpd.server import Committer, SMTPServer
from halon.smtpd.settings import ServerSettings

MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"


class QueueAll(Hooks):
    """Accepts everything and queues every recipient: the shape most tests need."""

    def __init__(self, auth_users=None):
        self.auth_users = auth_users
        self.calls = []

    def has(self, phase):
        return phase == "auth" and self.auth_users is not None

    def auth(self, session, mechanism, username, password, state, response):
        self.calls.append(("auth", mechanism, username, password))
        if self.auth_users.get(username) == password:
            return defer.succeed(Decision.accept())
        return defer.succeed(Decision.reject())

    def eod(self, session, message):
        transaction = session.transaction
        stager = QueueStager(transaction.id)
        for recipient in transaction.recipients:
            stager.stage(message, transaction.sender, recipient.address, recipient.transportid, recipient.params)
        return defer.succeed(Decision(Decision.ACCEPT, queue=stager.entries))


class _TestServer(SMTPServer):
    """Tells the test when every connection is gone, so none outlives it."""

    def __init__(self, *args, **kwargs):
        SMTPServer.__init__(self, *args, **kwargs)
        self._idle = []

    def connection_lost(self, connection):
        SMTPServer.connection_lost(self, connection)
        if not self.connections:
            waiting, self._idle = self._idle, []
            for d in waiting:
                d.callback(None)

    def all_closed(self):
        if not self.connections:
            return defer.succeed(None)
        for connection in list(self.connections):
            connection.transport.abortConnection()
        d = defer.Deferred()
        self._idle.append(d)
        return d


def settings(**kwargs):
    kwargs.setdefault("hostname", "mx.test")
    kwargs.setdefault("remoteptr", False)
    return ServerSettings(**kwargs)


def start_server(testcase, server_settings=None, hooks=None, spool_path=None, sync="fsync", implicit_tls=False):
    """
    A listening server on 127.0.0.1 with a started spool; everything
    stops after the test.  With C{implicit_tls} the listener speaks TLS
    from the first byte (the settings' certificate).
    """
    if spool_path is None:
        spool_path = tempfile.mkdtemp(prefix="smtpd-spool-")
        testcase.addCleanup(_rmtree, spool_path)
    spool = Spool(spool_path, reactor, sync)
    spool.start()
    queue = MemoryQueue()
    hooks = hooks if hooks is not None else QueueAll()
    server = _TestServer(server_settings or settings(), lambda session: hooks, Committer(spool, queue), reactor)
    factory = server
    if implicit_tls:
        from twisted.protocols.tls import TLSMemoryBIOFactory

        factory = TLSMemoryBIOFactory(server.settings.tls, False, server)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    server.port = port.getHost().port
    server.spool = spool
    server.queue = queue
    server.hooks = hooks
    testcase.addCleanup(spool.stop)
    testcase.addCleanup(server.all_closed)
    testcase.addCleanup(port.stopListening)
    return server


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def client(port, work, host="127.0.0.1", timeout=10):
    """Run C{work(smtp)} with a connected smtplib.SMTP in a thread; its result."""

    def run():
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        try:
            return work(smtp)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    return threads.deferToThread(run)


def read_replies(sock, count):
    """C{count} complete SMTP replies (multi-line ones joined) from a blocking socket."""
    data = b""
    replies = []
    while len(replies) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        while b"\r\n" in data and len(replies) < count:
            # A reply ends at the first line whose fourth byte is a space.
            pos = 0
            end = None
            while True:
                nl = data.find(b"\r\n", pos)
                if nl < 0:
                    break
                line = data[pos:nl]
                pos = nl + 2
                if line[3:4] != b"-":
                    end = pos
                    break
            if end is None:
                break
            replies.append(data[:end])
            data = data[end:]
    return replies


def raw(port, chunks, count, banner=True, host="127.0.0.1", closed=False):
    """
    Send C{chunks} (bytes, or a list sent one by one with a reply read
    after each C{(chunk, n)} pair) on a raw socket in a thread; the
    replies read, as bytes each.  With C{closed}, also wait for the
    server to close and add b"" for the close.
    """

    def run():
        sock = socket.create_connection((host, port), timeout=10)
        try:
            replies = []
            if banner:
                replies += read_replies(sock, 1)
            steps = [(chunks, count)] if isinstance(chunks, bytes) else chunks
            for data, n in steps:
                if data:
                    sock.sendall(data)
                replies += read_replies(sock, n)
            if closed:
                sock.settimeout(10)
                rest = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                if rest:
                    replies.append(rest)
                replies.append(b"")
            return replies
        finally:
            sock.close()

    return threads.deferToThread(run)


def codes(replies):
    return [int(r[:3]) for r in replies if r]


class Certs:
    """A CA and a server certificate for 127.0.0.1, ::1 and mx.test, written as PEM files under C{folder}."""

    def __init__(self, folder, name="mx.test"):
        self.folder = folder
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpd test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress

        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(name),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("::1")),
                    ]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_path = os.path.join(folder, "ca.pem")
        self.cert_path = os.path.join(folder, "cert.pem")
        self.key_path = os.path.join(folder, "key.pem")
        with open(self.ca_path, "wb") as f:
            f.write(ca.public_bytes(serialization.Encoding.PEM))
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(self.key_path, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )

    def pki(self, ident="tls"):
        """The C{pki.private} entry of a running configuration for this certificate."""
        return {"id": ident, "certificate": {"path": self.cert_path}, "privatekey": {"path": self.key_path}}

    def server_tls(self):
        from halon.smtpd.tls import ServerTLS, load_pki

        pki = load_pki({"pki": {"private": [self.pki()]}})
        return ServerTLS.from_config({"certs": [{"cert": "tls"}]}, pki)

    def client_context(self):
        import ssl

        context = ssl.create_default_context(cafile=self.ca_path)
        return context


def stored(message):
    """The message bytes as the committed spool file holds them (read back from disk)."""
    from halon.queue.spool import read

    return read(message.path).read_message()


@defer.inlineCallbacks
def until(predicate, turns=500):
    """Let the reactor run until C{predicate()} holds (a peer's close reaching the server)."""
    from twisted.internet import task

    for _ in range(turns):
        if predicate():
            return
        yield task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("condition not reached")
