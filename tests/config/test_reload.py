"""Reloading never leaves a daemon with a broken configuration."""

from twisted.trial import unittest

from halon.config import ConfigError, Problem, Reloadable
from tests.config.helpers import folder, write

GOOD = "servers:\n  - id: a\n    concurrency: {total: %d}\n"


class ReloadTests(unittest.TestCase):
    def setUp(self):
        self.dir = folder(self)
        self.path = write(self.dir, "smtpd-app.yaml", GOOD % (10,))

    def test_goodReloadSwaps(self):
        """A valid new file becomes current and the generation counts up."""
        config = Reloadable.from_file("smtpd-app", self.path)
        self.assertEqual((config.config["servers"][0]["concurrency"]["total"], config.generation), (10, 0))
        write(self.dir, "smtpd-app.yaml", GOOD % (20,))
        self.assertEqual(config.reload(), [])
        self.assertEqual((config.config["servers"][0]["concurrency"]["total"], config.generation), (20, 1))

    def test_badReloadKeepsTheOldConfig(self):
        """A file with problems changes nothing; its problems are returned, all of them."""
        config = Reloadable.from_file("smtpd-app", self.path)
        before = config.config
        write(self.dir, "smtpd-app.yaml", "servers:\n  - id: a\n    concurrency: {total: 0}\n    transport: nowhere\n")
        problems = config.reload()
        self.assertEqual(
            [str(p) for p in problems],
            [
                self.path + ": servers[0].concurrency.total: must be at least 1, got the number 0",
                self.path + ': servers[0].transport: no transport with id "nowhere" in transportgroups',
            ],
        )
        self.assertIs(config.config, before)
        self.assertEqual(config.generation, 0)
        write(self.dir, "smtpd-app.yaml", "servers: [unclosed\n")
        self.assertEqual(len(config.reload()), 1)
        self.assertIs(config.config, before)

    def test_prepareMayRefuse(self):
        """The daemon's own preparation (certificates, compiled hooks) can refuse a file the schema accepted."""
        seen = []

        def prepare(config):
            total = config["servers"][0]["concurrency"]["total"]
            if total > 100:
                raise ConfigError([Problem(self.path, "servers[0].concurrency.total", "more than this host can take")])
            return ("prepared", total)

        config = Reloadable.from_file("smtpd-app", self.path, prepare=prepare, on_change=lambda new, old: seen.append((new, old)))
        self.assertEqual(config.prepared, ("prepared", 10))
        write(self.dir, "smtpd-app.yaml", GOOD % (1000,))
        self.assertEqual([str(p) for p in config.reload()], [self.path + ": servers[0].concurrency.total: more than this host can take"])
        self.assertEqual((config.prepared, seen), (("prepared", 10), []))
        write(self.dir, "smtpd-app.yaml", GOOD % (50,))
        self.assertEqual(config.reload(), [])
        self.assertEqual(seen, [(("prepared", 50), ("prepared", 10))])

    def test_badFileAtStartRaises(self):
        """A program does not start with a file it cannot use."""
        write(self.dir, "smtpd-app.yaml", "servers: 5\n")
        self.assertRaises(ConfigError, Reloadable.from_file, "smtpd-app", self.path)

    def test_missingOptionalFile(self):
        """Policy, suspend and delivery files may be absent, and appear later by reload."""
        path = self.dir + "/smtpd-suspend.yaml"
        config = Reloadable.from_file("smtpd-suspend", path, missing_ok=True)
        self.assertEqual(config.config, {"suspends": []})
        write(self.dir, "smtpd-suspend.yaml", "suspends:\n  - transportid: mx\n")
        self.assertEqual(config.reload(), [])
        self.assertEqual(config.config["suspends"], [{"transportid": "mx"}])
