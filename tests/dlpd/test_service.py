"""dlpd serving scans on its real IPC socket to clients on other threads."""

import os
import stat

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from halon.dlpd.protocol import DLPClient
from halon.dlpd.rules import RuleError
from halon.dlpd.service import DlpdService
from halon.rated.ipc import IPCError
from halon.stats import Stats
from tests.dlpd import samples
from tests.rated.helpers import short_tempdir

APP = {"rules": [{"id": "CARDS", "cards": True}, {"id": "EXE", "filename": [r"\.exe$"]}]}


class ServiceTests(unittest.TestCase):
    def setUp(self):
        folder = short_tempdir(self)
        self.path = os.path.join(folder, "dlpd.sock")
        self.tmpdir = os.path.join(folder, "tmp")
        self.stats = Stats()
        startup = {"environment": {"socket": {"path": self.path}, "tmpdir": self.tmpdir}}
        self.dlpd = DlpdService(reactor, startup, APP, self.stats)
        self.dlpd.startService()
        self.addCleanup(self.dlpd.stopService)
        self.client = DLPClient(self.path, timeout=10)
        self.addCleanup(self.client.close)

    def scan(self, data, **options):
        return threads.deferToThread(self.client.scan, data, options)

    def test_socketMode(self):
        """dlpd's IPC socket is mode 0600, as the seed prescribes."""
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    @defer.inlineCallbacks
    def test_scanWithConfiguredRules(self):
        """All configured rules apply by default; the reply lists part and rule; counters move."""
        data = samples.message("card %s" % samples.VISA, [("x.exe", b"MZ...", "application/octet-stream")])
        reply = yield self.scan(data)
        self.assertEqual(reply, {"result": [{"partid": "1.1", "name": "CARDS"}, {"partid": "1.2", "name": "EXE"}]})
        self.assertEqual(self.stats.value("dlpd.scans.finished"), 1)
        self.assertEqual(self.stats.value("dlpd.scans.matches"), 2)
        self.assertEqual(os.listdir(self.tmpdir), [])

    @defer.inlineCallbacks
    def test_namedAndCustomRules(self):
        """A request can pick configured rules by id and add its own."""
        data = samples.message("card %s, codename BLUEBIRD" % samples.VISA)
        reply = yield self.scan(data, rules=["EXE", {"name": "CODENAME", "regex": ["/BLUEBIRD/"]}])
        self.assertEqual(reply["result"], [{"partid": "1.1", "name": "CODENAME"}])

    @defer.inlineCallbacks
    def test_unknownRuleIsAnError(self):
        """Naming a rule the running configuration lacks is an error, not an empty result."""
        e = yield self.assertFailure(self.scan(b"Subject: x\r\n\r\nhi", rules=["NOPE"]), IPCError)
        self.assertIn("NOPE", str(e))

    @defer.inlineCallbacks
    def test_reload(self):
        """A reload swaps the rules; a bad configuration is refused and the old rules stay."""
        self.dlpd.reload({"rules": [{"id": "WORD", "keywords": ["hello"]}]})
        reply = yield self.scan(samples.message("hello %s" % samples.VISA))
        self.assertEqual([m["name"] for m in reply["result"]], ["WORD"])
        self.assertRaises(RuleError, self.dlpd.reload, {"rules": [{"id": "BAD", "regex": ["("]}]})
        self.assertEqual(list(self.dlpd.rules), ["WORD"])

    @defer.inlineCallbacks
    def test_concurrentScans(self):
        """Scans from several threads at once all get their own answers."""
        messages = [samples.message("n %d %s" % (i, samples.VISA if i % 2 else "")) for i in range(8)]
        replies = yield defer.gatherResults([self.scan(m) for m in messages])
        self.assertEqual([len(r["result"]) for r in replies], [0, 1] * 4)
