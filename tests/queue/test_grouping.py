"""
queues.grouping and quotas piece by piece: the grouping rules, the
grouping the queue gives a recipient before and after DNS, the quota
counters of the index, and the "queue" service scripts call.
"""

from twisted.internet import reactor, threads
from twisted.trial import unittest

from halon.config import ConfigError, parse_running
from halon.hsl import compile_program
from halon.hsl.errors import HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from halon.queue import spool, states
from halon.queue.core import Queue, QueueConfig
from halon.queue.grouping import Groupings
from halon.queue.index import QueueIndex
from halon.queue.scripting import QueueScriptService
from halon.stats import Stats

from tests.queue.helpers import make_message, tempdir
from tests.queue.test_queue import DATA, QueueTestCase

BIGMAIL = {"groupings": [{"id": "bigmail", "remotemx": ["*.bigmail.test"]},
                         {"id": "lan", "remoteip": ["10.0.0.0/8"], "recipientdomain": ["@local"]}]}


class GroupingsTests(unittest.TestCase):
    def test_firstMatchingItem(self):
        """Any listed value of an item makes its grouping &id; items are tried in order."""
        groupings = Groupings(BIGMAIL, {"local": ["corp.test", "*.corp.test"]})
        self.assertEqual(groupings.of("a.test", "MX1.BigMail.test", "10.1.1.1"), "&bigmail")
        self.assertEqual(groupings.of("a.test", "mx.a.test", "10.1.1.1"), "&lan")
        self.assertEqual(groupings.of("sub.corp.test"), "&lan")
        self.assertEqual(groupings.of("a.test", "bigmail.test", "192.0.2.1"), "a.test")

    def test_defaults(self):
        """Unmatched: the recipient domain (also without any configuration), the MX, or none."""
        self.assertEqual(Groupings().of("a.test", "mx.a.test"), "a.test")
        self.assertEqual(Groupings({"default": "remotemx"}).of("a.test", "MX.a.test."), "mx.a.test")
        self.assertEqual(Groupings({"default": ""}).of("a.test", "mx.a.test"), "")

    def test_badValues(self):
        e = self.assertRaises(ValueError, Groupings, {"groupings": [{"id": "x", "remoteip": ["not-an-ip"]}]})
        self.assertIn("queues.grouping.groupings[0].remoteip", str(e))
        self.assertRaises(ValueError, Groupings, {"default": "sender"})

    def test_configurationChecked(self):
        """smtpd-app.yaml with a grouping naming a missing list or a bad network is refused, with the path."""
        app = ('version: "6.0"\nqueues:\n  grouping:\n    groupings:\n'
               '      - {id: a, remotemx: ["@nosuchlist"]}\n      - {id: b, remoteip: ["300.1.1.1"]}\n')
        e = self.assertRaises(ConfigError, parse_running, "smtpd-app", app, "smtpd-app.yaml")
        text = str(e)
        self.assertIn("queues.grouping.groupings[0].remotemx[0]: no list", text)
        self.assertIn("queues.grouping.groupings[1].remoteip[0]: not an IP address or network", text)


ZONE = {
    ("alpha.test", "mx"): [(10, "mx1.bigmail.test")],
    ("mx1.bigmail.test", "a"): ["127.0.0.1"],
    ("beta.test", "mx"): [(10, "mx.beta.test")],
    ("mx.beta.test", "a"): ["127.0.0.1"],
}


class _Recorder:
    """Delivery hooks that note the grouping the post-delivery hook sees."""

    def __init__(self):
        self.seen = []

    def predelivery(self, info):
        from halon.queue.core import Decision

        return Decision("try")

    def postdelivery(self, info):
        from halon.queue.core import Decision

        self.seen.extend((r.address, r.grouping) for r in info["recipients"])
        return Decision("default")


class QueueGroupingTests(QueueTestCase):
    grouping = {"default": "remotemx", "groupings": [{"id": "bigmail", "remotemx": ["*.bigmail.test"]},
                                                     {"id": "betas", "recipientdomain": ["beta.test"]}]}

    def setUp(self):
        QueueTestCase.setUp(self)
        self.dns.zone.update(ZONE)

    def config(self):
        config = QueueTestCase.config(self)
        config.app["queues"] = {"grouping": self.grouping}
        return QueueConfig(config.app, hostname="queue.test")

    async def test_decidedWithTheMX(self):
        """The grouping comes from the MX found; the default (remotemx) takes the MX host itself."""
        hooks = _Recorder()
        await self.queue.stopService()
        self.queue = self.make_queue(hooks)
        await self.queue_message(["a@alpha.test", "b@example.com"])
        await self.settle()
        self.assertEqual(sorted(hooks.seen), [("a@alpha.test", "&bigmail"), ("b@example.com", "mx.example.com")])

    async def test_keptAcrossARestart(self):
        """A recipient waiting for its retry keeps the grouping its attempt decided when the queue starts again."""
        self.smtp.replies["RCPT a@alpha.test"] = b"451 4.3.0 later"
        await self.queue_message(["a@alpha.test"])
        await self.settle()
        await self.queue.stopService()
        self.queue = self.make_queue()
        (rcpt,) = self.recipients()
        self.assertEqual((rcpt.state, rcpt.grouping), (states.DEFER, "&bigmail"))

    async def test_suspendBeforeDNS(self):
        """A grouping the recipient domain decides is suspended before its MX is looked up."""
        self.queue.suspends.add({"grouping": "&betas"})
        await self.queue_message(["b@beta.test", "a@alpha.test"])
        await self.settle()
        self.assertEqual([m.recipients for m in self.smtp.messages], [["a@alpha.test"]])
        (left,) = self.recipients()
        self.assertEqual((left.address, left.state, left.grouping), ("b@beta.test", states.ACTIVE, ""))
        self.assertNotIn(("beta.test", 15), self.dns.queries)


class IndexQuotaTests(unittest.TestCase):
    def test_countedPerEntryUntilRemoved(self):
        index = QueueIndex()
        message = make_message("u1", recipients=("a@x.test", "b@x.test", "c@x.test"), size=1000)
        for rcpt, quotas in zip(message.recipients, [("q", "r"), ("q",), None]):
            rcpt.quotas = quotas
        index.add(message)
        self.assertEqual((index.quota("q"), index.quota("r"), index.quota("none")), ((2, 2000), (1, 1000), (0, 0)))
        index.remove(message.recipients[0])
        self.assertEqual((index.quota("q"), index.quota("r")), ((1, 1000), (0, 0)))
        self.assertNotIn("r", index.quotas)


class QueueQuotaTests(QueueTestCase):
    async def spool_message(self, quotas, recipients=("bob@example.com",)):
        """A message spooled as smtpd writes it, its recipients with C{quotas}; its uuid."""
        uuid = "00000000-0000-4000-8000-%012d" % (len(self.queue.index.messages) + 1,)
        envelope = {"transaction": uuid, "received": self.clock.seconds(), "sender": "alice@sender.example",
                    "serverid": "", "senderparams": {}, "dsn": {"ret": None, "envid": None}}
        records = [{"index": n, "recipient": address, "transportid": "mx", "metadata": {}, "hold": True, "delay": 0,
                    "quotas": list(quotas)} for n, address in enumerate(recipients, 1)]
        spooled = spool.SpoolMessage(uuid, envelope, records, message=DATA)
        await self.queue.writer.commit([spooled])
        spooled.message = None
        self.queue.submit(spooled)
        return uuid

    async def test_bounceAndDeleteRelease(self):
        """Named twice, counted once; a delivered entry and a bounced one both leave the quota."""
        await self.spool_message(["q", "q"], ["bob@example.com", "bad@example.com"])
        self.assertEqual(self.queue.index.quota("q"), (2, 2 * len(DATA)))
        self.smtp.replies["RCPT bad@example.com"] = b"550 5.1.1 no such user"
        self.queue.update(None, "active")
        await self.settle()
        self.assertEqual([m.recipients for m in self.smtp.messages if m.sender], [["bob@example.com"]])
        self.assertEqual(self.queue.index.quota("q"), (0, 0))

    async def test_unloadedAndLoadedElsewhere(self):
        """Unload releases the quota; the rewritten file counts again in the queue that loads it."""
        uuid = await self.spool_message(["q"])
        (path,) = [m.path for m in self.queue.index.messages.values()]
        paths, _ = self.queue.unload(None)
        self.assertEqual((paths, self.queue.index.quota("q")), ([path], (0, 0)))
        other = Queue(reactor, self.spool_path_of(path), Stats(), self.resolver, self.config(), clock=self.clock)
        self.assertEqual(other.load(), 1)
        self.addCleanup(other.journal.close)
        self.assertEqual(other.index.quota("q"), (1, len(DATA)))
        self.assertEqual(other.index.messages[uuid].recipients[0].state, states.HOLD)

    def spool_path_of(self, path):
        import os
        import shutil

        target = tempdir(self)
        relative = os.path.relpath(path, self.queue.spool_path)
        os.makedirs(os.path.join(target, os.path.dirname(relative)))
        shutil.copy(path, os.path.join(target, relative))
        return target


class ScriptServiceTests(QueueTestCase):
    def setUp(self):
        QueueTestCase.setUp(self)
        self.host = Host(reactor=reactor)
        self.host.services = {"queue": QueueScriptService(self.queue, reactor)}

    def run_script(self, source):
        """Run C{source} on a worker thread, as hooks run; the value of $out."""
        program = compile_program(source, "test", variables=("out",), host=self.host)
        return threads.deferToThread(lambda: program.run(self.host, {"out": None}).get("out"))

    async def test_quotaFromAScript(self):
        self.queue.index.quotas["q"] = (3, 300)
        out = await self.run_script('$out = queue_quota("q");')
        self.assertEqual(dict(out.items()), {b"count": 3.0, b"bytes": 300.0})

    async def test_suspendAndPolicy(self):
        """queue_suspend and queue_policy reach the queue on the reactor; refused input is none."""
        out = await self.run_script(
            '$out = [queue_suspend(["remotemx" => "*.example.com"], 60, ["tag" => "t1"]),'
            ' queue_suspend(["nosuchfield" => "x"], 60),'
            ' queue_policy(["recipientdomain"], ["recipientdomain" => "example.com"], ["rate" => [10, 60]], 3600)];')
        suspended, refused, policy = out.values()
        (suspend,) = [s for s in self.queue.suspends.entries.values() if s.tag == "t1"]
        self.assertEqual(suspended.get(b"id"), str(suspend.id).encode())
        self.assertEqual(suspend.condition.spec, {"remotemx": "*.example.com"})
        self.assertIsNone(refused)
        (dynamic,) = self.queue.policies.dynamic.values()
        self.assertEqual((dynamic.fields, dynamic.limits.rate), (("recipientdomain",), (10.0, 60.0)))
        self.assertEqual(policy.get(b"id"), str(dynamic.id).encode())
        out = await self.run_script('$out = [queue_policy_delete("%d"), queue_policy_delete("%d")];' % ((dynamic.id,) * 2))
        self.assertEqual(list(out.values()), [True, False])

    async def test_queueFromAScript(self):
        """MIME()->queue() spools a new message for one recipient with the options of EOD's queue()."""
        out = await self.run_script(
            '$out = MIME()->setBody("hi")->queue("a@sender.example", ["localpart" => "b", "domain" => "example.com"],'
            ' "mx", ["hold" => true, "quotas" => ["q"], "metadata" => ["k" => "v"], "jobid" => "j1"]);')
        (rcpt,) = self.queue.index.recipients()
        self.assertEqual(dict(out.items()), {b"transaction": rcpt.message.uuid.encode(), b"queue": 1.0})
        self.assertEqual((rcpt.address, rcpt.state, rcpt.metadata, rcpt.message.jobid, rcpt.message.sender),
                         ("b@example.com", states.HOLD, {"k": "v"}, "j1", "a@sender.example"))
        self.assertEqual(self.queue.index.quota("q"), (1, rcpt.message.size))
        self.assertIn(b"hi", self.queue.recent.read(rcpt.message.uuid, rcpt.message.path).read_message())

    def test_badArguments(self):
        service = self.host.services["queue"]
        self.assertRaises(HSLRuntimeError, service.queue_suspend, b"x", 60.0)
        self.assertRaises(HSLRuntimeError, service.queue_suspend, HSLArray({b"jobid": b"j"}), 0.0)
        self.assertRaises(HSLRuntimeError, service.queue_policy, HSLArray([b"jobid"]), HSLArray(), HSLArray({b"speed": 1.0}), 60.0)
