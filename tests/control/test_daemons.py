"""
halonctl against the daemons' real control sockets: rated's rate table,
the script engine's shared memory, who may connect (0660 and the group),
and `twistd halon` as a process, reloads refused with file, path and
reason while the old configuration keeps running.
"""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time

from twisted.internet import reactor, task, threads
from twisted.trial import unittest

from halon.control import handlers
from halon.hsl.stdlib.data import from_python
from halon.hsl.stdlib.memory import MemoryStore
from halon.rated import tap as rated_tap
from halon.stats import Stats
from tests.control.helpers import halonctl, serve, short_tempdir


class ClockedReactor:
    """The reactor, with the time of a task.Clock: rated's rate windows follow the test's clock, its sockets are real."""

    def __init__(self, clock):
        self._clock = clock

    def seconds(self):
        return self._clock.seconds()

    def __getattr__(self, name):
        return getattr(reactor, name)


class RatedTests(unittest.TestCase):
    """rated's own control socket, found as ./var/run/halon/queued.ctl from the folder halonctl runs in."""

    def setUp(self):
        self.folder = short_tempdir(self)
        run = os.path.join(self.folder, "var", "run", "halon")
        os.makedirs(run)
        self.app_path = os.path.join(self.folder, "rated-app.yaml")
        startup = {
            "environment": {
                "socket": {"path": os.path.join(run, "rated.sock")},
                "controlsocket": {"path": os.path.join(run, "queued.ctl")},
            }
        }
        self.stats = Stats()
        clock = task.Clock()
        self.rated = rated_tap.build(ClockedReactor(clock), startup, {}, self.stats, lambda: rated_tap.load_app(self.app_path))
        self.rated.startService()
        self.addCleanup(self.rated.stopService)
        # The seed's table: customer1 hit every 2 s from 12 s ago to 4 s ago, the others once 8 s ago.
        for second in range(0, 9, 2):
            if second == 4:
                self.rated.backend.rate(b"delivery-failures", b"customer0", 10, 60)
                self.rated.backend.rate(b"delivery-failures", b"customer10", 10, 60)
            self.rated.backend.rate(b"delivery-failures", b"customer1", 10, 60)
            clock.advance(2)
        clock.advance(2)

    def halonctl(self, *args):
        return halonctl(*args, cwd=self.folder)

    async def test_listAndClear(self):
        """hsl rates list draws the table of the seed; clear deletes what matches and says how many."""
        out, err, code = await self.halonctl("hsl", "rates", "list")
        self.assertEqual((err, code), ("", 0))
        self.assertEqual(
            out,
            "┌───────────────────┬────────────┬───────┬─────────────┬────────┬────────┬────────────┐\n"
            "│ Namespace         │ Entry      │ Count │ Local count │ Oldest │ Newest │ Rate (#/s) │\n"
            "├───────────────────┼────────────┼───────┼─────────────┼────────┼────────┼────────────┤\n"
            "│ delivery-failures │ customer0  │     1 │           1 │      8 │      8 │          0 │\n"
            "│ delivery-failures │ customer1  │     5 │           5 │     12 │      4 │      0.625 │\n"
            "│ delivery-failures │ customer10 │     1 │           1 │      8 │      8 │          0 │\n"
            "└───────────────────┴────────────┴───────┴─────────────┴────────┴────────┴────────────╯\n",
        )
        out, err, code = await self.halonctl("hsl", "rates", "list", "--entry", "customer1")
        self.assertEqual(len(out.splitlines()), 5)
        self.assertEqual(await self.halonctl("hsl", "rates", "clear", "--entry", "customer10"), ("1 entries deleted\n", "", 0))
        self.assertEqual([r[1] for r in self.rated.table.rows()], [b"customer0", b"customer1"])
        self.assertEqual(await self.halonctl("hsl", "rates", "clear"), ("2 entries deleted\n", "", 0))
        self.assertEqual(self.rated.table.rows(), [])

    async def test_listAsJson(self):
        """--json is the response message, each rate with every field."""
        import json

        out, err, code = await self.halonctl("hsl", "rates", "list", "--json", "--entry", "customer1")
        self.assertEqual(code, 0, err)
        self.assertEqual(
            json.loads(out),
            {"rates": [{"namespace": "delivery-failures", "entry": "customer1", "count": 5, "localcount": 5, "oldest": 12, "newest": 4, "rate": 0.625}]},
        )

    async def test_processStats(self):
        """process-stats --program rated asks rated's socket and prints its counters."""
        out, err, code = await self.halonctl("process-stats", "--program", "rated")
        self.assertEqual((err, code), ("", 0))
        self.assertIn("rated.entries: 3\n", out)
        self.assertIn("rated.hits.accepted: 7\n", out)

    async def test_reloadRefusesABadFile(self):
        """config reload --program rated validates rated-app.yaml: a bad peer is named by file, path and reason."""
        with open(self.app_path, "w") as f:
            f.write('peers:\n  - "mta2:port"\n  - {port: 5}\n')
        out, err, code = await self.halonctl("config", "reload", "--program", "rated")
        self.assertEqual((out, code), ("", 1))
        self.assertEqual(
            err,
            'halonctl: %s: peers[0]: bad port in "mta2:port"\n%s: peers[1].address: required field is missing\n'
            % (self.app_path, self.app_path),
        )
        with open(self.app_path, "w") as f:
            f.write("peers: []\n")
        self.assertEqual(await self.halonctl("config", "reload", "--program", "rated"), ("", "", 0))

    def test_socketIs0660(self):
        path = os.path.join(self.folder, "var", "run", "halon", "queued.ctl")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o660)


class MemoryTests(unittest.TestCase):
    """hsl memory on a script host's shared memory: what halonctl stores, scripts read, and back."""

    def setUp(self):
        self.store = MemoryStore()
        self.control = serve(self, handlers.memory(lambda: self.store))

    def halonctl(self, *args):
        return halonctl("hsl", "memory", *args, "--socket", self.control.path)

    async def test_storeFetchDelete(self):
        """The seed's session: store 42, fetch prints 42, delete; a fetch after that fails."""
        self.assertEqual(await self.halonctl("store", "theanswer", "42"), ("", "", 0))
        self.assertEqual(self.store.values[b"theanswer"], 42.0)
        self.assertEqual(await self.halonctl("fetch", "theanswer"), ("42\n", "", 0))
        self.assertEqual(await self.halonctl("delete", "theanswer"), ("", "", 0))
        self.assertEqual(self.store.values, {})
        self.assertEqual(await self.halonctl("fetch", "theanswer"), ("", "halonctl: theanswer: no such key\n", 1))

    async def test_scriptValuesAsJson(self):
        """An array a script stored comes out as JSON; a JSON array goes in as an array."""
        self.store.values[b"limits"] = from_python({"a": [1, 2.5, "x"], "b": True})
        self.assertEqual(await self.halonctl("fetch", "limits"), ('{"a": [1, 2.5, "x"], "b": true}\n', "", 0))
        self.assertEqual(await self.halonctl("store", "list", '["x", 2]'), ("", "", 0))
        self.assertEqual(self.store.fetch("list"), ["x", 2])

    async def test_valueWithoutJsonForm(self):
        """A script value JSON cannot carry is an error naming the key, not a traceback."""
        self.store.values[b"nan"] = float("nan")
        out, err, code = await self.halonctl("fetch", "nan")
        self.assertEqual((out, code), ("", 1))
        self.assertTrue(err.startswith("halonctl: nan: the value has no JSON form"), err)


class PermissionTests(unittest.TestCase):
    """Only the socket's owner and group may manage a daemon (the socket is 0660)."""

    def setUp(self):
        self.folder = short_tempdir(self)
        os.chmod(self.folder, 0o755)
        self.stats = Stats()
        self.stats.counter("queue.queue.defer.size").increment(3)

    def serve(self, **kwargs):
        return serve(self, {"ProcessStats": handlers.process_stats(self.stats)}, path=os.path.join(self.folder, "smtpd.ctl"), **kwargs)

    def without_root_powers(self):
        """A wrapper that runs halonctl as root without the capabilities that let root open any file."""
        if os.getuid() != 0:
            raise unittest.SkipTest("needs root, to give the socket to another owner")
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise unittest.SkipTest("setpriv is needed to drop root's file capabilities")
        return (setpriv, "--bounding-set=-dac_override,-dac_read_search")

    async def test_deniedIsSaidPlainly(self):
        """A socket halonctl may not open: one line naming it and why, exit 1."""
        control = self.serve(mode=0)
        wrapper = self.without_root_powers() if os.getuid() == 0 else ()
        out, err, code = await halonctl("process-stats", "--socket", control.path, wrapper=wrapper)
        self.assertEqual((out, code), ("", 1))
        self.assertEqual(err, "halonctl: %s: permission denied (are you in the socket's group?)\n" % (control.path,))

    async def test_onlyTheGroupMayManage(self):
        """With the socket owned by someone else, members of its group get in and others do not."""
        wrapper = self.without_root_powers()
        outsider = 65534
        control = self.serve(group=outsider)
        os.chown(control.path, outsider, -1)
        out, err, code = await halonctl("process-stats", "--socket", control.path, wrapper=wrapper)
        self.assertEqual((out, code), ("", 1))
        self.assertIn("permission denied", err)
        os.chown(control.path, outsider, os.getgid())
        out, err, code = await halonctl("process-stats", "--socket", control.path, wrapper=wrapper)
        self.assertEqual((out, err, code), ("queue.queue.defer.size: 3\n", "", 0))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TwistdHalonTests(unittest.TestCase):
    """`twistd halon` on its embedded default, managed by halonctl from its working folder."""

    def setUp(self):
        from halon.config import embedded

        self.folder = short_tempdir(self)
        smtpd_yaml = embedded.write_default(self.folder)
        self.port = free_port()
        with open(smtpd_yaml) as f:
            text = f.read()
        with open(smtpd_yaml, "w") as f:
            f.write(text.replace("port: 2525", "port: %d" % (self.port,)))
        self.etc = os.path.dirname(smtpd_yaml)
        self.process = _start_twistd(self, self.folder)

    def halonctl(self, *args):
        return halonctl(*args, cwd=self.folder)

    async def test_processStatsAndReloads(self):
        """process-stats answers from the process; bad reloads of smtpd, rated and dlpd are refused and it keeps serving."""
        out, err, code = await self.halonctl("process-stats")
        self.assertEqual((err, code), ("", 0))
        self.assertIn("process.pid: %d\n" % (self.process.pid,), out)
        self.assertIn("servers[0].serverid: default\n", out)

        app = os.path.join(self.etc, "smtpd-app.yaml")
        with open(app) as f:
            text = f.read()
        with open(app, "w") as f:
            f.write(text.replace("size: 10000", "size: many"))
        out, err, code = await self.halonctl("config", "reload")
        self.assertEqual((out, code), ("", 1))
        self.assertEqual(err, "halonctl: %s: resolver.cache.size: expected an integer, got the string \"many\"\n" % (app,))
        banner = await threads.deferToThread(_smtp_noop, self.port)
        self.assertEqual(banner, 250)

        rated_app = os.path.join(self.etc, "rated-app.yaml")
        with open(rated_app, "w") as f:
            f.write('peers: ["mta2:port"]\n')
        out, err, code = await self.halonctl("config", "reload", "--program", "rated")
        self.assertEqual((out, err, code), ("", 'halonctl: %s: peers[0]: bad port in "mta2:port"\n' % (rated_app,), 1))

        dlpd_app = os.path.join(self.etc, "dlpd-app.yaml")
        with open(dlpd_app, "w") as f:
            f.write("rules:\n  - id: A\n    regex: ['(open']\n")
        out, err, code = await self.halonctl("config", "reload", "--program", "dlpd")
        self.assertEqual(code, 1)
        self.assertTrue(re.match(r"halonctl: %s: rules\[0\]\S* ?\S*regex" % (re.escape(dlpd_app),), err), err)

        out, err, code = await self.halonctl("hsl", "rates", "list")
        self.assertEqual((err, code), ("", 0))
        self.assertEqual(out.count("\n"), 4)

    async def test_sockets(self):
        """Every daemon's control socket is under ./var/run/halon with mode 0660."""
        run = os.path.join(self.folder, "var", "run", "halon")
        for name in ("smtpd.ctl", "queued.ctl", "dlpd.ctl"):
            self.assertEqual(os.stat(os.path.join(run, name)).st_mode & 0o777, 0o660, name)

def _smtp_noop(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.noop()[0]


def _start_twistd(testcase, folder, timeout=30):
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    log = os.path.join(folder, "twistd.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALON_")}
    proc = subprocess.Popen([twistd, "-n", "--pidfile=", "--logfile", log, "halon"], cwd=folder, env=env)

    def stop():
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    testcase.addCleanup(stop)
    ready = [os.path.join(folder, "var", "run", "halon", name) for name in ("smtpd.ctl", "queued.ctl", "dlpd.ctl")]
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(path) for path in ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log) if os.path.exists(log) else open(os.devnull) as f:
                raise AssertionError("twistd halon did not start:\n%s" % (f.read(),))
        time.sleep(0.02)
    return proc

