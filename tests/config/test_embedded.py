"""The default configuration `twistd halon` starts with."""

import os
import pwd

from twisted.trial import unittest

from halon.config import hsl, load_running, load_startup
from halon.config.embedded import EOD_HOOK, RCPTTO_HOOK, write_default
from tests.config.helpers import folder, needs_hsl

FILES = [
    "dlpd-app.yaml", "dlpd.yaml", "httprd.yaml", "rated-app.yaml", "rated.yaml",
    "smtpd-app.yaml", "smtpd-delivery.yaml", "smtpd-policy.yaml", "smtpd-suspend.yaml", "smtpd.yaml",
]  # fmt: skip


class EmbeddedTests(unittest.TestCase):
    def setUp(self):
        self.dir = folder(self)
        self.smtpd = write_default(self.dir)
        self.startup = load_startup("smtpd", self.smtpd)

    def test_allFilesWritten(self):
        """Every program's files are written under ./etc/halon and smtpd.yaml's path is returned."""
        etc = os.path.join(self.dir, "etc", "halon")
        self.assertEqual(self.smtpd, os.path.join(etc, "smtpd.yaml"))
        self.assertEqual(sorted(os.listdir(etc)), FILES)

    def test_statePathsUnderVar(self):
        """Spool, temporary files and every socket are under ./var, and those folders exist."""
        var = os.path.join(self.dir, "var")
        env = self.startup["environment"]
        self.assertEqual(env["spool"]["path"], os.path.join(var, "spool", "halon", "queue"))
        self.assertEqual(env["tmpdir"], os.path.join(var, "spool", "halon", "tmp"))
        self.assertEqual(env["controlsocket"]["path"], os.path.join(var, "run", "halon", "smtpd.ctl"))
        for name in ("rated", "httprd", "dlpd"):
            self.assertEqual(env["sockets"][name]["path"], os.path.join(var, "run", "halon", name + ".sock"))
        for program in ("rated", "httprd", "dlpd"):
            startup = load_startup(program, os.path.join(self.dir, "etc", "halon", program + ".yaml"))
            self.assertEqual(startup["environment"]["socket"]["path"], env["sockets"][program]["path"])
            if "controlsocket" in startup["environment"]:
                self.assertTrue(startup["environment"]["controlsocket"]["path"].startswith(var + os.sep))
        for sub in ("spool/halon/queue", "spool/halon/tmp", "run/halon"):
            self.assertTrue(os.path.isdir(os.path.join(var, sub)))

    def test_listenerAndPermissions(self):
        """One server on 127.0.0.1:2525, umask 0027, control socket 0660, no privilege drop without a halon user as root."""
        self.assertEqual(self.startup["servers"][0]["listeners"], [{"port": 2525, "address": "127.0.0.1"}])
        env = self.startup["environment"]
        self.assertEqual((env["umask"], env["controlsocket"]["chmod"]), ("0027", "0660"))
        try:
            pwd.getpwnam("halon")
            has_user = True
        except KeyError:
            has_user = False
        if os.geteuid() != 0 or not has_user:
            self.assertNotIn("privdrop", env)
        else:
            self.assertEqual(env["privdrop"], {"user": "halon", "group": "halon"})

    def test_runningConfiguration(self):
        """The server's RCPT and EOD hooks are the embedded scripts, and delivery is by MX with optional TLS."""
        app = load_running("smtpd-app", self.startup["environment"]["appconf"], startup=self.startup, check_hsl=False)
        server = app["servers"][0]
        self.assertEqual((server["id"], server["transport"]), ("default", "mx"))
        self.assertEqual(app["scripting"]["hooks"]["rcptto"], [{"id": "default", "data": RCPTTO_HOOK}])
        self.assertEqual(app["scripting"]["hooks"]["eod"], [{"id": "default", "data": EOD_HOOK}])
        transport = app["transportgroups"][0]["transports"][0]
        self.assertEqual(transport["id"], "mx")
        self.assertNotIn("server", transport.get("connection", {}))
        self.assertEqual(transport["session"]["tls"]["mode"], "optional")

    def test_relayingRules(self):
        """The RCPT hook lets loopback clients relay and others reach only the local domains."""
        self.assertIn('inet_includes($remoteip, "127.0.0.0/8")', RCPTTO_HOOK)
        self.assertIn('$localdomains = ["localhost"];', RCPTTO_HOOK)
        self.assertTrue(RCPTTO_HOOK.rstrip().endswith('Reject("Relaying denied");'))

    def test_hooksCompile(self):
        """The embedded hooks are valid HSL."""
        needs_hsl(self)
        self.assertEqual(hsl.syntax_errors(RCPTTO_HOOK, "rcptto"), [])
        self.assertEqual(hsl.syntax_errors(EOD_HOOK, "eod"), [])

    def test_existingFilesAreKept(self):
        """Only missing files are written: an edited file survives, a deleted one comes back."""
        etc = os.path.join(self.dir, "etc", "halon")
        with open(os.path.join(etc, "smtpd-policy.yaml"), "w") as f:
            f.write("policies: []\n")
        os.remove(os.path.join(etc, "smtpd-suspend.yaml"))
        write_default(self.dir)
        with open(os.path.join(etc, "smtpd-policy.yaml")) as f:
            self.assertEqual(f.read(), "policies: []\n")
        self.assertEqual(load_running("smtpd-suspend", os.path.join(etc, "smtpd-suspend.yaml")), {"version": "6.0", "suspends": []})
