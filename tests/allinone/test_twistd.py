"""
`twistd -n halon`: every daemon in one process on the embedded default,
as `make run` starts it, checked from outside as an operator would.
"""

import glob
import json
import os
import re
import smtplib
import socket
import stat

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, threads
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from halon.control import api
from halon.control.client import ControlClient
from halon.rated.protocol import RateClient
from tests.allinone.helpers import MESSAGE, Workdir

_METRICS = re.compile(rb"metrics on (http://127\.0\.0\.1:\d+/metrics)")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class AllInOneTests(unittest.TestCase):
    def setUp(self):
        self.work = Workdir(self)

    @defer.inlineCallbacks
    def test_everyDaemonServes(self):
        """
        One process takes mail, answers rate() and halonctl, exports
        metrics and logs JSON lines; sockets and files have the documented
        modes; SIGTERM stops it cleanly.
        """
        log_path = os.path.join(self.work.path, "var", "log", "halon.json")

        def environment(conf):
            conf["environment"]["metrics"] = {"port": 0, "definitions": [{"name": "t_hist", "type": "histogram"}]}
            conf["environment"]["logging"] = {"json": log_path}

        self.work.edit("smtpd", environment)

        def count_in_eod(app):
            eod = app["scripting"]["hooks"]["eod"][0]
            eod["data"] = 'metrics_increment("received", ["via" => "eod"]);\n' + eod["data"]

        self.work.edit("smtpd-app", count_in_eod)
        process = self.work.start()
        port = yield process.listening

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                return smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

        refused = yield threads.deferToThread(send)
        self.assertEqual(refused, {})
        [message] = self.work.spooled().values()
        self.assertEqual(message.read_message(), MESSAGE)

        client = RateClient(os.path.join(self.work.run, "rated.sock"))
        self.addCleanup(client.close)
        hits = yield threads.deferToThread(lambda: [client.rate(b"ns", b"e", 2, 60) for _ in range(3)])
        self.assertEqual(hits, [True, True, False])

        # Sockets: control sockets 0660 for the staff group, IPC 0660, dlpd's 0600.
        controls = glob.glob(os.path.join(self.work.run, "*.ctl"))
        self.assertEqual(len(controls), 3, controls)
        for path in controls:
            self.assertEqual(mode(path), 0o660, path)
        self.assertEqual(mode(os.path.join(self.work.run, "rated.sock")), 0o660)
        self.assertEqual(mode(os.path.join(self.work.run, "httprd.sock")), 0o660)
        self.assertEqual(mode(os.path.join(self.work.run, "dlpd.sock")), 0o600)
        # umask 0027 (Workdir made the folders under it too): nothing is open to others.
        for folder, dirs, files in os.walk(os.path.join(self.work.path, "var")):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if not os.path.islink(path):  # a lock (a symlink) has no mode of its own
                    self.assertEqual(os.stat(path).st_mode & 0o007, 0, path)

        for program in ("smtpd", "rated", "dlpd"):
            names = yield threads.deferToThread(self.process_stats, api.PROGRAMS[program])
            self.assertIn("rated.requests", names, program)

        url = _METRICS.search(process.output).group(1)
        response = yield Agent(self._reactor()).request(b"GET", url)
        body = yield readBody(response)
        families = list(text_string_to_metric_families(body.decode()))
        samples = {s.name: s.value for f in families for s in f.samples}
        self.assertEqual(samples["halon_rated_requests"], 3)
        self.assertIn("halon_dlpd_rules", samples)
        self.assertIn(("t_hist", "histogram"), [(f.name, f.type) for f in families])
        received = [s for f in families for s in f.samples if s.name == "received_total"]
        self.assertEqual([(s.labels, s.value) for s in received], [({"via": "eod"}, 1)])

        process.signal("TERM")
        status = yield process.ended
        # twistd ends with the signal it was stopped by, once it has shut down.
        self.assertIn((status, process.signalled), [(0, None), (None, 15)])
        self.assertIn(b"Server Shut Down.", process.output)
        self.assertNotIn(b"Traceback", process.output)
        with open(log_path) as f:
            records = [json.loads(line) for line in f]
        self.assertIn("Starting Halon (0.1.0)", [r["message"] for r in records])
        self.assertTrue(all({"time", "level", "namespace", "message"} <= set(r) for r in records))
        [received] = [r for r in records if r.get("action") == "RECEIVED"]
        self.assertEqual(
            (received["queueid"], received["sender"], received["recipients"], received["remoteip"]),
            (message.uuid, "a@example.com", ["b@example.org"], "127.0.0.1"),
        )

    @defer.inlineCallbacks
    def test_hangupReloadsAndReopens(self):
        """
        SIGHUP reloads every daemon's running configuration, keeping the one
        in use when a file has problems, and reopens the log files.
        """
        log_path = os.path.join(self.work.path, "var", "log", "halon.json")
        self.work.edit("smtpd", lambda c: c["environment"].update(logging={"json": log_path}))
        process = self.work.start()
        yield process.expect(rb"messages loaded")
        self.work.edit("rated-app", lambda c: c.update(peers=5))
        os.rename(log_path, log_path + ".1")
        process.signal("HUP")
        yield process.expect(rb"reload dlpd: done")
        yield process.expect(rb"reload smtpd: done")
        refused = yield process.expect(rb"reload rated: refused, running configuration kept: ([^\n]*)")
        self.assertIn(b"rated-app.yaml", refused.group(1))
        port = int(re.search(rb"listening on 127\.0\.0\.1:(\d+)", process.output).group(1))

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                return smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

        self.assertEqual((yield threads.deferToThread(send)), {})
        with open(log_path) as f:
            messages = [json.loads(line)["message"] for line in f]
        self.assertIn("reload smtpd: done", messages)

    @defer.inlineCallbacks
    def test_scriptsReachTheDaemons(self):
        """A hook's rate() counts in rated and its dlp() scans in dlpd, both in this one process."""
        hook = (
            '$first = rate("t", "k", 1, 60);\n'
            '$second = rate("t", "k", 1, 60);\n'
            '$scan = dlp($arguments["mail"]);\n'
            '$names = [];\n'
            'foreach ($scan["result"] as $hit) $names[] = $hit["name"];\n'
            'Reject(array_join([$first ? "yes" : "no", $second ? "yes" : "no", array_join($names, ",")], " "));\n'
        )
        self.work.edit("smtpd-app", lambda c: c["scripting"]["hooks"]["eod"][0].update(data=hook))
        self.work.edit("dlpd-app", lambda c: c.update(rules=[{"id": "FALCON", "keywords": ["Project Falcon"]}]))
        process = self.work.start()
        port = yield process.listening

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                try:
                    smtp.sendmail("a@example.com", ["b@example.org"], b"Subject: plans\r\n\r\nAbout Project Falcon.\r\n")
                except smtplib.SMTPDataError as e:
                    return e.smtp_code, e.smtp_error
                return 250, b""

        code, text = yield threads.deferToThread(send)
        self.assertEqual((code, text.split(b" ", 1)[-1]), (550, b"yes no FALCON"))

    def process_stats(self, socket_name):
        """The counter names a control socket's process-stats answers, as halonctl asks."""
        request = api.CALLS["ProcessStats"].request_class()()
        with ControlClient(os.path.join(self.work.run, socket_name), timeout=10) as client:
            return [stat.name for stat in client.call("ProcessStats", request).stats]

    def _reactor(self):
        from twisted.internet import reactor

        return reactor

    @defer.inlineCallbacks
    def test_aBadFileStopsTheStart(self):
        """A problem in any daemon's file stops the whole start, naming the file and the field."""
        self.work.edit("rated", lambda c: c.update(bogus=1))
        process = self.work.start()
        process.listening.addErrback(lambda f: None)
        status = yield process.ended
        self.assertEqual(status, 1)
        self.assertIn(b"halon: Could not load configuration: ", process.output)
        self.assertIn(b"rated.yaml: bogus", process.output)
        self.assertEqual(glob.glob(os.path.join(self.work.run, "*")), [])

    @defer.inlineCallbacks
    def test_notAnOpenRelay(self):
        """
        The default lets this machine relay and nobody else: a client
        elsewhere (its address carried by a PROXY header from loopback) is
        refused a remote recipient.
        """
        self.work.edit("smtpd", lambda c: c["servers"][0].update(proxyprotocol=["127.0.0.1"]))
        process = self.work.start()
        port = yield process.listening

        def converse(proxy):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                f = s.makefile("rb")
                s.sendall(b"PROXY TCP4 %s 127.0.0.1 40000 25\r\n" % proxy)
                replies = [f.readline()]
                for command in (b"EHLO client.example", b"MAIL FROM:<spammer@example.net>", b"RCPT TO:<victim@example.com>"):
                    s.sendall(command + b"\r\n")
                    line = f.readline()
                    while line[3:4] == b"-":
                        line = f.readline()
                    replies.append(line)
                s.sendall(b"QUIT\r\n")
                return replies[-1]

        outside = yield threads.deferToThread(converse, b"192.0.2.10")
        self.assertEqual(outside[:1], b"5", outside)
        local = yield threads.deferToThread(converse, b"127.0.0.1")
        self.assertEqual(local[:3], b"250", local)
