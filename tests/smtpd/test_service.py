"""
The smtpd service on configuration files: several listeners (IPv4 and
IPv6), STARTTLS with a certificate from pki, process-stats counters,
reload (a good configuration is used by new connections, a bad one
keeps the old), and the spool loaded into the queue at start.
"""

import os
import re
import shutil
import smtplib
import tempfile

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from halon.config import embedded
from halon.smtpd import tap
from halon.smtpd.hsl import HSLHooksFactory
from halon.smtpd.service import SMTPDService
from halon.stats import Stats
from tests.smtpd.helpers import MESSAGE, Certs, codes, raw, until

APP = """\
version: "6.0"
servers:
  - id: default
    transport: mx
    hostname: mx.test
    tls:
      certs:
        - cert: server
    phases:
      connect:
        remoteptr: false
      rcptto:
        hook: rcpt
      eod:
        hook: eod
pki:
  private:
    - id: server
      certificate:
        path: {cert}
      privatekey:
        path: {key}
transportgroups:
  - id: default
    transports:
      - id: mx
scripting:
  hooks:
    rcptto:
      - id: rcpt
        data: |
          {rcpt}
    eod:
      - id: eod
        data: |
          foreach ($transaction["recipients"] as $r)
            $arguments["mail"]->queue($transaction["senderaddress"], $r["address"], $r["transportid"]);
          Accept();
"""


def ipv6_available():
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class ServiceTests(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="hss")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.certs = Certs(self.workdir)
        self.config = embedded.write_default(self.workdir)
        listeners = "      - port: 0\n        address: 127.0.0.1\n      - port: 0\n        address: 127.0.0.1\n"
        if ipv6_available():
            listeners += "      - port: 0\n        address: \"::1\"\n"
        with open(self.config) as f:
            text = f.read()
        text = re.sub(r"    listeners:\n(      .*\n)+", "    listeners:\n" + listeners, text)
        with open(self.config, "w") as f:
            f.write(text)
        self.app_path = os.path.join(self.workdir, "etc", "halon", "smtpd-app.yaml")
        self.write_app("Accept();")

    def write_app(self, rcpt):
        with open(self.app_path, "w") as f:
            f.write(APP.format(cert=self.certs.cert_path, key=self.certs.key_path, rcpt=rcpt))

    def start(self):
        startup, load_app = tap.load(self.config)
        self.stats = Stats()
        hooks = HSLHooksFactory(reactor)
        service = SMTPDService(reactor, startup, load_app, self.stats, hooks_factory=hooks)
        hooks.services["smtpd"] = service
        umask = os.umask(0o022)
        os.umask(umask)
        self.addCleanup(os.umask, umask)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        return service

    @defer.inlineCallbacks
    def test_listeners_tls_and_counters(self):
        service = self.start()
        ports = [p.getHost() for p in service.ports]
        self.assertGreaterEqual(len(ports), 2)
        for address in ports:

            def send(address=address):
                with smtplib.SMTP(address.host, address.port, timeout=10) as smtp:
                    smtp.starttls(context=self.certs.client_context())
                    return smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

            refused = yield threads.deferToThread(send)
            self.assertEqual(refused, {})
        self.assertEqual(len(service.sink.messages), len(ports))
        self.assertEqual(service.sink.messages[0].envelope["connection"]["tls"] in ("TLSv1.2", "TLSv1.3"), True)
        yield until(lambda: self.stats.value("servers[0].connections.concurrent") == 0)
        stats = dict(self.stats.snapshot())
        self.assertEqual(stats["servers[0].serverid"], "default")
        self.assertEqual(stats["servers[0].connections.concurrent"], 0)
        self.assertEqual(stats["servers[0].scripts.rcptto.finished"], len(ports))
        self.assertEqual(stats["servers[0].scripts.eod.finished"], len(ports))
        self.assertEqual(stats["servers[0].scripts.eod.running"], 0)

    @defer.inlineCallbacks
    def test_reload(self):
        service = self.start()
        port = service.ports[0].getHost().port
        self.write_app('Reject("closed for today");')
        self.assertEqual(service.reload(), [])
        replies = yield raw(port, b"HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n", 3)
        self.assertEqual(replies[-1], b"554 5.7.1 closed for today\r\n")
        self.write_app("Accept(")
        problems = service.reload()
        self.assertTrue(problems)
        self.assertIn("rcptto", str(problems[0]))
        replies = yield raw(port, b"HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n", 3)
        self.assertEqual(codes(replies)[-1], 554)

    @defer.inlineCallbacks
    def test_spool_is_loaded_into_the_queue_at_start(self):
        service = self.start()
        address = service.ports[0].getHost()

        def send():
            with smtplib.SMTP(address.host, address.port, timeout=10) as smtp:
                smtp.sendmail("a@example.com", ["b@example.org", "c@example.org"], MESSAGE)

        yield threads.deferToThread(send)
        [sent] = service.sink.messages
        yield service.stopService()
        again = self.start()
        [loaded] = again.sink.messages
        self.assertEqual(loaded.uuid, sent.uuid)
        self.assertEqual([r["recipient"] for r in loaded.recipients], ["b@example.org", "c@example.org"])
        self.assertEqual(loaded.read_message(), MESSAGE)
