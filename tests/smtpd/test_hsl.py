"""
Hook scripts in HSL, compiled from a running configuration and run by a
real server on the script pool: the embedded default's scripts, each
hook's decisions and reply codes, script errors, time limits, and
scripts that do not compile.
"""

import base64

from twisted.internet import defer, reactor
from twisted.trial import unittest

from halon.config.embedded import EOD_HOOK, RCPTTO_HOOK
from halon.config.errors import ConfigError
from halon.smtpd.hsl import HSLHooksFactory
from halon.smtpd.scriptpool import ScriptPool
from halon.stats import Stats
from tests.smtpd.helpers import MESSAGE, client, codes, raw, settings, start_server, stored

ENVELOPE = b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"


def app_with(**scripts):
    """A running configuration with one server whose phases run the given scripts."""
    hooks = {phase: [{"id": phase, "data": data}] for phase, data in scripts.items()}
    return (
        {"servers": [{"id": "default", "phases": {p: {"hook": p} for p in scripts}}], "scripting": {"hooks": hooks}},
        {"id": "default", "phases": {p: {"hook": p} for p in scripts}},
    )


class HSLHookTests(unittest.TestCase):
    def start(self, time_limit=10.0, server_settings=None, **scripts):
        app, app_server = app_with(**scripts)
        pool = ScriptPool(reactor, 4, Stats(), "servers[0].scripts", time_limit)
        self.addCleanup(pool.stop)
        factory = HSLHooksFactory(reactor)
        hooks = factory(app, app_server, 0, pool)(None)
        return start_server(self, server_settings or settings(transport="mx"), hooks=hooks)

    @defer.inlineCallbacks
    def test_the_embedded_default_scripts(self):
        server = self.start(rcptto=RCPTTO_HOOK, eod=EOD_HOOK)
        refused = yield client(server.port, lambda s: s.sendmail("a@example.com", ["b@example.org", "c@localhost"], MESSAGE))
        self.assertEqual(refused, {})
        [message] = server.queue.messages
        self.assertEqual([(r["recipient"], r["transportid"]) for r in message.recipients], [("b@example.org", "mx"), ("c@localhost", "mx")])
        self.assertEqual(stored(message), MESSAGE)

    @defer.inlineCallbacks
    def test_connect_reject_with_reason(self):
        server = self.start(connect='if ($arguments["remoteip"] == "127.0.0.1") Reject("not you");')
        replies = yield raw(server.port, b"", 0, banner=False, closed=True)
        self.assertEqual(replies, [b"521 5.7.1 not you\r\n", b""])

    @defer.inlineCallbacks
    def test_decisions_and_reply_codes_per_phase(self):
        server = self.start(
            helo='if ($arguments["host"] == "bad") Defer(); Accept();',
            mailfrom='if ($arguments["address"]["localpart"] == "spam") Reject("go away", ["reply_codes" => ["code" => 550, "enhanced" => [5, 7, 26]]]);',
            rcptto='if ($arguments["recipient"] == "x@example.org") Accept(["transportid" => "other", "reason" => "fine"]); Reject();',
            eod='Reject(["line one", "line two"]);',
        )
        replies = yield raw(
            server.port,
            b"EHLO bad\r\nEHLO good\r\nMAIL FROM:<spam@b.c>\r\nMAIL FROM:<ok@b.c>\r\nRCPT TO:<y@example.org>\r\n"
            b"RCPT TO:<x@example.org>\r\nDATA\r\nbody\r\n.\r\n",
            8,
        )
        self.assertEqual(codes(replies), [220, 450, 250, 550, 250, 554, 250, 354, 550])
        self.assertEqual(replies[3], b"550 5.7.26 go away\r\n")
        self.assertEqual(replies[6], b"250 2.1.5 fine\r\n")
        self.assertEqual(replies[8], b"550-5.7.1 line one\r\n550 5.7.1 line two\r\n")

    @defer.inlineCallbacks
    def test_eod_sees_the_message_and_queues_with_metadata(self):
        server = self.start(
            eod="""
            $mail = $arguments["mail"];
            $mail->addHeader("X-Subject-Was", $mail->getHeader("subject"));
            $id = $mail->queue($transaction["senderaddress"], "rcpt@example.net", "mx", ["metadata" => ["score" => "3"]]);
            Accept(["reason" => "queued as " . $id["transaction"]]);
            """
        )
        replies = yield raw(server.port, ENVELOPE + MESSAGE + b".\r\n", 5)
        self.assertEqual(codes(replies)[-1], 250)
        [message] = server.queue.messages
        self.assertIn(message.uuid.encode(), replies[-1])
        self.assertEqual(message.recipients[0]["recipient"], "rcpt@example.net")
        self.assertEqual(message.recipients[0]["metadata"], {"score": "3"})
        self.assertIn(b"X-Subject-Was: hi\r\n", stored(message))

    @defer.inlineCallbacks
    def test_auth_script(self):
        server = self.start(
            server_settings=settings(auth_tls_required=False),
            auth='if ($arguments["username"] == "user" and $arguments["password"] == "pw") Accept(); Reject();',
        )
        good = base64.b64encode(b"\0user\0pw")
        bad = base64.b64encode(b"\0user\0nope")
        replies = yield raw(server.port, b"EHLO x\r\nAUTH PLAIN " + bad + b"\r\nAUTH PLAIN " + good + b"\r\n", 3)
        self.assertEqual(codes(replies), [220, 250, 535, 235])

    @defer.inlineCallbacks
    def test_script_error_defers_with_the_default_reply(self):
        server = self.start(rcptto='$x = ["a"]; $y = $x["a"]["b"]["c"]; throw "broken";')
        replies = yield raw(server.port, ENVELOPE[:-6], 3)
        self.assertEqual(replies[-1], b"450 4.7.1 Recipient deferred, try again later\r\n")

    @defer.inlineCallbacks
    def test_script_past_its_time_limit_defers(self):
        server = self.start(time_limit=0.3, mailfrom="while (true) { }")
        replies = yield raw(server.port, b"HELO x\r\nMAIL FROM:<a@b.c>\r\nNOOP\r\n", 3)
        self.assertEqual(codes(replies), [220, 250, 450, 250])

    @defer.inlineCallbacks
    def test_context_is_kept_between_hooks(self):
        server = self.start(connect='$context = ["n" => 41];', helo='Reject("n is " . ($context["n"] + 1));')
        replies = yield raw(server.port, b"HELO x\r\n", 1)
        self.assertEqual(replies[1], b"554 5.7.1 n is 42\r\n")

    def test_a_script_that_does_not_compile_refuses_the_configuration(self):
        app, app_server = app_with(rcptto="Accept(")
        with self.assertRaises(ConfigError) as caught:
            HSLHooksFactory(reactor)(app, app_server, 0, None)
        self.assertIn("servers[0].phases.rcptto.hook", str(caught.exception))

    def test_a_missing_hook_refuses_the_configuration(self):
        app, app_server = app_with(rcptto="Accept();")
        app_server["phases"]["eod"] = {"hook": "nothere"}
        with self.assertRaises(ConfigError) as caught:
            HSLHooksFactory(reactor)(app, app_server, 0, None)
        self.assertIn("no eod hook with id nothere", str(caught.exception))

    def test_one_host_state_across_configurations_each_with_its_files(self):
        """A reload (or live stage) reads its own files; the running one keeps its own; memory is shared."""
        factory = HSLHooksFactory(reactor)
        first, app_server = app_with(rcptto="Accept();")
        first["scripting"]["files"] = [{"id": "list.txt", "data": "one"}]
        second, _ = app_with(rcptto="Accept();")
        second["scripting"]["files"] = [{"id": "list.txt", "data": "two"}]
        host = factory.host_for(first)
        host.shared_state("memory", dict)["kept"] = True
        other = factory.host_for(second)
        self.assertEqual(other.read_file("list.txt"), b"two")
        self.assertEqual(host.read_file("list.txt"), b"one")
        self.assertTrue(other.shared_state("memory", dict)["kept"])
        self.assertIs(other.cache_store(), host.cache_store())
