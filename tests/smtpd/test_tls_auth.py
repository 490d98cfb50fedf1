"""
STARTTLS against a CA made for the test, AUTH PLAIN and LOGIN (offered only
after TLS unless configured otherwise), and the PROXY header.
"""

import base64
import smtplib
import socket
import tempfile

from twisted.internet import defer, threads
from twisted.trial import unittest

from halon.smtpd.tls import ServerTLS, TLSError, load_pki
from tests.smtpd.helpers import MESSAGE, Certs, QueueAll, client, codes, raw, read_replies, settings, start_server


class TLSTests(unittest.TestCase):
    def setUp(self):
        folder = tempfile.mkdtemp(prefix="smtpd-certs-")
        self.addCleanup(__import__("shutil").rmtree, folder, True)
        self.certs = Certs(folder)

    def server(self, hooks=None, **kw):
        return start_server(self, settings(tls=self.certs.server_tls(), **kw), hooks=hooks)

    @defer.inlineCallbacks
    def test_starttls_verified_against_the_test_ca_then_mail(self):
        server = self.server()

        def work(smtp):
            smtp.ehlo("client.test")
            assert smtp.has_extn("starttls")
            smtp.starttls(context=self.certs.client_context())
            smtp.ehlo("client.test")
            assert not smtp.has_extn("starttls")
            smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)
            return smtp.sock.version()

        version = yield client(server.port, work)
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        [message] = server.queue.messages
        self.assertEqual(message.envelope["connection"]["tls"], version)

    @defer.inlineCallbacks
    def test_hooks_see_tls_details(self):
        seen = {}

        class H(QueueAll):
            def mailfrom(self, session, address, params):
                seen.update(session.tls)
                return QueueAll.mailfrom(self, session, address, params)

        server = self.server(hooks=H())

        def work(smtp):
            context = self.certs.client_context()
            smtp._host = "mx.test"
            smtp.starttls(context=context)
            smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

        yield client(server.port, work)
        self.assertEqual(seen["sni"], "mx.test")
        self.assertGreaterEqual(seen["keysize"], 128)
        self.assertTrue(seen["cipher"])

    @defer.inlineCallbacks
    def test_commands_pipelined_after_starttls_are_dropped(self):
        server = self.server()

        def run():
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                read_replies(sock, 1)
                sock.sendall(b"EHLO x\r\n")
                read_replies(sock, 1)
                sock.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
                [go] = read_replies(sock, 1)
                tls = self.certs.client_context().wrap_socket(sock, server_hostname="mx.test")
                tls.sendall(b"MAIL FROM:<a@b.c>\r\n")
                return go, read_replies(tls, 1)
            finally:
                sock.close()

        go, after = yield threads.deferToThread(run)
        self.assertTrue(go.startswith(b"220 2.0.0"))
        # The injected MAIL was not run: after TLS the client must greet again.
        self.assertEqual(codes(after), [503])

    @defer.inlineCallbacks
    def test_starttls_twice_and_without_tls(self):
        server = start_server(self)
        replies = yield raw(server.port, b"EHLO x\r\nSTARTTLS\r\n", 2)
        self.assertEqual(codes(replies), [220, 250, 454])

    def test_bad_certificate_configuration(self):
        with self.assertRaises(TLSError) as caught:
            load_pki({"pki": {"private": [{"id": "x", "certificate": {"path": "/nonexistent.pem"}, "privatekey": {"data": "x"}}]}})
        self.assertIn("pki.private x: certificate /nonexistent.pem", str(caught.exception))
        with self.assertRaises(TLSError):
            load_pki({"pki": {"private": [{"id": "x", "certificate": {"data": "garbage"}, "privatekey": {"data": "junk"}}]}})
        pki = load_pki({"pki": {"private": [self.certs.pki()]}})
        with self.assertRaises(TLSError):
            ServerTLS.from_config({"certs": [{"cert": "missing"}]}, pki)
        with self.assertRaises(TLSError):
            ServerTLS.from_config({"certs": [{"cert": "tls"}], "protocols": "!TLSv1,!TLSv1.1,!TLSv1.2,!TLSv1.3"}, pki)


class AuthTests(unittest.TestCase):
    def setUp(self):
        folder = tempfile.mkdtemp(prefix="smtpd-certs-")
        self.addCleanup(__import__("shutil").rmtree, folder, True)
        self.certs = Certs(folder)
        self.hooks = QueueAll(auth_users={b"user": b"secret"})

    @defer.inlineCallbacks
    def test_auth_is_not_offered_in_clear_text(self):
        server = start_server(self, settings(tls=self.certs.server_tls()), hooks=self.hooks)
        plain = base64.b64encode(b"\0user\0secret")
        replies = yield raw(server.port, b"EHLO x\r\nAUTH PLAIN " + plain + b"\r\n", 2)
        self.assertNotIn(b"AUTH", replies[1])
        self.assertEqual(codes(replies), [220, 250, 538])
        self.assertEqual(self.hooks.calls, [])

    @defer.inlineCallbacks
    def test_auth_plain_and_login_after_starttls(self):
        server = start_server(self, settings(tls=self.certs.server_tls()), hooks=self.hooks)

        def work(mechanism, password):
            def run(smtp):
                smtp.starttls(context=self.certs.client_context())
                smtp.ehlo("x")
                smtp.user, smtp.password = "user", password
                return smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower()), initial_response_ok=True)

            return run

        code, _ = yield client(server.port, work("PLAIN", "secret"))
        self.assertEqual(code, 235)
        code, _ = yield client(server.port, work("LOGIN", "secret"))
        self.assertEqual(code, 235)
        d = client(server.port, work("LOGIN", "wrong"))
        error = yield self.assertFailure(d, smtplib.SMTPAuthenticationError)
        self.assertEqual(error.smtp_code, 535)
        self.assertEqual(
            self.hooks.calls,
            [(("auth", b"PLAIN", b"user", b"secret")), ("auth", b"LOGIN", b"user", b"secret"), ("auth", b"LOGIN", b"user", b"wrong")],
        )

    @defer.inlineCallbacks
    def test_auth_in_clear_text_when_configured(self):
        server = start_server(self, settings(auth_tls_required=False), hooks=self.hooks)
        plain = base64.b64encode(b"\0user\0secret")
        replies = yield raw(
            server.port,
            b"EHLO x\r\nAUTH PLAIN " + plain + b"\r\nAUTH PLAIN " + plain + b"\r\nMAIL FROM:<a@b.c>\r\n",
            4,
        )
        self.assertIn(b"AUTH PLAIN LOGIN", replies[1])
        self.assertEqual(codes(replies), [220, 250, 235, 503, 250])

    @defer.inlineCallbacks
    def test_auth_errors(self):
        server = start_server(self, settings(auth_tls_required=False), hooks=self.hooks)
        replies = yield raw(
            server.port,
            [
                (b"EHLO x\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n", 4),
                (base64.b64encode(b"user") + b"\r\n", 1),
                (b"*\r\n", 1),
                (b"AUTH\r\nMAIL FROM:<a@b.c>\r\nAUTH PLAIN\r\n", 3),
            ],
            0,
        )
        self.assertEqual(codes(replies), [220, 250, 504, 501, 334, 334, 501, 501, 250, 503])
        self.assertEqual(replies[4], b"334 " + base64.b64encode(b"Username:") + b"\r\n")

    @defer.inlineCallbacks
    def test_no_auth_hook_means_no_auth(self):
        server = start_server(self, settings(auth_tls_required=False))
        replies = yield raw(server.port, b"EHLO x\r\nAUTH PLAIN AHVAcA==\r\n", 2)
        self.assertNotIn(b"AUTH", replies[1])
        self.assertEqual(codes(replies), [220, 250, 503])


class ProxyProtocolTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_header_from_a_trusted_peer_gives_the_real_client(self):
        seen = {}

        class H(QueueAll):
            def helo(self, session, verb, host, extensions):
                seen.update(remoteip=session.remoteip, remoteport=session.remoteport, proxyip=session.proxyip)
                return QueueAll.helo(self, session, verb, host, extensions)

        server = start_server(self, settings(proxy_networks=["127.0.0.0/8"]), hooks=H())
        replies = yield raw(
            server.port, b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\nHELO x\r\n", 2, banner=False
        )
        self.assertEqual(codes(replies), [220, 250])
        self.assertEqual(seen, {"remoteip": "192.0.2.7", "remoteport": 40000, "proxyip": "127.0.0.1"})

    @defer.inlineCallbacks
    def test_trusted_peer_without_a_header_is_refused(self):
        server = start_server(self, settings(proxy_networks=["127.0.0.1"]))
        replies = yield raw(server.port, b"EHLO x\r\n", 0, banner=False, closed=True)
        self.assertEqual(codes(replies), [421])

    @defer.inlineCallbacks
    def test_header_from_anybody_else_is_an_unknown_command(self):
        server = start_server(self)
        replies = yield raw(server.port, b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n", 1)
        self.assertEqual(codes(replies), [220, 500])


class ExternalClientTests(unittest.TestCase):
    """Clients that are not Python's: OpenSSL's s_client and swaks, as processes."""

    def setUp(self):
        folder = tempfile.mkdtemp(prefix="smtpd-certs-")
        self.addCleanup(__import__("shutil").rmtree, folder, True)
        self.certs = Certs(folder)

    def run_process(self, executable, args, stdin=b"QUIT\r\n"):
        """(stdout, stderr, exit status) of a client process run in a thread, bounded in time."""
        import shutil as sh
        import subprocess

        path = sh.which(executable)
        if path is None:
            raise unittest.SkipTest("%s is not installed" % executable)

        def run():
            done = subprocess.run([path] + args, input=stdin, capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
            return done.stdout, done.stderr, done.returncode

        return threads.deferToThread(run)

    @defer.inlineCallbacks
    def test_openssl_s_client_starttls_verifies_against_the_test_ca(self):
        server = start_server(self, settings(tls=self.certs.server_tls()))
        out, err, code = yield self.run_process(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:%d" % server.port, "-starttls", "smtp",
                "-CAfile", self.certs.ca_path, "-verify_return_error", "-verify_hostname", "mx.test", "-brief",
            ],
        )
        self.assertEqual(code, 0, err)
        self.assertIn(b"Verification: OK", err)

    @defer.inlineCallbacks
    def test_implicit_tls_listener(self):
        server = start_server(self, settings(tls=self.certs.server_tls()), implicit_tls=True)

        def send():
            with smtplib.SMTP_SSL("127.0.0.1", server.port, context=self.certs.client_context(), timeout=10) as smtp:
                smtp.ehlo("x")
                starttls = smtp.has_extn("starttls")
                smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)
                return starttls

        starttls = yield threads.deferToThread(send)
        self.assertFalse(starttls)
        self.assertEqual(server.queue.messages[0].envelope["connection"]["tls"] in ("TLSv1.2", "TLSv1.3"), True)

    @defer.inlineCallbacks
    def test_swaks_with_starttls_and_auth(self):
        hooks = QueueAll(auth_users={b"user": b"secret"})
        server = start_server(self, settings(tls=self.certs.server_tls()), hooks=hooks)
        out, err, code = yield self.run_process(
            "swaks",
            [
                "--server", "127.0.0.1", "--port", str(server.port), "--from", "a@example.com",
                "--to", "b@example.org", "--tls", "--tls-verify", "--tls-ca-path", self.certs.ca_path,
                "--auth", "PLAIN", "--auth-user", "user", "--auth-password", "secret",
                "--helo", "client.test",
            ],
        )
        self.assertEqual(code, 0, out + err)
        self.assertIn(b"235 2.7.0 Authentication successful", out)
        self.assertEqual(len(server.queue.messages), 1)
        self.assertEqual(server.queue.messages[0].envelope["connection"]["auth"], "user")
