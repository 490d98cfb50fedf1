"""
halonctl as a real process against a ControlService on the trial reactor:
process-stats, config reload, --json, --json-request, socket discovery,
and every way of failing (one line on stderr, no traceback).
"""

import json
import os
import socket
import sys

from google.protobuf import json_format
from twisted.trial import unittest

from halon.control import handlers
from halon.control.commands import ControlError
from halon.control.pb import control_pb2, smtpd_pb2
from halon.control.service import Paged
from halon.stats import Stats
from tests.control.helpers import HALONCTL, Answers, clean_environ, halonctl, serve, short_tempdir


def seed_stats():
    stats = Stats()
    stats.gauge("process.pid", lambda: 48535)
    stats.gauge("process.runtime", lambda: 3638)
    stats.counter("queue.freeze.update.size").increment(6)
    stats.counter("queue.freeze.update.pending").increment(20)
    stats.gauge("servers[0].serverid", lambda: "inbound")
    return stats


class ProcessStatsTests(unittest.TestCase):
    def setUp(self):
        self.stats = seed_stats()
        self.control = serve(self, {"ProcessStats": handlers.process_stats(self.stats)})

    async def test_nameValueLines(self):
        """process-stats prints one name: value line per counter, in order, and nothing on stderr."""
        out, err, code = await halonctl("process-stats", "--socket", self.control.path)
        self.assertEqual(
            out,
            "process.pid: 48535\n"
            "process.runtime: 3638\n"
            "queue.freeze.update.size: 6\n"
            "queue.freeze.update.pending: 20\n"
            "servers[0].serverid: inbound\n",
        )
        self.assertEqual((err, code), ("", 0))

    async def test_json(self):
        """--json prints the response through protobuf's JSON mapping, and it parses back to the same message."""
        out, err, code = await halonctl("process-stats", "--json", "--socket", self.control.path)
        self.assertEqual(code, 0, err)
        parsed = json_format.Parse(out, control_pb2.ProcessStatsResponse())
        self.assertEqual(parsed, handlers.process_stats(self.stats)(None))
        self.assertEqual(json.loads(out)["stats"][0], {"name": "process.pid", "number": 48535.0})

    async def test_socketFromEnvironment(self):
        """Without --socket, $HALON_CTL names smtpd's socket."""
        out, err, code = await halonctl("process-stats", env=clean_environ(HALON_CTL=self.control.path))
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith("process.pid: 48535\n"))

    async def test_socketUnderVarRunInTheCurrentFolder(self):
        """Without --socket or $HALON_CTL, ./var/run/halon/smtpd.ctl is used when it exists (the embedded setup)."""
        folder = short_tempdir(self)
        serve(self, {"ProcessStats": handlers.process_stats(Stats())}, path=os.path.join(folder, "var/run/halon/smtpd.ctl"))
        out, err, code = await halonctl("process-stats", cwd=folder)
        self.assertEqual((out, err, code), ("", "", 0))

class ImportTests(unittest.TestCase):
    def test_halonctlDoesNotImportTwisted(self):
        """halonctl's own run imports neither Twisted nor argparse (they would cost more than the whole call)."""
        import subprocess

        code = (
            "import sys; from halon.cli.halonctl import main; "
            "main(['queue', 'list', '--json-request', '--state', 'DEFER']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('twisted', 'argparse')))"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_environ())
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[-1], "[]")


class ConfigReloadTests(unittest.TestCase):
    def setUp(self):
        self.answers = Answers()
        self.answers.answers["ConfigReload"] = control_pb2.ConfigReloadResponse()
        self.control = serve(self, self.answers.handlers("ConfigReload"))

    async def test_success(self):
        """A reload the daemon accepts prints nothing and exits 0."""
        self.assertEqual(await halonctl("config", "reload", "--socket", self.control.path), ("", "", 0))
        self.assertEqual(len(self.answers.requests["ConfigReload"]), 1)

    async def test_refusedConfigPrintsTheDaemonsMessage(self):
        """A refused configuration prints the daemon's message on one line and exits 1."""
        message = "/etc/halon/smtpd-app.yaml: servers[0].listeners[0].port: 99999 is greater than 65535"
        self.answers.answers["ConfigReload"] = ControlError(message)
        out, err, code = await halonctl("config", "reload", "--socket", self.control.path)
        self.assertEqual((out, err, code), ("", "halonctl: %s\n" % (message,), 1))

    async def test_reloadHandlerWithARealProblem(self):
        """The ready reload handler turns the reload callable's exception into that line."""

        def reload():
            raise ValueError("rated-app.yaml: peers[0]: not host[:port]")

        control = serve(self, {"ConfigReload": handlers.reload("ConfigReload", reload)}, program="rated")
        out, err, code = await halonctl(
            "config", "reload", "--program", "rated", env=clean_environ(HALON_RATED_CTL=control.path)
        )
        self.assertEqual((out, err, code), ("", "halonctl: rated-app.yaml: peers[0]: not host[:port]\n", 1))

    async def test_programPicksTheSocket(self):
        """--program rated asks rated's socket (Halon's default name, queued.ctl) under ./var/run/halon, not smtpd's."""
        folder = short_tempdir(self)
        rated = Answers()
        rated.answers["ConfigReload"] = control_pb2.ConfigReloadResponse()
        serve(self, rated.handlers("ConfigReload"), path=os.path.join(folder, "var/run/halon/queued.ctl"))
        out, err, code = await halonctl("config", "reload", "--program", "rated", cwd=folder)
        self.assertEqual((out, err, code), ("", "", 0))
        self.assertEqual(len(rated.requests["ConfigReload"]), 1)
        self.assertNotIn("ConfigReload", self.answers.requests)


class FailureTests(unittest.TestCase):
    async def test_missingSocket(self):
        """A socket that does not exist: one line naming it, exit 1."""
        path = os.path.join(short_tempdir(self), "smtpd.ctl")
        out, err, code = await halonctl("process-stats", "--socket", path)
        self.assertEqual((out, code), ("", 1))
        self.assertEqual(err, "halonctl: %s: no such control socket (is the daemon running?)\n" % (path,))

    async def test_refusedConnection(self):
        """A socket file nobody listens on: one line naming it, exit 1."""
        path = os.path.join(short_tempdir(self), "smtpd.ctl")
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(path)
        dead.close()
        out, err, code = await halonctl("process-stats", "--socket", path)
        self.assertEqual((out, code), ("", 1))
        self.assertEqual(err, "halonctl: %s: connection refused (the daemon is not running)\n" % (path,))

    async def test_defaultSocketIsNamed(self):
        """With nothing configured the default /var/run/halon path is tried and named."""
        out, err, code = await halonctl("hsl", "rates", "list", cwd=short_tempdir(self))
        if os.path.exists("/var/run/halon/queued.ctl"):
            raise unittest.SkipTest("a rated is running on this machine")
        self.assertEqual(code, 1)
        self.assertEqual(err, "halonctl: /var/run/halon/queued.ctl: no such control socket (is the daemon running?)\n")

    async def test_callTheDaemonDoesNotImplement(self):
        """A command the daemon has no handler for prints which program lacks which command."""
        control = serve(self, {}, program="smtpd")
        out, err, code = await halonctl("hsl", "cache", "list", "--socket", control.path)
        self.assertEqual((out, err, code), ("", "halonctl: smtpd does not implement 'hsl cache list' (HSLCacheList)\n", 1))

    async def test_usageErrors(self):
        """Bad command lines exit 2 with the command named and a pointer to its help, never a traceback."""
        cases = [
            (["queue", "lst"], "halonctl queue: unknown command 'lst'"),
            (["queue", "list", "--bogus"], "halonctl queue list: unknown option --bogus"),
            (["queue", "list", "--age", ">soon"], "halonctl queue list: --age: '>soon' is not a number"),
            (["queue", "list", "--state", "LOST"], "halonctl queue list: --state: 'LOST' is not a state"),
            (["queue", "list", "--ts", "<yesterday"], "halonctl queue list: --ts: '<yesterday' is not an ISO 8601 time"),
            (["queue", "update", "--delete"], "halonctl queue update: choose the states to act on"),
            (["queue", "policy", "delete", "x"], "halonctl queue policy delete: ID: 'x' is not a whole number"),
            (["config", "reload", "--program", "httprd"], "halonctl config reload: --program: 'httprd' is not one of"),
            (["hsl", "memory", "store", "k", "not json"], "halonctl hsl memory store: VALUE must be JSON"),
        ]
        for argv, message in cases:
            out, err, code = await halonctl(*argv)
            self.assertEqual((out, code), ("", 2), argv)
            self.assertTrue(err.startswith(message), (argv, err))
            self.assertNotIn("Traceback", err)

    async def test_keyNotFound(self):
        """hsl memory fetch of a missing key says so and exits 1."""
        answers = Answers()
        answers.answers["HSLMemoryFetch"] = smtpd_pb2.HSLMemoryResponse(found=False)
        control = serve(self, answers.handlers("HSLMemoryFetch"))
        out, err, code = await halonctl("hsl", "memory", "fetch", "theanswer", "--socket", control.path)
        self.assertEqual((out, err, code), ("", "halonctl: theanswer: no such key\n", 1))


class JsonRequestTests(unittest.TestCase):
    async def test_requestIsPrintedNotSent(self):
        """--json-request prints the request as JSON and sends nothing (no daemon is needed)."""
        out, err, code = await halonctl(
            "queue", "update", "--age", ">3600", "--state", "DEFER", "--state", "ACTIVE", "--bounce",
            "--socket", "/nonexistent/smtpd.ctl", "--json-request",
        )  # fmt: skip
        self.assertEqual((err, code), ("", 0))
        self.assertEqual(
            json.loads(out),
            {"conditions": {"state": ["DEFER", "ACTIVE"], "age": [{"operator": "GT", "value": 3600.0}]}, "bounce": True},
        )

    async def test_everyLeafCommandHasIt(self):
        """Every command that makes a call accepts --json-request and prints a JSON object."""
        from halon.cli.halonctl import ROOT

        samples = {
            "queue update": ["--delete", "--all-states"],
            "queue policy add": ["--rate", "10/600"],
            "queue policy delete": ["1"],
            "queue suspend add": ["--remotemx", "mx.example.com"],
            "queue suspend delete": ["1"],
            "config livestage start": ["--id", "t1", "--file", HALONCTL],
            "hsl memory store": ["k", "1"],
            "hsl memory fetch": ["k"],
            "hsl memory delete": ["k"],
        }
        leaves, todo = [], [ROOT]
        while todo:
            command = todo.pop()
            todo += command.subcommands
            if command.call:
                leaves.append(command.words)
        self.assertEqual(len(leaves), 27)
        for words in leaves:
            out, err, code = await halonctl(*words.split() + samples.get(words, []) + ["--json-request"])
            self.assertEqual((err, code), ("", 0), words)
            self.assertIsInstance(json.loads(out), dict)


class PagedJsonTests(unittest.TestCase):
    async def test_pagedJsonIsOneDocument(self):
        """--json on an answer that arrives in many pages prints one JSON document equal to the merged response."""
        messages = [smtpd_pb2.QueueMessage(id="m%d:1" % i, recipient="r%d@example.com" % i, retrycount=i) for i in range(2000)]
        control = serve(
            self,
            {"QueueList": lambda request: Paged(smtpd_pb2.QueueListResponse(fields=["id"]), iter(messages))},
            page_bytes=4096,
        )
        out, err, code = await halonctl("queue", "list", "--json", "--socket", control.path)
        self.assertEqual(code, 0, err)
        merged = smtpd_pb2.QueueListResponse(fields=["id"], messages=messages)
        self.assertEqual(json_format.Parse(out, smtpd_pb2.QueueListResponse()), merged)
        self.assertEqual(json.loads(out)["messages"][5]["retrycount"], 5)


class HelpTests(unittest.TestCase):
    async def test_conditionsAsTheSeedShowsThem(self):
        """queue list -h shows the conditions, states and formats exactly as Halon's manual does."""
        out, err, code = await halonctl("queue", "list", "-h")
        self.assertEqual(code, 0)
        self.assertIn(SEED_CONDITIONS_HELP, out)

    async def test_everyCommandHasHelp(self):
        """--help works on every command and group, exits 0 and starts with its usage line."""
        from halon.cli.halonctl import ROOT

        todo = [ROOT]
        while todo:
            command = todo.pop()
            todo += command.subcommands
            out, err, code = await halonctl(*command.words.split() + ["--help"])
            self.assertEqual(code, 0, command.words)
            self.assertTrue(out.startswith(("Usage: halonctl " + command.words).rstrip() + " "), out[:80])


SEED_CONDITIONS_HELP = """Conditions:
--transportid               Filter on transport ID (repeatable) <string>
--jobid                     Filter on job ID (repeatable) <string>
--senderdomain              Filter on sender domain (repeatable) <domain>
--recipientdomain           Filter on recipient domain (repeatable) <domain>
--sender                    Filter on sender (repeatable) <address>
--recipient                 Filter on recipient (repeatable) <address>
--id                        Filter on ID (repeatable) <id>
--state                     Filter on state (repeatable) <state>
--retrycount                Filter on retry count (operators, repeatable) <number>
--retrydelay                Filter on next retry (operators, repeatable) <seconds>
--age                       Filter on age (operators, repeatable) <seconds>
--ts                        Filter on recevied time (operators, repeatable) <iso8601>
--metadata                  Filter on metadata <key=value>

Available states are:
queue:   ACTIVE, DEFER
working: SENDING, UNKNOWN
freeze:  HOLD, UPDATE

Number and date format:
operators: >, >=, <, <= and = (eg ">2020-01-01T01:02:03")
range:     .. (eg "10..20")
"""
