"""The pre- and post-delivery hooks written in HSL, run by the queue on real deliveries."""

from twisted.internet import reactor

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
