"""What programs get back: defaults filled in from the schemas, values in one form."""

import os

from twisted.trial import unittest

from halon.config import ConfigError, load_running, load_startup, parse_running
from tests.config.helpers import folder, write


class DefaultTests(unittest.TestCase):
    def setUp(self):
        self.dir = folder(self)

    def test_startupDefaultsFromTheSeed(self):
        """An empty smtpd.yaml gets the default paths and sockets Halon documents, and umask 0027."""
        env = load_startup("smtpd", write(self.dir, "smtpd.yaml", ""))["environment"]
        self.assertEqual(env["appconf"], "/etc/halon/smtpd-app.yaml")
        self.assertEqual(env["policyconf"], "/etc/halon/smtpd-policy.yaml")
        self.assertEqual(env["suspendconf"], "/etc/halon/smtpd-suspend.yaml")
        self.assertEqual(env["deliveryconf"], "/etc/halon/smtpd-delivery.yaml")
        self.assertEqual(env["spool"], {"path": "/var/spool/halon/queue"})
        self.assertEqual(env["controlsocket"], {"path": "/var/run/halon/smtpd.ctl", "chmod": "0660"})
        self.assertEqual(env["sockets"]["rated"], {"path": "/var/run/halon/rated.sock"})
        self.assertEqual(env["sockets"]["httprd"], {"path": "/var/run/halon/httprd.sock"})
        self.assertEqual(env["sockets"]["dlpd"], {"path": "/var/run/halon/dlpd.sock"})
        self.assertEqual(env["umask"], "0027")
        self.assertNotIn("privdrop", env)
        self.assertNotIn("publicsuffix", env)

    def test_helperDaemonDefaults(self):
        """rated, httprd and dlpd get their documented socket paths, ports, limits and modes."""
        rated = load_startup("rated", write(self.dir, "rated.yaml", ""))
        self.assertEqual(rated["listen"], {"port": 13131})
        self.assertEqual(rated["syncdelay"], 25)
        self.assertEqual(rated["environment"]["appconf"], "/etc/halon/rated-app.yaml")
        self.assertEqual(rated["environment"]["controlsocket"]["path"], "/var/run/halon/queued.ctl")
        self.assertEqual(rated["environment"]["socket"], {"path": "/var/run/halon/rated.sock", "chmod": "0660"})
        httprd = load_startup("httprd", write(self.dir, "httprd.yaml", ""))
        self.assertEqual(httprd["environment"]["socket"]["path"], "/var/run/halon/httprd.sock")
        dlpd = load_startup("dlpd", write(self.dir, "dlpd.yaml", ""))
        self.assertEqual(dlpd["environment"]["tmpdir"], "/var/spool/halon/tmp")
        self.assertEqual(dlpd["environment"]["controlsocket"]["path"], "/var/run/halon/dlpd.ctl")
        self.assertEqual(dlpd["environment"]["socket"], {"path": "/var/run/halon/dlpd.sock", "chmod": "0600"})
        self.assertEqual(dlpd["limits"], {"recursion": 9, "max_files": 1000, "max_file_size": 50 << 20, "max_total": 200 << 20})

    def test_givenValuesWin(self):
        """A value in the file is kept; only the missing ones are filled in."""
        env = load_startup("smtpd", write(self.dir, "smtpd.yaml", "environment:\n  controlsocket:\n    chmod: '0600'\n"))["environment"]
        self.assertEqual(env["controlsocket"], {"path": "/var/run/halon/smtpd.ctl", "chmod": "0600"})

    def test_runningDefaults(self):
        """Servers get phases, limits and timeouts; transport groups get Halon's retry schedule."""
        app = parse_running("smtpd-app", "servers:\n  - id: a\ntransportgroups:\n  - id: g\n    transports: [{id: mx}]\n")
        server = app["servers"][0]
        self.assertEqual(server["phases"], {})
        self.assertEqual(server["concurrency"], {"total": 10000})
        self.assertEqual(server["timeout"], {"idle": 300})
        self.assertEqual(
            app["transportgroups"][0]["retry"],
            {
                "count": 30,
                "intervals": [
                    {"interval": 60, "notify": False},
                    {"interval": 900, "notify": False},
                    {"interval": 3600, "notify": True},
                    {"interval": 7200, "notify": False},
                    {"interval": 10800, "notify": False},
                ],
            },
        )
        self.assertEqual(app["scripting"]["hooks"]["eod"], [])
        self.assertEqual(app["scripting"]["files"], [])
        self.assertNotIn("predelivery", app["scripting"]["hooks"])

    def test_retryDuringIsADuration(self):
        """transportgroups[].retry.during: how long a message is retried, as seconds or a duration."""
        app = parse_running("smtpd-app", "transportgroups:\n  - id: g\n    retry:\n      during: 5d\n    transports: [{id: mx}]\n")
        self.assertEqual(app["transportgroups"][0]["retry"]["during"], 432000)
        with self.assertRaises(ConfigError) as caught:
            parse_running("smtpd-app", "transportgroups:\n  - id: g\n    retry:\n      during: [\"08:00-17:00\"]\n    transports: [{id: mx}]\n")
        self.assertIn("transportgroups[0].retry.during", str(caught.exception))

    def test_conditionsAreNotFilledIn(self):
        """Policy, suspend and delivery conditions stay as written: a default there would override the transport."""
        delivery = parse_running("smtpd-delivery", "delivery:\n  conditions:\n    - if: {remotemx: mx.example.com}\n      then: {pooling: {enabled: true}}\n")
        self.assertEqual(delivery["delivery"]["conditions"][0]["then"], {"pooling": {"enabled": True}})
        self.assertNotIn("default", delivery["delivery"])

    def test_durationsAndSizes(self):
        """Durations become seconds and sizes bytes, however they were written."""
        app = parse_running(
            "smtpd-app",
            """\
servers:
  - id: a
    timeout: {idle: 1h30m, smtp: {DATA: "90", EOD: 2.5}}
    phases: {data: {maxsize: 50MiB}}
  - id: b
    timeout: {idle: 1d}
    phases: {data: {maxsize: 1048576}}
transportgroups:
  - id: g
    retry: {intervals: [{interval: 15m}, {interval: "1h"}]}
    transports: [{id: mx}]
""",
        )
        a, b = app["servers"]
        self.assertEqual(a["timeout"], {"idle": 5400, "smtp": {"DATA": 90, "EOD": 2.5}})
        self.assertEqual(a["phases"]["data"]["maxsize"], 50 * 1024 * 1024)
        self.assertEqual(b["timeout"]["idle"], 86400)
        self.assertEqual(b["phases"]["data"]["maxsize"], 1048576)
        self.assertEqual([i["interval"] for i in app["transportgroups"][0]["retry"]["intervals"]], [900, 3600])

    def test_relativePathsFromTheFilesFolder(self):
        """Relative paths are taken from the folder of the file that holds them; absolute ones are kept."""
        path = write(self.dir, "etc/smtpd.yaml", "environment:\n  appconf: app.yaml\n  spool: {path: ../var/queue}\n  tmpdir: /tmp/halon\n")
        env = load_startup("smtpd", path)["environment"]
        self.assertEqual(env["appconf"], os.path.join(self.dir, "etc", "app.yaml"))
        self.assertEqual(env["spool"]["path"], os.path.join(self.dir, "var", "queue"))
        self.assertEqual(env["tmpdir"], "/tmp/halon")

    def test_environmentTag(self):
        """!Env "${NAME:default}" takes the environment variable, or the default; a whole number stays a number."""
        os.environ["HALON_TEST_PORT"] = "2626"
        self.addCleanup(os.environ.pop, "HALON_TEST_PORT")
        text = 'servers:\n  - id: a\n    listeners:\n      - port: !Env "${HALON_TEST_PORT:25}"\n        address: !Env "${HALON_TEST_UNSET:127.0.0.1}"\n'
        listener = load_startup("smtpd", write(self.dir, "smtpd.yaml", text))["servers"][0]["listeners"][0]
        self.assertEqual(listener, {"port": 2626, "address": "127.0.0.1"})

    def test_environmentTagWithoutValue(self):
        """An !Env variable that is unset and has no default is an error at its line."""
        path = write(self.dir, "smtpd.yaml", 'version: !Env "${HALON_TEST_UNSET}"\n')
        with self.assertRaises(ConfigError) as caught:
            load_startup("smtpd", path)
        self.assertEqual(str(caught.exception), path + ":1:10: not valid YAML: environment variable HALON_TEST_UNSET is not set and has no default")

    def test_resultIsACopy(self):
        """Two loads of one file give independent dicts (a daemon may change its copy)."""
        path = write(self.dir, "smtpd-app.yaml", "servers:\n  - id: a\n")
        first = load_running("smtpd-app", path)
        first["servers"][0]["concurrency"]["total"] = 1
        self.assertEqual(load_running("smtpd-app", path)["servers"][0]["concurrency"]["total"], 10000)
