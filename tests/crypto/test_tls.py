"""TLSSocket against a real TLS echo server on loopback with a certificate made at test time."""

import socket
import ssl
import threading

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.stdlib.tls import TLSSocket, name_matches
from halon.hsl.values import HSLArray, HSLObject
from tests.crypto import keys


class _Socket(HSLObject):
    """
    The part of the stdlib's Socket that TLSSocket uses: a connected Python
    socket in C{sock} (the stdlib's own Socket class keeps it there).
    """

    hsl_methods = {}

    def __init__(self, sock):
        self.sock = sock


class EchoServer:
    """TLS echo server on 127.0.0.1 (a thread per connection), port chosen by the kernel."""

    def __init__(self, testcase, cert, key, versions=(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)):
        openssl = keys.OpenSSL(testcase)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version, self.context.maximum_version = versions
        self.context.load_cert_chain(openssl.file("cert.pem", keys.cert_pem(cert)), openssl.file("key.pem", keys.pem(key)))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.versions = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        testcase.addCleanup(self.stop)

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.settimeout(10)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.versions.append(tls.version())
                while True:
                    data = tls.recv(4096)
                    if not data:
                        break
                    tls.sendall(data.upper())
                    if data == b"bye":
                        tls.unwrap()
                        break
        except (ssl.SSLError, OSError):
            conn.close()

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return _Socket(sock)

    def stop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)


def _opts(**kw):
    return HSLArray({k.encode(): v for k, v in kw.items()})


class TLSSocketTests(unittest.TestCase):
    def setUp(self):
        self.key = keys.ec_key()
        self.cert = keys.certificate(self.key, "mail.example.com", san=("mail.example.com", "*.example.net"))
        self.server = EchoServer(self, self.cert, self.key)

    def test_echo(self):
        """handshake, send and recv run TLS over the script's Socket; toSocket gives the same Socket back."""
        plain = self.server.connect()
        self.addCleanup(plain.sock.close)
        tls = TLSSocket(plain, HSLArray())
        self.assertIs(tls.handshake(), tls)
        self.assertEqual(tls.send(b"hello"), 5.0)
        self.assertEqual(tls.recv(100.0), b"HELLO")
        self.assertIs(tls.to_socket(), plain)
        self.assertEqual(tls.getpeerx509().subject().to_list()[-1].to_list(), [b"CN", b"mail.example.com"])
        tls.send(b"bye")
        self.assertEqual(tls.recv(100.0), b"BYE")
        self.assertEqual(tls.shutdown(), 1.0)
        self.assertEqual(tls.errno(), 0.0)

    def test_implicitHandshake(self):
        """send performs the handshake when the script did not."""
        plain = self.server.connect()
        self.addCleanup(plain.sock.close)
        tls = TLSSocket(plain, _opts(tls_sni=b"mail.example.com"))
        self.assertEqual(tls.send(b"x"), 1.0)
        self.assertEqual(tls.recv(10.0), b"X")

    def test_verifyName(self):
        """tls_verify_name matches SAN names and single-label wildcards; a mismatch fails the handshake."""
        for names, ok in [([b"mail.example.com"], True), ([b"other.example.com", b"smtp.example.net"], True), ([b"example.net"], False), ([b"a.b.example.net"], False)]:
            plain = self.server.connect()
            self.addCleanup(plain.sock.close)
            tls = TLSSocket(plain, _opts(tls_verify_name=HSLArray.from_list(names)))
            result = tls.handshake()
            self.assertEqual(result is tls, ok, names)
            if not ok:
                self.assertNotEqual(tls.errno(), 0.0)
                self.assertIsNone(tls.recv(10.0))

    def test_verifyCA(self):
        """tls_verify_ca checks the chain against the system CAs: a self-signed certificate fails."""
        plain = self.server.connect()
        self.addCleanup(plain.sock.close)
        tls = TLSSocket(plain, _opts(tls_verify_ca=True))
        self.assertIsNone(tls.handshake())

    def test_protocols(self):
        """tls_protocols limits the versions offered; a server outside them fails the handshake."""
        plain = self.server.connect()
        self.addCleanup(plain.sock.close)
        tls = TLSSocket(plain, _opts(tls_protocols=b"TLSv1.2"))
        self.assertIs(tls.handshake(), tls)
        tls.send(b"v")
        tls.recv(10.0)
        self.assertEqual(self.server.versions[-1], "TLSv1.2")
        old = EchoServer(self, self.cert, self.key, (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
        plain = old.connect()
        self.addCleanup(plain.sock.close)
        self.assertIsNone(TLSSocket(plain, _opts(tls_protocols=b"!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2")).handshake())

    def test_badArguments(self):
        """A non-socket, unknown options and impossible protocol lists raise."""
        self.assertRaises(HSLRuntimeError, TLSSocket, b"socket", HSLArray())
        plain = self.server.connect()
        self.addCleanup(plain.sock.close)
        self.assertRaises(HSLRuntimeError, TLSSocket, plain, _opts(nope=1))
        self.assertRaises(HSLRuntimeError, TLSSocket, plain, _opts(tls_protocols=b"SSLv2"))
        self.assertIs(core.classes["TLSSocket"], TLSSocket)

    def test_nameMatching(self):
        """Wildcards cover exactly one left-most label and never a bare domain."""
        self.assertTrue(name_matches("*.example.com", "MX.Example.com."))
        self.assertFalse(name_matches("*.example.com", "example.com"))
        self.assertFalse(name_matches("*.com", "example.com"))
        self.assertFalse(name_matches("m*.example.com", "mx.example.com"))
