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
