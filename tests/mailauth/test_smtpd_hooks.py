"""
Hooks in a running smtpd reach DNS and SPF through the queue's cached
resolver: the resolver servers of smtpd-app.yaml, a real DNS server here.
"""

import os
import shutil
import smtplib
import sys
import tempfile

import yaml
from twisted.internet import reactor, threads, utils
from twisted.trial import unittest

from halon.config import embedded
from halon.smtpd import tap
from halon.stats import Stats
from tests.util.dnsserver import DNSServer

HALONCTL = os.path.join(os.path.dirname(sys.executable), "halonctl")

HOOK = """\
memory_store("seen", (memory_fetch("seen") ?? 0) + 1);
$a = cache ["namespace" => "hooks"] dns_query("mx.example.com");
$spf = spf_query($connection["remoteip"], "helo.example", "user@example.com");
Reject("dns " . $a["result"][0] . " spf " . $spf["result"]);
"""


class HookServicesTests(unittest.TestCase):
    def setUp(self):
        dns = DNSServer(reactor, {("mx.example.com", "a"): ["192.0.2.25"], ("example.com", "txt"): [b"v=spf1 ip4:127.0.0.1 -all"]})
        dns_port = dns.start()
        self.addCleanup(dns.stop)
        workdir = tempfile.mkdtemp(prefix="hma")
        self.addCleanup(shutil.rmtree, workdir, True)
        self.config = embedded.write_default(workdir)
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("port: 2525", "port: 0"))
        app_path = os.path.join(workdir, "etc", "halon", "smtpd-app.yaml")
        with open(app_path) as f:
            app = yaml.safe_load(f)
        app["resolver"]["servers"] = ["127.0.0.1:%d" % dns_port]
        app["scripting"]["hooks"]["rcptto"][0]["data"] = HOOK
        with open(app_path, "w") as f:
            yaml.safe_dump(app, f)

    async def halonctl(self, *args):
        out, err, code = await utils.getProcessOutputAndValue(
            HALONCTL, list(args) + ["--socket", self.socket], env=dict(os.environ), reactor=reactor
        )
        self.assertEqual(code, 0, err)
        return out.decode()

    async def test_dnsAndSpfInAHook(self):
        """The hook's answer is in the reply; its shared memory and cache are what halonctl shows."""
        startup, load_app = tap.load(self.config)
        self.socket = startup["environment"]["controlsocket"]["path"]
        smtpd = tap.build(reactor, startup, load_app, Stats())
        smtpd.privilegedStartService()
        smtpd.startService()
        self.addCleanup(smtpd.stopService)
        port = smtpd.ports[0].getHost().port

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.ehlo("client.example")
                smtp.mail("a@example.com")
                return smtp.rcpt("b@example.org")

        code, text = await threads.deferToThread(send)
        self.assertEqual(code // 100, 5)
        self.assertIn(b"dns 192.0.2.25 spf pass", text)
        await threads.deferToThread(send)
        self.assertEqual((await self.halonctl("hsl", "memory", "fetch", "seen")).strip(), "2")
        listing = await self.halonctl("hsl", "cache", "list")
        self.assertIn("hooks", listing)
        self.assertIn("dns_query", listing)
        self.assertEqual((await self.halonctl("hsl", "cache", "clear", "--function", "dns_query")).strip(), "1 buckets cleared")
        await self.halonctl("resolver", "clear")


def _rsa_pki(folder, name):
    """(certificate path, key path, DKIM DNS record) of a new RSA key with a self-signed certificate."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert_path, key_path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


class DKIMKeysTests(unittest.TestCase):
    """signDKIM with "pki:ID" in an EOD hook signs with the running configuration's key, also after a reload."""

    def setUp(self):
        from tests.allinone.helpers import Workdir

        # The embedded default on port 0 with every delivery suspended.
        self.work = Workdir(self)
        self.config = os.path.join(self.work.etc, "smtpd.yaml")

    def use_key(self, name):
        cert, key, record = _rsa_pki(self.work.path, name)
        self.work.edit("smtpd-app", lambda app: self._sign_with(app, cert, key))
        return record

    @staticmethod
    def _sign_with(app, cert, key):
        app["pki"] = {"private": [{"id": "dkim", "certificate": {"path": cert}, "privatekey": {"path": key}}]}
        # Nothing is looked up; a resolver of its own keeps /etc/resolv.conf out of the test.
        app["resolver"]["servers"] = ["127.0.0.1:9"]
        app["scripting"]["hooks"]["eod"][0]["data"] = (
            '$arguments["mail"]->signDKIM("sel", "example.com", "pki:dkim");\n' + embedded.EOD_HOOK
        )

    def signed_with(self, port, spool, record):
        from tests.allinone.helpers import spooled

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                return smtp.sendmail("a@example.com", ["b@example.org"], b"From: a@example.com\r\nSubject: k\r\n\r\nhi\r\n")

        return threads.deferToThread(send).addCallback(lambda _: spooled(spool))

    async def test_signing_key_follows_reloads(self):
        import dkim as dkimpy

        first = self.use_key("one")
        startup, load_app = tap.load(self.config)
        spool = startup["environment"]["spool"]["path"]
        smtpd = tap.build(reactor, startup, load_app, Stats())
        smtpd.privilegedStartService()
        smtpd.startService()
        self.addCleanup(smtpd.stopService)
        port = smtpd.ports[0].getHost().port
        [message] = (await self.signed_with(port, spool, first)).values()
        data = message.read_message()
        self.assertTrue(dkimpy.verify(data, dnsfunc=lambda n, timeout=5: first))
        second = self.use_key("two")
        self.assertEqual(smtpd.reload(), [])
        messages = await self.signed_with(port, spool, second)
        [newer] = [m for m in messages.values() if m.uuid != message.uuid]
        data = newer.read_message()
        self.assertTrue(dkimpy.verify(data, dnsfunc=lambda n, timeout=5: second))
        self.assertFalse(dkimpy.verify(data, dnsfunc=lambda n, timeout=5: first))
