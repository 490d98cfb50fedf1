"""`twistd halon-dlpd` as a real process."""

import os
import stat
import subprocess
import sys

from twisted.internet import defer, threads
from twisted.trial import unittest

from halon.dlpd.protocol import DLPClient
from tests.dlpd import samples
from tests.rated.helpers import short_tempdir, twistd, write_yaml


class TwistdTests(unittest.TestCase):
    def setUp(self):
        self.folder = short_tempdir(self)
        self.sock = os.path.join(self.folder, "dlpd.sock")
        self.startup = {
            "environment": {"socket": {"path": self.sock}, "tmpdir": os.path.join(self.folder, "tmp"), "appconf": "dlpd-app.yaml"}
        }

    @defer.inlineCallbacks
    def test_scans(self):
        """dlpd reads its rules from dlpd-app.yaml and scans over a 0600 socket."""
        write_yaml(self.folder, "dlpd-app.yaml", {"rules": [{"id": "CARDS", "cards": True}]})
        config = write_yaml(self.folder, "dlpd.yaml", self.startup)
        yield threads.deferToThread(twistd, self, "halon-dlpd", config, self.sock)
        self.assertEqual(stat.S_IMODE(os.stat(self.sock).st_mode), 0o600)
        client = DLPClient(self.sock)
        self.addCleanup(client.close)
        reply = yield threads.deferToThread(client.scan, samples.message("card %s" % samples.VISA), {})
        self.assertEqual(reply, {"result": [{"partid": "1.1", "name": "CARDS"}]})

    def test_badRuleStopsWithItsPlace(self):
        """A rule with a bad pattern stops twistd, naming the file, the rule and the field."""
        app = write_yaml(self.folder, "dlpd-app.yaml", {"rules": [{"id": "OK", "cards": True}, {"id": "BAD", "regex": ["(x"]}]})
        config = write_yaml(self.folder, "dlpd.yaml", self.startup)
        twistd_bin = os.path.join(os.path.dirname(sys.executable), "twistd")
        result = subprocess.run([twistd_bin, "-n", "--pidfile=", "halon-dlpd", "--config", config], capture_output=True, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("%s: rules[1] (BAD).regex: bad regular expression" % (app,), result.stdout + result.stderr)
