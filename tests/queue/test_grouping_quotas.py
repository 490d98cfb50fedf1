"""
End to end through smtpd (tap.build, its HSL hooks, the spool, the queue,
a real DNS server and a receiving SMTP server on loopback, halonctl on the
control socket): queues.grouping puts the domains whose MX is a
*.bigmail.test host in one grouping, &bigmail, that a policy keyed on
grouping limits as one; quotas given to queue() count what is queued,
for smtpd's scripts and the delivery scripts, across a restart, until the
entries leave the queue.
"""

import json
import os
import shutil
import smtplib
import sys
import tempfile

from twisted.internet import reactor, threads, utils
from twisted.trial import unittest

from halon.config import embedded
from halon.queue import states
from halon.smtpd import tap
from halon.stats import Stats

from tests.queue.smtpserver import SMTPServer
from tests.queue.test_daemon import until
from tests.util.dnsserver import DNSServer

HALONCTL = os.path.join(os.path.dirname(sys.executable), "halonctl")
MESSAGE = b"From: a@example.net\r\nSubject: grouping and quotas\r\n\r\nhello\r\n"

ZONE = {
    ("alpha.test", "mx"): [(10, "mx1.bigmail.test")],
    ("beta.test", "mx"): [(10, "mx2.bigmail.test")],
    ("gamma.test", "mx"): [(10, "mx1.bigmail.test")],
    ("other.test", "mx"): [(10, "mx.other.test")],
    ("mx1.bigmail.test", "a"): ["127.0.0.1"],
    ("mx2.bigmail.test", "a"): ["127.0.0.1"],
    ("mx.other.test", "a"): ["127.0.0.1"],
}

APP = """\
version: "6.0"
servers:
  - id: default
    transport: mx
    phases:
      mailfrom:
        hook: probe
      eod:
        hook: queue
transportgroups:
  - id: default
    transports:
      - id: mx
        connection:
          port: %(port)d
        session:
          tls:
            mode: disabled
queues:
  grouping:
    default: recipientdomain
    groupings:
      - id: bigmail
        remotemx: ["*.bigmail.test"]
resolver:
  servers: ["127.0.0.1:%(dns)d"]
scripting:
  hooks:
    mailfrom:
      - id: probe
        data: |
          // MAIL FROM:<quota@...> asks for a quota's usage; the reply carries it.
          if ($arguments["address"]["localpart"] == "quota")
              Reject(json_encode(queue_quota("all")));
          Accept();
    eod:
      - id: queue
        data: |
          foreach ($transaction["recipients"] as $recipient)
              $arguments["mail"]->queue($transaction["senderaddress"], $recipient["address"],
                                        $recipient["transportid"], ["quotas" => ["all", "all"]]);
          Accept();
    postdelivery: |
      SetMetaData(["grouping" => $arguments["grouping"], "quota" => json_encode(queue_quota("all"))]);
"""


class GroupingAndQuotaTests(unittest.TestCase):
    def setUp(self):
        self.smtp = SMTPServer(reactor)
        port = self.smtp.start()
        self.addCleanup(self.smtp.stop)
        dns = DNSServer(reactor, ZONE)
        dns_port = dns.start()
        self.addCleanup(dns.stop)
        self.workdir = tempfile.mkdtemp(prefix="hqg")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.config = embedded.write_default(self.workdir)
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("port: 2525", "port: 0"))
        self.etc = os.path.join(self.workdir, "etc", "halon")
        self.write("smtpd-app.yaml", APP % {"port": port, "dns": dns_port})

    def write(self, name, text):
        with open(os.path.join(self.etc, name), "w") as f:
            f.write(text)

    def start(self):
        startup, load_app = tap.load(self.config)
        smtpd = tap.build(reactor, startup, load_app, Stats())
        self.queue = smtpd.getServiceNamed("queue")
        smtpd.privilegedStartService()
        smtpd.startService()
        self.socket = startup["environment"]["controlsocket"]["path"]
        self.port = smtpd.ports[0].getHost().port
        self._stop = smtpd.stopService
        self.addCleanup(self.stop)

    def stop(self):
        stop, self._stop = self._stop, lambda: None
        return stop()

    def send(self, recipients):
        def send():
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                return client.sendmail("a@example.net", recipients, MESSAGE)

        return threads.deferToThread(send)

    async def quota(self):
        """queue_quota("all") as smtpd's MAIL FROM hook sees it."""

        def ask():
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                try:
                    client.sendmail("quota@example.net", ["x@other.test"], MESSAGE)
                except smtplib.SMTPSenderRefused as e:
                    return e.smtp_error
            raise AssertionError("the probe was not refused")

        reply = await threads.deferToThread(ask)
        return json.loads(reply[reply.index(b"{"):])

    async def halonctl(self, *args):
        out, err, code = await utils.getProcessOutputAndValue(
            HALONCTL, list(args) + ["--socket", self.socket], env=dict(os.environ), reactor=reactor)
        self.assertEqual(code, 0, err)
        return out.decode()

    async def test_policyLimitsAGroupingAsOne(self):
        """
        Three domains with MX hosts under bigmail.test are &bigmail: a rate
        of one per hour per grouping lets one of them go, while other.test
        (its own grouping) goes too; halonctl lists and groups &bigmail.
        """
        self.write("smtpd-policy.yaml", "policies:\n  - fields: [grouping]\n    default:\n      rate: 1/3600\n")
        self.start()
        recipients = ["a@alpha.test", "b@beta.test", "c@gamma.test", "d@other.test"]
        self.assertEqual(await self.send(recipients), {})

        def settled():
            queued = list(self.queue.index.recipients())
            return (len(self.smtp.messages) == 2 and len(queued) == 2
                    and all(r.state == states.ACTIVE and r.work is None and r.grouping for r in queued))

        await until(settled)
        delivered = sorted(r for m in self.smtp.messages for r in m.recipients)
        self.assertEqual(delivered[1], "d@other.test")
        self.assertIn(delivered[0], recipients[:3])
        parked = sorted(set(recipients[:3]) - {delivered[0]})
        self.assertEqual(sorted((r.address, r.grouping) for r in self.queue.index.recipients()),
                         [(address, "&bigmail") for address in parked])

        listed = await self.halonctl("queue", "list", "-F", "recipient", "-F", "grouping")
        self.assertEqual(_rows(listed), [["recipient", "grouping"]] + [[address, "&bigmail"] for address in parked])
        grouped = await self.halonctl("queue", "groupby", "-F", "grouping")
        self.assertEqual(_rows(grouped), [["grouping", "total"], ["&bigmail", "2"]])

    async def test_quotasCountUntilEntriesLeave(self):
        """
        Two entries queued with the quota "all" (named twice, counted once)
        count 2 and their bytes, also after a restart; one delivered leaves
        1, as the delivery script sees it too; deleting the last leaves 0.
        """
        self.smtp.replies["RCPT held@alpha.test"] = b"451 4.3.0 later"
        suspend = os.path.join(self.etc, "smtpd-suspend.yaml")
        self.write("smtpd-suspend.yaml", "suspends:\n  - transportid: mx\n")
        self.start()
        self.assertEqual(await self.quota(), {"count": 0, "bytes": 0})
        self.assertEqual(await self.send(["held@alpha.test", "ok@other.test"]), {})
        (message,) = self.queue.index.messages.values()
        size = message.size
        self.assertEqual(await self.quota(), {"count": 2, "bytes": 2 * size})
        stats = await self.halonctl("process-stats")
        self.assertIn("queue.quota.size: 1\n", stats)
        self.assertIn("queue.loader.pending: 0\n", stats)

        await self.stop()
        self.start()
        self.assertEqual(len(self.queue.index), 2)
        self.assertEqual(await self.quota(), {"count": 2, "bytes": 2 * size})

        with open(suspend, "w") as f:
            f.write("suspends: []\n")
        await self.halonctl("queue", "suspend", "reload")
        await until(lambda: len(self.smtp.messages) == 1 and len(self.queue.index) == 1
                    and next(self.queue.index.recipients()).state == states.DEFER)
        self.assertEqual(self.smtp.messages[0].recipients, ["ok@other.test"])
        self.assertEqual(await self.quota(), {"count": 1, "bytes": size})

        # Its next attempt runs the post-delivery script with only itself left.
        self.queue.update(None, "active")
        (held,) = self.queue.index.recipients()
        await until(lambda: held.retry == 2 and held.state == states.DEFER)
        self.assertEqual(held.metadata["grouping"], "&bigmail")
        self.assertEqual(json.loads(held.metadata["quota"]), {"count": 1, "bytes": size})

        out = await self.halonctl("queue", "update", "--delete", "--state", "DEFER", "--recipient", "held@alpha.test")
        self.assertIn("1 messages affected", out)
        self.assertEqual(await self.quota(), {"count": 0, "bytes": 0})
        self.assertIn("queue.quota.size: 0\n", await self.halonctl("process-stats"))


def _rows(table):
    """The cells of each row of a table halonctl drew (the header first)."""
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in table.splitlines() if line.startswith("│")]
