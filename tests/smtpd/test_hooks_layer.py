"""
The HSL hooks layer against the Program contract (C{program.run(host,
variables, functions)}), with stand-in programs written in Python: the
predefined variables each phase gets, the hook functions and their
options, the defaults on an implicit end and on a script error, $context
kept across hooks, and EOD queueing per recipient, on a real script pool
behind a real server.
"""

from twisted.internet import defer, reactor
from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError, ScriptExit
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from halon.smtpd.hsl import HSLHooks
from halon.smtpd.scriptpool import ScriptPool
from halon.stats import Stats
from tests.smtpd.helpers import codes, raw, settings, start_server, stored

ENVELOPE = b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"


class Program:
    """Stands in for a compiled script: calls C{body(variables, functions)}, ends at ScriptExit, hands back the variables."""

    def __init__(self, body):
        self.body = body
        self.seen = []

    def run(self, host, variables, functions):
        self.seen.append(variables)
        try:
            self.body(variables, functions)
        except ScriptExit:
            pass
        return variables


def arr(**kw):
    return HSLArray({k.encode(): v for k, v in kw.items()})


class HooksLayerTests(unittest.TestCase):
    def start(self, programs, **kw):
        self.stats = Stats()
        pool = ScriptPool(reactor, 4, self.stats, "servers[0].scripts", 5.0)
        self.addCleanup(pool.stop)
        hooks = HSLHooks(programs, pool, Host())
        return start_server(self, settings(**kw), hooks=hooks)

    @defer.inlineCallbacks
    def test_connect_variables_and_reject_with_reply_codes(self):
        connect = Program(
            lambda v, f: f["Reject"](
                HSLArray.from_list([b"go", b"away"]), arr(reply_codes=arr(code=554.0, enhanced=HSLArray.from_list([5.0, 7.0, 0.0])))
            )
        )
        server = self.start({"connect": connect})
        replies = yield raw(server.port, b"", 0, banner=False, closed=True)
        self.assertEqual(replies, [b"554-5.7.0 go\r\n554 5.7.0 away\r\n", b""])
        variables = connect.seen[0]
        self.assertEqual(variables["arguments"].get(b"remoteip"), b"127.0.0.1")
        self.assertEqual(variables["arguments"].get(b"serverid"), b"default")
        self.assertIsInstance(variables["arguments"].get(b"remoteport"), float)
        self.assertEqual(sorted(variables["connection"].keys()), [b"id", b"priority"])
        self.assertTrue(variables["transaction"].get(b"id"))
        self.assertIsNone(variables["context"])
        self.assertEqual(self.stats.counter("servers[0].scripts.connect.finished").value, 1)

    @defer.inlineCallbacks
    def test_implicit_end_accepts_and_defaults_per_phase(self):
        nothing = Program(lambda v, f: None)
        server = self.start({"connect": nothing, "helo": nothing, "mailfrom": nothing, "rcptto": nothing, "eod": nothing})
        replies = yield raw(server.port, ENVELOPE + b"x\r\n.\r\n", 5)
        # End of data without a decision defers and queues nothing.
        self.assertEqual(codes(replies), [220, 250, 250, 250, 354, 421])
        self.assertEqual(server.queue.messages, [])

    @defer.inlineCallbacks
    def test_script_error_defers(self):
        def fail(v, f):
            raise HSLRuntimeError("hooks/rcptto/x:3:1: boom")

        server = self.start({"rcptto": Program(fail)})
        replies = yield raw(server.port, ENVELOPE[:-6], 3)
        self.assertEqual(codes(replies), [220, 250, 250, 450])

    @defer.inlineCallbacks
    def test_unknown_option_is_a_script_error(self):
        server = self.start({"mailfrom": Program(lambda v, f: f["Accept"](arr(bogus=True)))})
        replies = yield raw(server.port, b"HELO x\r\nMAIL FROM:<a@b.c>\r\n", 2)
        self.assertEqual(codes(replies), [220, 250, 450])

    @defer.inlineCallbacks
    def test_context_is_kept_between_hooks(self):
        def connect(v, f):
            v["context"] = arr(n=1.0)

        def helo(v, f):
            f["Reject"](b"context %d" % v["context"].get(b"n"))

        server = self.start({"connect": Program(connect), "helo": Program(helo)})
        replies = yield raw(server.port, b"HELO x\r\n", 1)
        self.assertEqual(replies[1], b"554 5.7.1 context 1\r\n")

    @defer.inlineCallbacks
    def test_helo_accept_options(self):
        def helo(v, f):
            self.assertEqual(v["arguments"].get(b"verb"), b"EHLO")
            self.assertIn(b"PIPELINING", list(v["arguments"].get(b"extensions").values()))
            f["Accept"](arr(extensions=HSLArray.from_list([b"PIPELINING", b"X-CUSTOM"]), reason=b"hi there"))

        server = self.start({"helo": Program(helo)})
        replies = yield raw(server.port, b"EHLO x\r\n", 1)
        self.assertEqual(replies[1], b"250-hi there\r\n250-PIPELINING\r\n250 X-CUSTOM\r\n")

    @defer.inlineCallbacks
    def test_mailfrom_and_rcptto_variables_and_rewrites(self):
        def mailfrom(v, f):
            args = v["arguments"]
            self.assertEqual(args.get(b"sender"), b"a@example.com")
            self.assertEqual(args.get(b"address").get(b"domain"), b"example.com")
            self.assertEqual(args.get(b"params").get(b"SIZE"), b"10")
            self.assertEqual(v["connection"].get(b"helo").get(b"host"), b"client.test")
            f["Accept"](arr(sender=arr(localpart=b"new", domain=b"sender.test")))

        def rcptto(v, f):
            self.assertEqual(v["transaction"].get(b"sender"), b"new@sender.test")
            self.assertEqual(v["arguments"].get(b"transportid"), b"mx")
            f["Accept"](arr(recipient=b"x@rcpt.test", transportid=b"relay", reason=b"fine"))

        def eod(v, f):
            transaction = v["transaction"]
            self.assertIsInstance(transaction.get(b"ts"), float)
            mail = v["arguments"].get(b"mail")
            for recipient in transaction.get(b"recipients").values():
                mail.queue(transaction.get(b"senderaddress"), recipient.get(b"address"), recipient.get(b"transportid"))
            f["Accept"]()

        server = self.start(
            {"mailfrom": Program(mailfrom), "rcptto": Program(rcptto), "eod": Program(eod)}, transport="mx"
        )
        replies = yield raw(server.port, ENVELOPE.replace(b"com>", b"com> SIZE=10") + b"x\r\n.\r\n", 5)
        self.assertEqual(codes(replies), [220, 250, 250, 250, 354, 250])
        self.assertEqual(replies[3], b"250 2.1.5 fine\r\n")
        [message] = server.queue.messages
        self.assertEqual(message.envelope["sender"], "new@sender.test")
        self.assertEqual([(r["recipient"], r["transportid"]) for r in message.recipients], [("x@rcpt.test", "relay")])

    @defer.inlineCallbacks
    def test_eod_queues_versions_and_options(self):
        def eod(v, f):
            mail = v["arguments"].get(b"mail")
            first = mail.queue(b"a@example.com", b"one@example.org", b"mx", arr(metadata=arr(k=b"v"), hold=True, jobid=b"j1"))
            mail.add_header(b"X-Scanned", b"yes")
            second = mail.queue(b"a@example.com", b"two@example.org", b"mx")
            self.assertEqual(first.get(b"queue"), 0.0)
            self.assertEqual(second.get(b"queue"), 1.0)
            self.assertNotEqual(first.get(b"transaction"), second.get(b"transaction"))
            f["Accept"]()

        server = self.start({"eod": Program(eod)})
        replies = yield raw(server.port, ENVELOPE + b"Subject: s\r\n\r\nbody\r\n.\r\n", 5)
        self.assertEqual(codes(replies)[-1], 250)
        first, second = server.queue.messages
        self.assertEqual(first.recipients[0]["metadata"], {"k": "v"})
        self.assertTrue(first.recipients[0]["hold"])
        self.assertEqual(first.recipients[0]["jobid"], "j1")
        self.assertEqual(stored(first), b"Subject: s\r\n\r\nbody\r\n")
        self.assertIn(b"X-Scanned: yes\r\n", stored(second))
        self.assertEqual(second.recipients[0]["index"], 1)

    @defer.inlineCallbacks
    def test_auth_custom_mechanism_with_reply(self):
        def auth(v, f):
            args = v["arguments"]
            if args.get(b"state") == 0.0:
                f["Reply"](b"challenge")
            if args.get(b"response") == b"answer":
                f["Accept"](arr(username=b"bob"))
            f["Reject"]()

        server = self.start({"auth": Program(auth)}, auth_tls_required=False, auth_mechanisms=("X-CUSTOM",))
        import base64

        replies = yield raw(
            server.port, [(b"EHLO x\r\nAUTH X-CUSTOM\r\n", 2), (base64.b64encode(b"answer") + b"\r\n", 1)], 0
        )
        self.assertEqual(codes(replies), [220, 250, 334, 235])
        self.assertEqual(replies[2], b"334 " + base64.b64encode(b"challenge") + b"\r\n")

    @defer.inlineCallbacks
    def test_proxy_phase_rewrites_and_replies(self):
        def proxy(v, f):
            command = v["arguments"].get(b"command")
            if command.startswith(b"XCLIENT"):
                f["Reply"](b"xclient ok", arr(reply_codes=arr(code=220.0)))
            f["Pass"](arr(command=b"NOOP"))

        server = self.start({"proxy": Program(proxy)})
        replies = yield raw(server.port, b"XCLIENT ADDR=1.2.3.4\r\nFOO\r\n", 2)
        self.assertEqual(replies[1:], [b"220 2.0.0 xclient ok\r\n", b"250 2.0.0 Ok\r\n"])

    @defer.inlineCallbacks
    def test_pending_running_finished_counters(self):
        server = self.start({"helo": Program(lambda v, f: None)})
        yield raw(server.port, b"HELO a\r\nHELO b\r\n", 2)
        self.assertEqual(self.stats.counter("servers[0].scripts.helo.finished").value, 2)
        self.assertEqual(self.stats.counter("servers[0].scripts.helo.pending").value, 0)
        self.assertEqual(self.stats.counter("servers[0].scripts.helo.running").value, 0)
