"""The pre- and post-delivery hooks written in HSL, run by the queue on real deliveries."""

from twisted.internet import reactor
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from halon.queue import hsl, states
from halon.queue.core import Queue
from halon.stats import Stats

from tests.queue.test_queue import QueueTestCase

PREDELIVERY = """
SetMetaData(["seen" => "pre", "retry" => string($arguments["retry"])]);
if ($message["recipient"] == "held@example.com")
    Queue(["hold" => true]);
if ($message["recipient"] == "gone@example.com")
    Delete();
Try();
"""

POSTDELIVERY = """
$result = $arguments["attempt"]["result"];
if ($result and $result["code"] == 451 and $message["recipient"] == "bounce@example.com")
    Bounce();
"""


class HSLHookTests(QueueTestCase):
    def make_queue(self, hooks=None):
        app = {"scripting": {"hooks": {"predelivery": PREDELIVERY, "postdelivery": POSTDELIVERY}}}
        self.stats = Stats()
        hooks = hsl.build(reactor, app, {}, self.stats)
        self.addCleanup(hooks._pool.stop)
        queue = Queue(reactor, self.spool, self.stats, self.resolver, self.config(), clock=self.clock, hooks=hooks)
        queue.startService()
        self.addCleanup(lambda: queue.running and queue.stopService())
        return queue

    async def test_decisionsAndMetadata(self):
        """Try delivers, Queue(hold) holds, Delete drops, Bounce overrides a temporary failure; SetMetaData sticks."""
        self.smtp.replies["RCPT bounce@example.com"] = b"451 4.3.0 later"
        self.smtp.replies["RCPT later@example.com"] = b"451 4.3.0 later"
        await self.queue_message(["ok@example.com", "held@example.com", "gone@example.com", "bounce@example.com",
                                  "later@example.com"])
        await self.settle()
        delivered = [m.recipients for m in self.smtp.messages if m.sender]
        self.assertEqual(delivered, [["ok@example.com"]])
        reports = [m for m in self.smtp.messages if not m.sender]
        self.assertEqual(len(reports), 1)
        self.assertIn(b"Final-Recipient: rfc822; bounce@example.com", reports[0].data)
        left = {r.address: (states.NAMES[r.state], r.metadata) for r in self.queue.index.recipients()}
        self.assertEqual(left, {
            "held@example.com": ("HOLD", {"seen": "pre", "retry": "0"}),
            "later@example.com": ("DEFER", {"seen": "pre", "retry": "0"}),
        })
        # Five recipients and the report to the sender; Queue() and Delete() in
        # pre-delivery end the attempt without a post-delivery run.
        self.assertEqual(self.stats.value("queue.scripts.predelivery.finished"), 6)
        self.assertEqual(self.stats.value("queue.scripts.postdelivery.finished"), 4)


class ReloadTests(QueueTestCase):
    """The queue follows the running configuration; a new one brings its delivery scripts."""

    def make_queue(self, hooks=None):
        self.app = self.config().app
        self.stats = Stats()
        self.hooks = hsl.build(reactor, self.app, {}, self.stats)
        self.addCleanup(self.hooks._pool.stop)
        queue = Queue(reactor, self.spool, self.stats, self.resolver, self.config(), clock=self.clock, hooks=self.hooks)
        queue.follow(lambda: self.app, {})
        queue.startService()
        self.addCleanup(lambda: queue.running and queue.stopService())
        return queue

    def reload(self, predelivery=None):
        """A new running configuration, as smtpd's reload makes one (a new dict)."""
        self.app = dict(self.config().app, scripting={"hooks": {"predelivery": predelivery} if predelivery else {}})

    async def test_reloadRecompiles(self):
        """Scripts added, kept when the new ones do not compile (with an error logged), and removed by reloads."""
        errors = []

        def observe(event):
            if event.get("log_level") == LogLevel.error and "delivery scripts" in event.get("log_format", ""):
                errors.append(formatEvent(event))

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        # Without scripts the recipients of a domain share one transaction.
        await self.queue_message(["first@example.com", "second@example.com"])
        await self.settle()
        self.assertEqual([m.recipients for m in self.smtp.messages], [["first@example.com", "second@example.com"]])
        self.assertFalse(self.hooks.per_recipient)

        self.reload('if ($message["recipient"] == "held@example.com") Queue(["hold" => true]);')
        await self.queue_message(["held@example.com"])
        await self.settle()
        self.assertEqual([states.NAMES[r.state] for r in self.queue.index.recipients()], ["HOLD"])
        self.assertEqual(self.stats.value("queue.scripts.predelivery.finished"), 1)

        self.reload("Queue(")
        await self.queue_message(["held@example.com"])
        await self.settle()
        self.assertEqual([states.NAMES[r.state] for r in self.queue.index.recipients()], ["HOLD", "HOLD"])
        self.assertEqual(len(errors), 1)
        self.assertIn("the previous ones stay", errors[0])

        self.reload()
        await self.queue_message(["held@example.com"])
        await self.settle()
        self.assertEqual(len(self.smtp.messages), 2)
        self.assertEqual(self.stats.value("queue.scripts.predelivery.finished"), 2)
