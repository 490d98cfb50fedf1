"""
Which hook scripts run on the reactor thread (L{halon.smtpd.cheap}), and
that they do so through the hooks layer with the same results, while the
others keep running on the pool with its time limit.
"""

import threading

from twisted.internet import defer, reactor
from twisted.trial import unittest

from halon.hsl.host import Host
from halon.smtpd.cheap import runs_inline
from halon.smtpd.hsl import HSLHooks
from halon.smtpd.scriptpool import ScriptPool
from halon.stats import Stats
from tests.smtpd.helpers import codes, raw, settings, start_server

ENVELOPE = b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"


class RunsInlineTests(unittest.TestCase):
    def test_short_scripts_with_listed_functions(self):
        for source in (
            'if ($arguments["remoteip"] == "192.0.2.1") Reject(); Accept();',
            '$d = str_lower($arguments["address"]["domain"] ?? ""); if (array_includes($d, ["a.test"])) Accept(); Reject("no");',
            'foreach ($transaction["recipients"] as $r) $arguments["mail"]->queue($transaction["senderaddress"], $r["address"], $r["transportid"]); Accept();',
            'switch ($x) { case 1: echo "one"; default: Defer(); }',
            'try { throw "x"; } catch ($e) { Reject($e); }',
            "",
        ):
            self.assertTrue(runs_inline(source), source)

    def test_scripts_that_may_wait_or_run_long_go_to_the_pool(self):
        for source in (
            "forever {}",
            "while (true) {}",
            "for ($i = 0; $i < 10; $i++) {}",
            "function f() { return f(); } f();",
            '$f = function () { return 1; }; $f();',
            'sleep(1);',
            'rate("ns", "e", 1, 1);',
            'http("http://127.0.0.1/");',
            'dns_query("example.com");',
            'if ("a" =~ #/a+/) Accept();',
            'include "other";',
            'import { x } from "other";',
            "cache [] str_lower(\"A\");",
            'barrier "x" { Accept(); }',
            'class C { } $c = C();',
            '$arguments["mail"]->send();',
            "str_repeat(\"x\", 1e9);",
            "Accept(",
        ):
            self.assertFalse(runs_inline(source), source)


class Thread:
    """A stand-in program recording the thread it ran on, then accepting."""

    def __init__(self):
        self.threads = []

    def run(self, host, variables, functions):
        self.threads.append(threading.current_thread())
        return variables


class InlineHooksTests(unittest.TestCase):
    def start(self, programs, inline):
        self.stats = Stats()
        pool = ScriptPool(reactor, 4, self.stats, "servers[0].scripts", 5.0)
        self.addCleanup(pool.stop)
        hooks = HSLHooks(programs, pool, Host(), inline=inline)
        return start_server(self, settings(), hooks=hooks)

    @defer.inlineCallbacks
    def test_inline_programs_run_on_the_reactor_thread_the_others_on_the_pool(self):
        cheap, other = Thread(), Thread()
        server = self.start({"connect": cheap, "helo": other, "mailfrom": cheap}, frozenset([cheap]))
        replies = yield raw(server.port, b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n", 2)
        self.assertEqual(codes(replies), [220, 250, 250])
        main = threading.current_thread()
        self.assertEqual(cheap.threads, [main, main])
        self.assertEqual(len(other.threads), 1)
        self.assertIsNot(other.threads[0], main)
        self.assertEqual(self.stats.counter("servers[0].scripts.connect.finished").value, 1)
        self.assertEqual(self.stats.counter("servers[0].scripts.helo.finished").value, 1)
