"""
halonctl queue ... through the real console script, against a queue served
on a real Unix control socket in this process.
"""

import json
import os
import sys

from twisted.internet import defer, reactor, utils

from halon.control.service import ControlService
from halon.queue import control, states

from tests.queue.helpers import tempdir
from tests.queue.test_queue import QueueTestCase

HALONCTL = os.path.join(os.path.dirname(sys.executable), "halonctl")


class HalonctlTests(QueueTestCase):
    def setUp(self):
        QueueTestCase.setUp(self)
        self.socket = os.path.join(tempdir(self, "hc"), "smtpd.ctl")
        self.control = ControlService(reactor, self.socket, {}, program="smtpd")
        control.register(self.control, self.queue)
        self.control.startService()
        self.addCleanup(self.control.stopService)

    async def halonctl(self, *args, status=0):
        """halonctl's output (stdout, stderr) for C{args}; the exit status must be C{status}."""
        env = dict(os.environ, HALON_CTL=self.socket)
        out, err, code = await utils.getProcessOutputAndValue(HALONCTL, args, env=env, reactor=reactor)
        self.assertEqual(code, status, (args, out, err))
        return out.decode(), err.decode()

    async def test_listFieldsAndConditions(self):
        """-F picks the columns; conditions filter; the table has one row per recipient."""
        await self.queue_message(["a@example.com", "b@example.com"], hold=True)
        await self.queue_message(["c@other.example"], hold=True)
        out, _ = await self.halonctl("queue", "list", "--state", "HOLD", "--recipientdomain", "example.com",
                                     "-F", "recipient", "-F", "state", "-F", "retrycount")
        lines = out.splitlines()
        self.assertEqual(lines[1].split("│")[1:-1], [" recipient     ", " state ", " retrycount "])
        rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines[3:-1]]
        self.assertEqual(rows, [["a@example.com", "HOLD", "0"], ["b@example.com", "HOLD", "0"]])
        out, _ = await self.halonctl("queue", "list", "--json", "--recipient", "c@other.example")
        (message,) = json.loads(out)["messages"]
        self.assertEqual((message["recipient"], message["state"]), ("c@other.example", "HOLD"))

    async def test_groupbyState(self):
        """groupby --view state counts per transport and domain and per state."""
        await self.queue_message(["a@example.com", "b@example.com"], hold=True)
        out, _ = await self.halonctl("queue", "groupby", "--view", "state")
        rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines()[3:-1]]
        header = [cell.strip() for cell in out.splitlines()[1].split("│")[1:-1]]
        self.assertEqual(header, ["transportid", "recipientdomain", "total", "ACTIVE", "DEFER", "HOLD", "UNKNOWN", "SENDING"])
        self.assertEqual(rows, [["mx", "example.com", "2", "0", "0", "2", "0", "0"]])

    async def test_updateAndFreeze(self):
        """update reports affected, unaffected and freezing lines as the manual shows them."""
        gate = defer.Deferred()
        self.queue.hooks.predelivery = lambda info: gate
        await self.queue_message(["w@example.com"])
        await self.queue_message(["h@example.com"], hold=True)
        self.clock.advance(0)
        out, _ = await self.halonctl("queue", "update", "--hold", "--senderdomain", "sender.example", "--all-states")
        self.assertEqual(out, "1 messages affected\n1 messages unaffected\n")
        out, _ = await self.halonctl("queue", "update", "--hold", "--senderdomain", "sender.example", "--all-states",
                                     "--freeze")
        self.assertEqual(out, "1 messages affected\n1 messages freezing\n")
        self.assertEqual(self.count("queue.freeze.update.pending"), 1)
        _, err = await self.halonctl("queue", "update", "--hold", status=2)
        self.assertIn("--all-states", err)
        from halon.queue.core import Decision

        self.smtp.replies["RCPT w@example.com"] = b"451 4.3.0 later"
        gate.callback(Decision("try"))
        await self.settle()
        out, _ = await self.halonctl("queue", "update", "--delete", "--state", "UPDATE")
        self.assertEqual(out, "1 messages affected\n")
        self.assertEqual([r.address for r in self.queue.index.recipients()], ["h@example.com"])

    async def test_policiesAndSuspends(self):
        """policy add/list/delete, rate refill, suspend add/list/delete, and the reloads."""
        out, _ = await self.halonctl("queue", "policy", "add", "-F", "remotemx", "--remotemx", "*.example.com",
                                     "--rate", "10/600", "--ttl", "3600")
        policy = int(out)
        out, _ = await self.halonctl("queue", "policy", "list")
        self.assertIn("*.example.com", out)
        self.assertIn("10/600", out)
        await self.halonctl("queue", "policy", "delete", str(policy))
        _, err = await self.halonctl("queue", "policy", "delete", str(policy), status=1)
        self.assertIn("no dynamic policy", err)
        out, _ = await self.halonctl("queue", "policy", "rate", "refill")
        self.assertEqual(out, "0\n")
        out, _ = await self.halonctl("queue", "suspend", "add", "--recipientdomain", "example.com", "--ttl", "60")
        suspend = int(out)
        out, _ = await self.halonctl("queue", "suspend", "list")
        self.assertIn("dynamic", out)
        self.assertIn("example.com", out)
        await self.queue_message()
        await self.settle()
        self.assertEqual(self.smtp.messages, [])
        await self.halonctl("queue", "suspend", "delete", str(suspend))
        await self.settle()
        self.assertEqual(len(self.smtp.messages), 1)
        for kind in ("policy", "suspend", "delivery"):
            await self.halonctl("queue", kind, "reload")

    async def test_unload(self):
        """unload prints one line per file and takes the message out of the queue."""
        uuid = await self.queue_message(hold=True)
        path = self.queue.index.messages[uuid].path
        out, _ = await self.halonctl("queue", "unload", "--id", uuid)
        self.assertEqual(out, "%s unloaded\n" % (path,))
        self.assertEqual(len(self.queue.index), 0)
        self.assertTrue(os.path.exists(path))
        self.assertEqual(states.NAMES[states.HOLD], "HOLD")
