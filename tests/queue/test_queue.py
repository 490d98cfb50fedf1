"""
The queue end to end: messages in a real spool, delivered through a real
DNS server and real SMTP servers on loopback, scheduled on a task.Clock.
"""

import os

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial import unittest

from halon.queue import states
from halon.queue.conditions import Conditions
from halon.queue.core import Decision, Queue, QueueConfig
from halon.resolver import Resolver
from halon.stats import Stats

from tests.queue.helpers import tempdir
from tests.queue.smtpserver import SMTPServer
from tests.util.dnsserver import DNSServer

ZONE = {
    ("example.com", "mx"): [(10, "mx.example.com")],
    ("mx.example.com", "a"): ["127.0.0.1"],
    ("sender.example", "mx"): [(10, "mx.example.com")],
    ("broken.example", "*"): "SERVFAIL",
}

DATA = b"From: a@sender.example\r\nSubject: hello\r\n\r\nbody\r\n"


class CountingHooks:
    """Try every attempt, counting the pre-delivery runs."""

    def __init__(self):
        self.pre = 0

    def predelivery(self, info):
        self.pre += 1
        return Decision("try")

    def postdelivery(self, info):
        return Decision("default")


class QueueTestCase(unittest.TestCase):
    retry = {"count": 3, "intervals": [{"interval": 60}, {"interval": 120, "notify": True}]}

    def setUp(self):
        self.dns = DNSServer(reactor, dict(ZONE))
        dns_port = self.dns.start()
        self.addCleanup(self.dns.stop)
        self.smtp = SMTPServer(reactor)
        self.port = self.smtp.start()
        self.addCleanup(self.smtp.stop)
        self.spool = tempdir(self)
        self.clock = Clock()
        self.resolver = Resolver(reactor, [("127.0.0.1", dns_port)], timeout=2.0)
        self.queue = self.make_queue()

    def config(self):
        app = {
            "transportgroups": [
                {"id": "default", "retry": self.retry,
                 "transports": [{"id": "mx", "connection": {"port": self.port}, "session": {"tls": {"mode": "disabled"}}}]}
            ]
        }
        return QueueConfig(app, hostname="queue.test")

    def make_queue(self, hooks=None):
        self.stats = Stats()
        queue = Queue(reactor, self.spool, self.stats, self.resolver, self.config(), clock=self.clock, hooks=hooks)
        queue.startService()
        self.addCleanup(lambda: queue.running and queue.stopService())
        return queue

    async def queue_message(self, recipients=("bob@example.com",), sender="alice@sender.example", hold=False):
        """Spool a message as the SMTP server would and hand it to the queue; its uuid."""
        return await self.queue.inject(sender, list(recipients), DATA, "mx", hold=hold)

    async def settle(self):
        """Run pickups and attempts until nothing is left to do now (the clock does not move)."""
        for _ in range(20):
            self.clock.advance(0)
            await self.queue.when_idle()
            if not self.clock.getDelayedCalls() or all(c.getTime() > self.clock.seconds() for c in self.clock.getDelayedCalls()):
                if self.queue.when_idle().called:
                    return

    def recipients(self):
        return sorted(self.queue.index.recipients(), key=lambda r: (r.message.ts, r.n))

    def count(self, name):
        return self.stats.value(name)


class DeliveryTests(QueueTestCase):
    async def test_deliveredAndRemoved(self):
        """Two recipients of one message go in one transaction; then the spool file and the records are gone."""
        uuid = await self.queue_message(["bob@example.com", "carol@example.com"])
        path = self.queue.index.messages[uuid].path
        await self.settle()
        self.assertEqual(len(self.smtp.messages), 1)
        self.assertEqual(self.smtp.messages[0].recipients, ["bob@example.com", "carol@example.com"])
        self.assertEqual(self.smtp.messages[0].data, DATA)
        self.assertEqual(len(self.queue.index), 0)
        self.assertFalse(os.path.exists(path))

    async def test_dsnParameters(self):
        """A recipient's NOTIFY and ORCPT reach a server that offers DSN, each on its own RCPT."""
        self.smtp.dsn = True
        dsn = {"notify": ["SUCCESS", "FAILURE"], "orcpt": "rfc822;a@example.com"}
        await self.queue.inject("alice@sender.example", ["a@example.com", "b@example.com"], DATA, "mx")
        await self.queue.inject("alice@sender.example", ["c@example.com"], DATA, "mx", options={"dsn": dsn})
        await self.settle()
        rcpts = sorted(c for c in self.smtp.commands if c.startswith(b"RCPT"))
        self.assertEqual(rcpts, [b"RCPT TO:<a@example.com>", b"RCPT TO:<b@example.com>",
                                 b"RCPT TO:<c@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.com"])
        self.assertEqual((len(self.smtp.messages), len(self.queue.index)), (2, 0))

    async def test_deliverySettingsFollowTheFile(self):
        """Settings resolved once per transport and delivery condition follow each reload of the delivery file."""
        await self.queue_message(["a@example.com"])
        await self.settle()
        self.assertEqual(len(self.queue.pool), 0)
        self.queue.load_delivery({"delivery": {"default": {"pooling": {"enabled": True, "timeout": 30}}}})
        await self.queue_message(["b@example.com"])
        await self.settle()
        self.assertEqual(len(self.queue.pool), 1)
        self.queue.load_delivery({"delivery": {"default": {"pooling": {"enabled": True, "timeout": 30}}, "conditions": [
            {"if": {"recipientdomain": "example.com"}, "then": {"pooling": {"enabled": False}}}]}})
        await self.queue_message(["c@example.com"])
        await self.settle()
        self.assertEqual((len(self.queue.pool), len(self.smtp.messages)), (0, 3))

    async def test_retrySchedule(self):
        """A 4xx defers at the transport group's intervals; the retry delivers once the server takes it."""
        self.smtp.replies["RCPT bob@example.com"] = b"451 4.3.0 try later"
        await self.queue_message()
        await self.settle()
        (rcpt,) = self.recipients()
        self.assertEqual((states.NAMES[rcpt.state], rcpt.retry, rcpt.next_retry), ("DEFER", 1, 60.0))
        self.assertEqual(self.count("queue.queue.defer.size"), 1)
        self.clock.advance(59)
        await self.settle()
        self.assertEqual(rcpt.retry, 1)
        del self.smtp.replies["RCPT bob@example.com"]
        self.clock.advance(1)
        await self.settle()
        self.assertEqual(len(self.queue.index), 0)
        self.assertEqual(len(self.smtp.messages), 1)

    async def test_permanentFailureBounces(self):
        """A 5xx bounces at once: an RFC 3464 report from the null sender reaches the sender's MX."""
        self.smtp.replies["RCPT bob@example.com"] = b"550 5.1.1 no such user"
        await self.queue_message()
        await self.settle()
        (report,) = self.smtp.messages
        self.assertEqual((report.sender, report.recipients), ("", ["alice@sender.example"]))
        self.assertIn(b"multipart/report; report-type=delivery-status", report.data)
        self.assertIn(b"Final-Recipient: rfc822; bob@example.com", report.data)
        self.assertIn(b"Action: failed", report.data)
        self.assertIn(b"Status: 5.1.1", report.data)
        self.assertIn(b"Diagnostic-Code: smtp; 550 no such user", report.data)
        self.assertIn(b"Subject: hello", report.data)
        self.assertEqual(len(self.queue.index), 0)

    async def test_noBounceForNullSender(self):
        """A message from the null sender that fails is dropped without a report."""
        self.smtp.replies["RCPT bob@example.com"] = b"550 5.1.1 no such user"
        await self.queue_message(sender="")
        await self.settle()
        self.assertEqual((self.smtp.messages, len(self.queue.index)), ([], 0))

    async def test_retriesExhausted(self):
        """After retry.count attempts a temporary failure bounces too; the notify interval sent a delay report."""
        self.smtp.replies["RCPT bob@example.com"] = b"451 4.3.0 try later"
        await self.queue_message()
        await self.settle()
        self.clock.advance(60)
        await self.settle()
        self.assertEqual([m.sender for m in self.smtp.messages], [""])
        self.assertIn(b"Action: delayed", self.smtp.messages[0].data)
        self.clock.advance(120)
        await self.settle()
        self.assertEqual(len(self.queue.index), 0)
        self.assertIn(b"Action: failed", self.smtp.messages[1].data)
        self.assertIn(b"Status: 5.3.0", self.smtp.messages[1].data)

    async def test_retryDuring(self):
        """retry.during bounces a temporary failure once the message is that old, retries left or not."""
        self.retry = {"count": 30, "intervals": [{"interval": 60}], "during": "2m"}
        self.queue.configure(self.config())
        self.smtp.replies["RCPT bob@example.com"] = b"451 4.3.0 try later"
        await self.queue_message()
        await self.settle()
        (rcpt,) = self.recipients()
        self.clock.advance(60)
        await self.settle()
        self.assertEqual((states.NAMES[rcpt.state], rcpt.retry, self.smtp.messages), ("DEFER", 2, []))
        self.clock.advance(60)
        await self.settle()
        self.assertEqual(len(self.queue.index), 0)
        (report,) = self.smtp.messages
        self.assertIn(b"Action: failed", report.data)
        self.assertIn(b"Final-Recipient: rfc822; bob@example.com", report.data)

    def test_retryDuringChecked(self):
        """A retry.during in smtpd-delivery.yaml that is no duration is refused with where it is."""
        from halon.queue.delivery_settings import DeliveryFile

        e = self.assertRaises(ValueError, DeliveryFile, {"delivery": {"default": {"retry": {"during": "soon"}}}})
        self.assertIn("delivery.default.retry.during", str(e))
        self.assertEqual(DeliveryFile({"delivery": {"default": {"retry": {"during": "1d"}}}}).default["retry"]["during"],
                         "1d")

    async def test_dnsErrors(self):
        """NXDOMAIN bounces; SERVFAIL defers."""
        await self.queue_message(["x@nowhere.example", "y@broken.example"])
        await self.settle()
        (rcpt,) = self.recipients()
        self.assertEqual((rcpt.address, states.NAMES[rcpt.state]), ("y@broken.example", "DEFER"))
        (report,) = self.smtp.messages
        self.assertIn(b"Final-Recipient: rfc822; x@nowhere.example", report.data)
        self.assertIn(b"Status: 5.1.2", report.data)


class ControlTests(QueueTestCase):
    async def test_restartKeepsStates(self):
        """HOLD, DEFER and UPDATE survive a restart; what was delivered stays delivered."""
        self.smtp.replies["RCPT d@example.com"] = b"451 4.3.0 later"
        await self.queue_message(["h@example.com"], hold=True)
        await self.queue_message(["d@example.com", "ok@example.com"])
        await self.settle()
        later = await self.queue_message(["l@example.com"], hold=True)
        self.queue.update(Conditions(id=[later]).compile()(0), "defer", 500)
        frozen = await self.queue_message(["u@example.com"], hold=True)
        (rcpt,) = self.queue.index.messages[frozen].recipients
        # What a freeze leaves behind (test_freezeFlow gets there the long way).
        self.queue.index.set_state(rcpt, states.UPDATE)
        self.queue.journal.record(rcpt)
        before = {r.address: (r.state, r.retry, r.next_retry) for r in self.recipients()}
        self.assertEqual(states.NAMES[before["d@example.com"][0]], "DEFER")
        await self.queue.stopService()
        self.queue = self.make_queue()
        after = {r.address: (r.state, r.retry, r.next_retry) for r in self.recipients()}
        self.assertEqual(after, before)
        self.assertEqual([states.NAMES[after[a][0]] for a in ("h@example.com", "l@example.com", "u@example.com")],
                         ["HOLD", "DEFER", "UPDATE"])
        self.assertEqual((self.count("queue.freeze.hold.size"), self.count("queue.freeze.update.size")), (1, 1))

    async def test_freezeFlow(self):
        """Working recipients are unaffected, or frozen into UPDATE with --freeze, then updatable."""
        gate = defer.Deferred()

        class Hooks:
            def predelivery(self, info):
                return gate.addCallback(lambda _: Decision("try"))

            def postdelivery(self, info):
                return Decision("default")

        await self.queue.stopService()
        self.queue = self.make_queue(Hooks())
        self.smtp.replies["RCPT w@example.com"] = b"451 4.3.0 later"
        await self.queue_message(["w@example.com"])
        await self.queue_message(["q@example.com"], hold=True)
        self.clock.advance(0)
        working = Conditions(recipientdomain=["example.com"]).compile()(0)
        self.assertEqual(self.queue.update(working, "delete"), (1, 1, 0))
        self.assertEqual(self.queue.update(working, "delete", freeze=True), (0, 0, 1))
        self.assertEqual(self.count("queue.freeze.update.pending"), 1)
        gate.callback(None)
        await self.settle()
        self.assertEqual((self.count("queue.freeze.update.pending"), self.count("queue.freeze.update.size")), (0, 1))
        (rcpt,) = self.recipients()
        self.assertEqual((states.NAMES[rcpt.state], rcpt.retry), ("UPDATE", 1))
        self.clock.advance(3600)
        await self.settle()
        self.assertEqual(rcpt.retry, 1)
        in_update = Conditions(state=["UPDATE"]).compile()(0)
        self.assertEqual(self.queue.update(in_update, "delete"), (1, 0, 0))
        self.assertEqual(len(self.queue.index), 0)

    async def test_updateActions(self):
        """hold, defer, active, transport and metadata changes, with the journal keeping them."""
        await self.queue_message(["a@example.com", "b@example.com"], hold=True)
        match_a = Conditions(recipient=["a@example.com"]).compile()(0)
        self.assertEqual(self.queue.update(match_a, "metadata", {"k": "v"}), (1, 0, 0))
        self.assertEqual(self.queue.update(match_a, "transportid", "mx"), (1, 0, 0))
        self.assertEqual(self.queue.update(match_a, "defer", 30), (1, 0, 0))
        a, b = self.recipients()
        self.assertEqual((states.NAMES[a.state], a.next_retry, a.metadata), ("DEFER", 30.0, {"k": "v"}))
        self.clock.advance(30)
        await self.settle()
        self.assertEqual([m.recipients for m in self.smtp.messages], [["a@example.com"]])
        self.assertEqual(self.queue.update(None, "active"), (1, 0, 0))
        await self.settle()
        self.assertEqual(len(self.queue.index), 0)

    async def test_suspendParksUntilLifted(self):
        """A suspend on the recipient domain keeps its messages queued until it is deleted."""
        suspend = self.queue.suspends.add({"recipientdomain": "example.com"})
        await self.queue_message()
        await self.settle()
        self.assertEqual((self.smtp.messages, self.count("queue.pickup.skips")), ([], 1))
        self.queue.suspends.delete(suspend.id)
        await self.settle()
        self.assertEqual(len(self.smtp.messages), 1)

    async def test_policyRate(self):
        """A rate policy per remote MX lets one message through per interval; the rest wait for the bucket."""
        self.queue.load_policies({"policies": [{"fields": ["remotemx"], "default": {"rate": "1/60"}}]})
        await self.queue_message(["one@example.com"])
        await self.queue_message(["two@example.com"])
        await self.settle()
        self.assertEqual(len(self.smtp.messages), 1)
        self.assertEqual(self.count("queue.policy.rate.suspends"), 1)
        self.clock.advance(60)
        await self.settle()
        self.assertEqual(len(self.smtp.messages), 2)

    async def test_heldAttemptKeepsItsRoute(self):
        """
        A recipient held back after DNS (a suspend on its MX) waits routed:
        once the suspend is lifted it is sent without a second pre-delivery
        run, unless an operator changed the queue meanwhile.
        """
        hooks = CountingHooks()
        self.queue = self.make_queue(hooks)
        suspend = self.queue.suspends.add({"remotemx": "mx.example.com"})
        await self.queue_message(["a@example.com"])
        await self.settle()
        self.assertEqual((self.smtp.messages, hooks.pre, self.count("queue.pickup.skips")), ([], 1, 1))
        self.queue.suspends.delete(suspend.id)
        await self.settle()
        self.assertEqual((len(self.smtp.messages), hooks.pre), (1, 1))

        suspend = self.queue.suspends.add({"remotemx": "mx.example.com"})
        await self.queue_message(["b@example.com"])
        await self.queue_message(["c@example.com"])
        await self.settle()
        match_b = Conditions(recipient=["b@example.com"]).compile()(0)
        self.assertEqual(self.queue.update(match_b, "hold"), (1, 0, 0))
        self.queue.suspends.delete(suspend.id)
        await self.settle()
        # b is on hold now; c was routed again, as the update could have concerned it.
        self.assertEqual(([m.recipients for m in self.smtp.messages[1:]], hooks.pre), ([["c@example.com"]], 4))
        self.assertEqual([(r.address, states.NAMES[r.state]) for r in self.queue.index.recipients()],
                         [("b@example.com", "HOLD")])

    async def test_concurrencyPolicyTakesUpOneAtATime(self):
        """
        Under a concurrency limit, each attempt that ends lets the next held
        one go instead of sending the whole sub-queue back to the pickup:
        every message is routed once and held back at most twice.
        """
        hooks = CountingHooks()
        self.queue = self.make_queue(hooks)
        self.queue.load_policies({"policies": [{"fields": ["remotemx"], "default": {"concurrency": 1}}]})
        addresses = ["r%d@example.com" % n for n in range(6)]
        for address in addresses:
            await self.queue_message([address])
        for _ in range(20):
            await self.settle()
            if not len(self.queue.index):
                break
        self.assertEqual([m.recipients[0] for m in self.smtp.messages], addresses)
        self.assertEqual(hooks.pre, len(addresses))
        self.assertLessEqual(self.count("queue.pickup.skips"), 2 * len(addresses))
        self.assertEqual(self.queue.policies.concurrency, {})

    async def test_unloadAndLoadElsewhere(self):
        """An unloaded file keeps only its queued recipients and their state; another spool loads it."""
        self.smtp.replies["RCPT b@example.com"] = b"451 4.3.0 later"
        uuid = await self.queue_message(["a@example.com", "b@example.com"])
        await self.settle()
        paths, freezing = self.queue.unload(Conditions(id=[uuid]).compile()(0))
        self.assertEqual((len(paths), freezing, len(self.queue.index)), (1, 0, 0))
        other = tempdir(self)
        os.makedirs(os.path.join(other, uuid[:2]))
        os.rename(paths[0], os.path.join(other, uuid[:2], os.path.basename(paths[0])))
        self.spool = other
        moved = self.make_queue()
        (rcpt,) = moved.index.recipients()
        self.assertEqual((rcpt.address, states.NAMES[rcpt.state], rcpt.retry), ("b@example.com", "DEFER", 1))


class DaemonTests(unittest.TestCase):
    def test_buildReadsFilesAndRefusesBadOnes(self):
        """build() reads the policy, suspend and delivery files; a bad reload names the file and keeps the old state."""
        from halon.config import ConfigError
        from halon.queue import daemon

        folder = tempdir(self)
        paths = {kind: os.path.join(folder, "smtpd-%s.yaml" % kind) for kind in ("policy", "suspend", "delivery")}
        with open(paths["suspend"], "w") as f:
            f.write("suspends:\n  - recipientdomain: example.com\n")
        startup = {"environment": {"spool": {"path": os.path.join(folder, "spool")},
                                   **{kind + "conf": path for kind, path in paths.items()}}}
        app = {"resolver": {"servers": ["127.0.0.1:5353"]}}
        queue = daemon.build(reactor, startup, app, Stats())
        self.assertEqual([s.condition.spec for s in queue.suspends.listing()], [{"recipientdomain": "example.com"}])
        self.assertEqual(queue.resolver.upstream is not None, True)
        with open(paths["suspend"], "w") as f:
            f.write("suspends:\n  - recipientdomain: [1, {x: y}]\n")
        with self.assertRaises((ConfigError, ValueError)) as caught:
            queue.reload_file("suspend")
        self.assertIn("smtpd-suspend.yaml", str(caught.exception))
        self.assertEqual(len(queue.suspends.listing()), 1)


class ConcurrencyTests(QueueTestCase):
    async def test_waitsForAConnectionSlot(self):
        """Past queues.concurrency.total messages wait for a slot instead of failing an attempt."""
        self.queue.pool.total = 1
        await self.queue_message(["a@example.com"])
        await self.queue_message(["b@example.com"])
        await self.queue_message(["c@example.com"])
        for _ in range(10):
            await self.settle()
            if not len(self.queue.index):
                break
            # The connection of the attempt before is closing; its slot frees when it is gone.
            await self.room()
        self.assertEqual(sorted(m.recipients[0] for m in self.smtp.messages),
                         ["a@example.com", "b@example.com", "c@example.com"])
        self.assertTrue(all(r.retry == 0 for r in self.queue.index.recipients()))

    def room(self):
        """A Deferred that fires once a connection slot is free."""
        pool = self.queue.pool
        if pool.open < pool.total:
            return defer.succeed(None)
        d = defer.Deferred()
        pool.on_room(lambda: d.called or d.callback(None))
        return d


class MTASTSTests(QueueTestCase):
    """session.tls.mta_sts: the recipient domain's policy, fetched over verified HTTPS, applied per attempt."""

    def setUp(self):
        from twisted.web import resource, server
        from twisted.web.client import Agent, BrowserLikePolicyForHTTPS

        from halon.mailauth.mtasts import MTASTS
        from tests.queue.smtpserver import make_ca_and_cert, tls_server_context, trust_root

        QueueTestCase.setUp(self)
        web_ca, web_cert = make_ca_and_cert("localhost")
        self.policy = b"version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n"
        test = self

        class Policy(resource.Resource):
            isLeaf = True

            def render_GET(self, request):
                request.setHeader(b"content-type", b"text/plain")
                return test.policy

        site = server.Site(Policy())
        web = reactor.listenSSL(0, site, tls_server_context(web_cert), interface="127.0.0.1")
        self.addCleanup(web.stopListening)
        agent = Agent(reactor, BrowserLikePolicyForHTTPS(trustRoot=trust_root(web_ca)))
        url = "https://localhost:%d/.well-known/mta-sts.txt?%%s" % (web.getHost().port,)
        self.dns.zone[("_mta-sts.example.com", "txt")] = [b"v=STSv1; id=1"]
        smtp_ca, smtp_cert = make_ca_and_cert("mx.example.com")
        self.smtp.tls = tls_server_context(smtp_cert)
        self.results = []
        test_results = self.results

        class Hooks:
            def predelivery(self, info):
                return Decision("try")

            def postdelivery(self, info):
                test_results.extend(info["outcomes"] or [])
                return Decision("default")

        self.mtasts = MTASTS(reactor, lambda name: self.resolver.query(name, "txt"), agent, url)
        self.trust = trust_root(smtp_ca)
        self.queue.stopService()
        self.queue = self.make_queue(Hooks())

    def config(self):
        config = QueueTestCase.config(self)
        config.transports["mx"][0]["session"]["tls"] = {"mode": "optional", "mta_sts": True}
        return config

    def make_queue(self, hooks=None):
        self.stats = Stats()
        queue = Queue(reactor, self.spool, self.stats, self.resolver, self.config(), clock=self.clock, hooks=hooks,
                      trust_root=getattr(self, "trust", None), mtasts=getattr(self, "mtasts", None))
        queue.startService()
        self.addCleanup(lambda: queue.running and queue.stopService())
        return queue

    async def test_enforce(self):
        """enforce: a listed MX gets the message over verified TLS; an MX the policy does not list waits."""
        await self.queue_message(["a@example.com"])
        await self.settle()
        (outcome,) = self.results
        self.assertTrue(outcome.delivered)
        tls = outcome.connection["tls"]
        self.assertEqual((tls["mtasts"]["mode"], tls["mtasts"]["id"], tls["started"]), ("enforce", "1", True))
        self.dns.zone[("_mta-sts.example.com", "txt")] = [b"v=STSv1; id=2"]
        self.policy = b"version: STSv1\nmode: enforce\nmx: mx.other.example\nmax_age: 86400\n"
        self.resolver.clear()
        await self.queue_message(["b@example.com"])
        await self.settle()
        self.assertEqual(self.results[1].error["type"], "tls")
        self.assertIn("matches its policy", self.results[1].error["message"])
        (rcpt,) = self.recipients()
        self.assertEqual(states.NAMES[rcpt.state], "DEFER")
        self.assertEqual(len(self.smtp.messages), 1)
