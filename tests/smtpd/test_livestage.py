"""
Live stage (blue-green testing, seeds/002 §3.2.3): the real `halonctl`
console script against a running smtpd's Unix control socket starts a
staged smtpd-app.yaml (from a file and from /dev/stdin), shows its status
in the manual's form and cancels it; real smtplib connections show which
configuration answered them (its banner and its RCPT hook); the stage's
time runs on a task.Clock and it ends by itself.
"""

import os
import smtplib

from twisted.internet import reactor, task, threads
from twisted.trial import unittest

from halon.smtpd import tap
from halon.smtpd.control import control_service
from halon.smtpd.envelope import Session
from halon.smtpd.hsl import HSLHooksFactory
from halon.smtpd.livestage import LiveStageError, LiveStages
from halon.smtpd.service import SMTPDService
from halon.stats import Stats
from tests.control.helpers import HALONCTL, _Collect, clean_environ, halonctl, short_tempdir
from tests.smtpd.helpers import MESSAGE

STARTUP = """\
servers:
  - id: default
    listeners:
      - port: 0
        address: 127.0.0.1
  - id: other
    listeners:
      - port: 0
        address: 127.0.0.1
environment:
  appconf: {folder}/smtpd-app.yaml
  spool:
    path: {folder}/spool
  controlsocket:
    path: {folder}/smtpd.ctl
"""

SERVER = """\
  - id: {id}
    hostname: mx.test
    greeting: {greeting}
    transport: mx
    phases:
      connect:
        remoteptr: false
      rcptto:
        hook: rcpt
      eod:
        hook: eod
"""

APP = """\
version: "6.0"
servers:
{servers}transportgroups:
  - id: default
    transports:
      - id: mx
scripting:
  timeout: {timeout}
  files:
    - id: name.txt
      data: {name}
  hooks:
    rcptto:
      - id: rcpt
        data: |
          {rcpt}
    eod:
      - id: eod
        data: |
          {eod}
"""

QUEUE_ALL = (
    'foreach ($transaction["recipients"] as $r) '
    '$arguments["mail"]->queue($transaction["senderaddress"], $r["address"], $r["transportid"]); '
    'Accept(["reason" => "queued by %s"]);'
)


def app_yaml(name, rcpt=None, timeout=30, greeting=None, eod=None):
    """A running configuration whose banner and replies name it (C{name}); hooks are one line each."""
    servers = "".join(SERVER.format(id=i, greeting=greeting or "ESMTP " + name) for i in ("default", "other"))
    rcpt = rcpt or 'Accept(["reason" => "%s config"]);' % (name,)
    return APP.format(servers=servers, rcpt=rcpt, eod=eod or QUEUE_ALL % (name,), timeout=timeout, name=name)


def start_smtpd(testcase, app, clock=None):
    """
    smtpd with its control socket, in this process on real sockets: the
    service, and the folder its files and control socket are in.
    """
    folder = short_tempdir(testcase)
    config = os.path.join(folder, "smtpd.yaml")
    with open(config, "w") as f:
        f.write(STARTUP.format(folder=folder))
    with open(os.path.join(folder, "smtpd-app.yaml"), "w") as f:
        f.write(app)
    startup, load_app = tap.load(config)
    stats = Stats()
    hooks = HSLHooksFactory(reactor)
    service = SMTPDService(reactor, startup, load_app, stats, hooks_factory=hooks, clock=clock)
    hooks.services["smtpd"] = service
    control_service(reactor, startup, service, stats).setServiceParent(service)
    # privilegedStartService sets the process umask (environment.umask): give the next test its own back.
    umask = os.umask(0o022)
    os.umask(umask)
    testcase.addCleanup(os.umask, umask)
    service.privilegedStartService()
    service.startService()
    testcase.addCleanup(service.stopService)
    service.folder = folder
    return service


def port_of(service, serverid="default"):
    index = [s.settings.serverid for s in service.servers].index(serverid)
    return service.ports[index].getHost().port


class _BannerSMTP(smtplib.SMTP):
    """smtplib.SMTP that keeps the banner text the server greeted with."""

    def connect(self, host="localhost", port=0, source_address=None):
        code, text = smtplib.SMTP.connect(self, host, port, source_address)
        self.connect_banner = "%d %s" % (code, text.decode())
        return code, text


def connect(port):
    return threads.deferToThread(_BannerSMTP, "127.0.0.1", port, timeout=10)


async def halonctl_stdin(data, *args):
    """halonctl as a process with C{data} on its standard input."""

    class Feed(_Collect):
        def connectionMade(self):
            self.transport.write(data.encode("utf-8"))
            self.transport.closeStdin()

    argv = [HALONCTL] + [str(a) for a in args]
    feed = Feed()
    reactor.spawnProcess(feed, HALONCTL, argv, env=clean_environ())
    out, err, code = await feed.done
    return out.decode("utf-8"), err.decode("utf-8"), code


class LiveStageEndToEndTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.smtpd = start_smtpd(self, app_yaml("live"), clock=self.clock)
        self.socket = os.path.join(self.smtpd.folder, "smtpd.ctl")
        self.port = port_of(self.smtpd)

    def ctl(self, *args):
        return halonctl(*(args + ("--socket", self.socket)))

    async def session(self, port=None):
        """One connection with smtplib: its banner and its RCPT reply."""

        def run():
            with _BannerSMTP("127.0.0.1", port or self.port, timeout=10) as smtp:
                smtp.ehlo("client.test")
                smtp.mail("a@example.com")
                code, text = smtp.rcpt("b@example.org")
                return smtp.connect_banner, "%d %s" % (code, text.decode())

        return await threads.deferToThread(run)

    async def test_start_from_stdin_status_and_the_end_of_its_time(self):
        """The manual's example: staged for matching clients, `ID: N connections(s), X/Y runtime`, ended by time."""
        self.assertEqual(await self.session(), ("220 mx.test ESMTP live", "250 2.1.5 live config"))
        out, err, code = await halonctl_stdin(
            app_yaml("green"),
            "config", "livestage", "start", "--id", "t1", "--file", "/dev/stdin",
            "--remoteip", "127.0.0.0/8", "--time", "3600", "--socket", self.socket,
        )  # fmt: skip
        self.assertEqual((out, err, code), ("", "", 0))
        self.assertEqual(await self.session(), ("220 mx.test ESMTP green", "250 2.1.5 green config"))
        self.clock.advance(30)
        self.assertEqual(await self.session(port_of(self.smtpd, "other")), ("220 mx.test ESMTP green", "250 2.1.5 green config"))
        self.assertEqual(await self.ctl("config", "livestage", "status"), ("t1: 2 connections(s), 30/3600 runtime\n", "", 0))

        # A connection the stage took keeps its configuration after the stage ends.
        kept = await connect(self.port)
        self.addCleanup(kept.close)
        self.clock.advance(3570)
        self.assertEqual(await self.ctl("config", "livestage", "status"), ("No live stage running\n", "", 0))
        self.assertEqual(await self.session(), ("220 mx.test ESMTP live", "250 2.1.5 live config"))

        def send():
            refused = kept.sendmail("a@example.com", ["b@example.org"], MESSAGE)
            return kept.connect_banner, refused, kept.noop()

        banner, refused, _ = await threads.deferToThread(send)
        self.assertEqual((banner, refused), ("220 mx.test ESMTP green", {}))
        self.assertEqual(len(self.smtpd.sink.messages), 1)

    async def test_conditions_choose_the_connections(self):
        """--serverid and --remoteip leave other connections on the live configuration; --probability 0 takes none."""
        path = os.path.join(self.smtpd.folder, "green.yaml")
        with open(path, "w") as f:
            f.write(app_yaml("green"))
        start = ("config", "livestage", "start", "--file", path)
        self.assertEqual(await self.ctl(*start, "--id", "s", "--serverid", "other"), ("", "", 0))
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP live")
        self.assertEqual((await self.session(port_of(self.smtpd, "other")))[0], "220 mx.test ESMTP green")
        self.assertEqual(await self.ctl("config", "livestage", "status"), ("s: 1 connections(s), 0 runtime\n", "", 0))
        self.assertEqual(await self.ctl("config", "livestage", "cancel"), ("", "", 0))

        self.assertEqual(await self.ctl(*start, "--id", "r", "--remoteip", "192.0.2.0/24", "--remoteip", "::1"), ("", "", 0))
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP live")
        self.assertEqual(await self.ctl("config", "livestage", "cancel"), ("", "", 0))

        self.assertEqual(await self.ctl(*start, "--id", "p", "--probability", "0"), ("", "", 0))
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP live")
        self.assertEqual(await self.ctl("config", "livestage", "cancel"), ("", "", 0))

        self.assertEqual(await self.ctl(*start, "--id", "c", "--probability", "1", "--count", "2"), ("", "", 0))
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP green")
        self.assertEqual(await self.ctl("config", "livestage", "status"), ("c: 1/2 connections(s), 0 runtime\n", "", 0))
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP green")
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP live")
        self.assertEqual(await self.ctl("config", "livestage", "status"), ("No live stage running\n", "", 0))

    async def test_refused_configurations_and_requests(self):
        """A staged configuration is checked as a reload is; one stage at a time; cancel needs one."""
        out, err, code = await halonctl_stdin(
            app_yaml("bad", rcpt="Accept("),
            "config", "livestage", "start", "--id", "t2", "--file", "/dev/stdin", "--socket", self.socket,
        )  # fmt: skip
        self.assertEqual((out, code), ("", 1))
        self.assertIn("livestage:t2", err)
        self.assertIn("rcptto", err)
        out, err, code = await halonctl_stdin(
            app_yaml("bad").replace("  - id: other\n", "  - id: another\n"),
            "config", "livestage", "start", "--id", "t2", "--file", "-", "--socket", self.socket,
        )  # fmt: skip
        self.assertEqual(code, 1)
        self.assertIn("other", err)
        self.assertEqual(await self.ctl("config", "livestage", "status"), ("No live stage running\n", "", 0))
        self.assertEqual((await self.session())[0], "220 mx.test ESMTP live")

        path = os.path.join(self.smtpd.folder, "green.yaml")
        with open(path, "w") as f:
            f.write(app_yaml("green"))
        out, err, code = await self.ctl("config", "livestage", "start", "--id", "t3", "--file", path, "--serverid", "nope")
        self.assertEqual(code, 1)
        self.assertIn("nope", err)
        self.assertEqual(await self.ctl("config", "livestage", "start", "--id", "t3", "--file", path), ("", "", 0))
        out, err, code = await self.ctl("config", "livestage", "start", "--id", "t4", "--file", path)
        self.assertEqual((out, code), ("", 1))
        self.assertIn("live stage t3 is running", err)
        self.assertEqual(await self.ctl("config", "livestage", "cancel"), ("", "", 0))
        out, err, code = await self.ctl("config", "livestage", "cancel")
        self.assertEqual((out, err, code), ("", "halonctl: no live stage is running\n", 1))

    async def test_a_reload_leaves_the_live_stage_alone(self):
        """The live configuration reloads under a live stage; the stage's connections still get the stage."""
        path = os.path.join(self.smtpd.folder, "green.yaml")
        with open(path, "w") as f:
            f.write(app_yaml("green"))
        self.assertEqual(await self.ctl("config", "livestage", "start", "--id", "t5", "--file", path, "--serverid", "other"), ("", "", 0))
        with open(os.path.join(self.smtpd.folder, "smtpd-app.yaml"), "w") as f:
            f.write(app_yaml("reloaded"))
        self.assertEqual(await self.ctl("config", "reload"), ("", "", 0))
        self.assertEqual(await self.session(), ("220 mx.test ESMTP reloaded", "250 2.1.5 reloaded config"))
        self.assertEqual(await self.session(port_of(self.smtpd, "other")), ("220 mx.test ESMTP green", "250 2.1.5 green config"))


    async def test_each_configuration_reads_its_own_files(self):
        """scripting.files of the staged configuration for its connections, the live one's for the others."""
        read = 'Accept(["reason" => "read " . File::read("name.txt")]);'
        with open(os.path.join(self.smtpd.folder, "smtpd-app.yaml"), "w") as f:
            f.write(app_yaml("live", rcpt=read))
        self.assertEqual(await self.ctl("config", "reload"), ("", "", 0))
        out, err, code = await halonctl_stdin(
            app_yaml("green", rcpt=read),
            "config", "livestage", "start", "--id", "t6", "--file", "/dev/stdin", "--serverid", "other", "--socket", self.socket,
        )  # fmt: skip
        self.assertEqual((out, err, code), ("", "", 0))
        for _ in range(2):
            self.assertEqual((await self.session())[1], "250 2.1.5 read live")
            self.assertEqual((await self.session(port_of(self.smtpd, "other")))[1], "250 2.1.5 read green")


class _Prepared:
    def __init__(self, *serverids):
        self.settings = {s: "settings of " + s for s in serverids}
        self.hooks = {s: (lambda session, s=s: "hooks of " + s) for s in serverids}


class LiveStagesTests(unittest.TestCase):
    """The choice of connections and the stage's life, on a task.Clock."""

    def setUp(self):
        self.clock = task.Clock()
        self.draws = []
        self.stages = LiveStages(self.clock, lambda text, name: text, lambda app: _Prepared("default", "other"), self.draws.pop)

    def choose(self, serverid="default", remoteip="127.0.0.1"):
        return self.stages.choose(Session(serverid, remoteip, 1000, "127.0.0.1", 25))

    def test_probability_draws_per_connection(self):
        self.stages.start("t", "app", probability=0.25)
        self.draws.extend([0.3, 0.2, 0.25, 0.9])
        self.assertIsNone(self.choose())
        self.assertIsNone(self.choose())
        self.assertEqual(self.choose(), ("settings of default", "hooks of default"))
        self.assertIsNone(self.choose())
        self.assertEqual(self.stages.current.connections, 1)

    def test_every_condition_must_hold(self):
        self.stages.start("t", "app", remoteips=["10.0.0.0/8", "2001:db8::/32"], serverids=["other"])
        self.assertIsNone(self.choose("default", "10.1.2.3"))
        self.assertIsNone(self.choose("other", "192.0.2.1"))
        self.assertEqual(self.choose("other", "10.1.2.3")[0], "settings of other")
        self.assertEqual(self.choose("other", "::ffff:10.9.9.9")[0], "settings of other")
        self.assertEqual(self.choose("other", "2001:db8::5")[0], "settings of other")

    def test_time_ends_it_and_cancel_stops_the_timer(self):
        stage = self.stages.start("t", "app", time=60)
        self.clock.advance(59)
        self.assertEqual(self.stages.runtime(stage), 59)
        self.assertIsNotNone(self.choose())
        self.clock.advance(1)
        self.assertIsNone(self.stages.current)
        self.assertIsNone(self.choose())
        self.stages.start("u", "app", time=60)
        self.assertTrue(self.stages.cancel())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.stages.cancel())

    def test_bad_conditions(self):
        for conditions, words in [
            ({"remoteips": ["300.1.1.1"]}, "remoteip"),
            ({"probability": 1.5}, "probability"),
            ({"time": 0}, "time"),
            ({"serverids": ["x"]}, "serverid: x"),
        ]:
            with self.assertRaises(LiveStageError) as caught:
                self.stages.start("t", "app", **conditions)
            self.assertIn(words, str(caught.exception))
        self.assertIsNone(self.stages.current)
        with self.assertRaises(LiveStageError):
            self.stages.start("", "app")
