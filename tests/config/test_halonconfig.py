"""halonconfig as users run it: the console script on a real folder."""

import base64
import json
import os
import shutil
import subprocess
import sys

import yaml
from twisted.trial import unittest

from tests.config.helpers import EXAMPLES, SCHEMAS, folder, needs_hsl, write

HALONCONFIG = os.path.join(os.path.dirname(sys.executable), "halonconfig")

APP = """\
version: "6.0"
servers:
  - id: inbound
    transport: mx
    phases:
      connect:
        hook: screen
      rcptto:
        hook:
          id: default
          recipientdomains:
            example.org: partner
      eod:
        hook: default
transportgroups:
  - id: default
    transports:
      - id: mx
"""

BINARY = bytes(range(256))


class HalonconfigTests(unittest.TestCase):
    def setUp(self):
        self.dir = folder(self)
        write(self.dir, "src/config/smtpd.yaml", "servers:\n  - id: inbound\n    listeners:\n      - port: 2525\n")
        write(self.dir, "src/config/smtpd-app.yaml", APP)
        write(self.dir, "src/config/smtpd-policy.yaml", "policies:\n  - fields: [remotemx]\n    default: {concurrency: 5}\n")
        write(self.dir, "src/hooks/connect/screen.hsl", "Accept();\n")
        write(self.dir, "src/hooks/rcptto/default.hsl", 'if ($arguments["address"]["domain"] == "example.com")\n    Accept();\nReject();\n')
        write(self.dir, "src/hooks/rcptto/partner.hsl", 'Accept(["transportid" => "mx"]);\n')
        write(self.dir, "src/hooks/rcptto/unused.hsl", "Accept();\n")
        write(self.dir, "src/hooks/eod/default.hsl", "Accept();\n")
        write(self.dir, "src/hooks/queue/predelivery.hsl", "Try();\n")
        write(self.dir, "src/hooks/queue/postdelivery.hsl", "")
        write(self.dir, "src/files/modules/util.hsl", "function double($x) { return $x * 2; }\n")
        write(self.dir, "src/files/data/list.txt", "one\ntwo\n")
        write(self.dir, "src/files/data/blob.bin", BINARY, mode="wb")
        write(self.dir, "src/files/.secret", "hidden\n")
        write(self.dir, "src/files/.cache/x.hsl", "not packed\n")
        write(self.dir, "src/files/.halonignore", "*.bak\nbuild/\n")
        write(self.dir, "src/files/data/old.txt.bak", "excluded\n")
        write(self.dir, "src/files/build/out.txt", "excluded\n")
        write(self.dir, "src/files/data/.halonignore", "/private.txt\n")
        write(self.dir, "src/files/data/private.txt", "excluded\n")

    def run_halonconfig(self, *args, cwd=None):
        return subprocess.run([HALONCONFIG] + list(args), cwd=cwd or self.dir, capture_output=True, text=True, timeout=60)

    def dist(self, name):
        with open(os.path.join(self.dir, "dist", name)) as f:
            return yaml.safe_load(f)

    def test_packs(self):
        """Referenced hooks, queue hooks and files go into dist/smtpd-app.yaml; the other files are copied as written."""
        result = self.run_halonconfig("--no-check-hsl")
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "dist"))), ["smtpd-app.yaml", "smtpd-policy.yaml", "smtpd.yaml"])
        app = self.dist("smtpd-app.yaml")
        hooks = app["scripting"]["hooks"]
        self.assertEqual(hooks["connect"], [{"id": "screen", "data": "Accept();\n"}])
        self.assertEqual([h["id"] for h in hooks["rcptto"]], ["default", "partner"])
        self.assertEqual(hooks["eod"], [{"id": "default", "data": "Accept();\n"}])
        self.assertEqual((hooks["predelivery"], hooks["postdelivery"]), ("Try();\n", ""))
        self.assertEqual(app["servers"], yaml.safe_load(APP)["servers"])
        with open(os.path.join(self.dir, "src", "config", "smtpd-policy.yaml")) as src, open(os.path.join(self.dir, "dist", "smtpd-policy.yaml")) as out:
            self.assertEqual(out.read(), src.read())

    def test_filesBinaryAndExcluded(self):
        """Text files are packed as text, others as base64 with binary: true; hidden and .halonignore'd files are left out."""
        self.assertEqual(self.run_halonconfig("--no-check-hsl").returncode, 0)
        files = {f["id"]: f for f in self.dist("smtpd-app.yaml")["scripting"]["files"]}
        self.assertEqual(sorted(files), ["data/blob.bin", "data/list.txt", "modules/util.hsl"])
        self.assertEqual(files["data/list.txt"], {"id": "data/list.txt", "data": "one\ntwo\n"})
        self.assertIs(files["data/blob.bin"]["binary"], True)
        self.assertEqual(base64.b64decode(files["data/blob.bin"]["data"]), BINARY)

    def test_checksHsl(self):
        """By default every HSL file is compiled, including unreferenced hooks and modules in src/files."""
        needs_hsl(self)
        write(self.dir, "src/hooks/rcptto/unused.hsl", "Accept();\n$x = ;\n")
        write(self.dir, "src/files/modules/util.hsl", "function double($x) {\n    return $x * 2;\n")
        result = self.run_halonconfig()
        self.assertEqual(result.returncode, 1)
        lines = result.stderr.splitlines()
        self.assertTrue(lines[0].startswith("src/files/modules/util.hsl:3:1: "), lines[0])
        self.assertTrue(lines[1].startswith("src/hooks/rcptto/unused.hsl:2:6: "), lines[1])
        self.assertEqual(lines[2], "halonconfig: 2 problems, nothing written")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "dist")))
        self.assertEqual(self.run_halonconfig("--no-check-hsl").returncode, 0)

    def test_configErrorsWriteNothing(self):
        """Configuration problems are all printed as file: path: reason and dist/ is not written."""
        write(self.dir, "src/config/smtpd-app.yaml", APP.replace("transport: mx", "transport: local").replace("hook: screen", "hook: missing"))
        write(self.dir, "src/config/smtpd-policy.yaml", "policies:\n  - fields: [remotemx]\n    default: {concurrency: -1}\n")
        write(self.dir, "src/config/smtpd.yaml", "servers: [\n")
        result = self.run_halonconfig("--no-check-hsl")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stderr.splitlines(),
            [
                'src/config/smtpd-app.yaml: servers[0].transport: no transport with id "local" in transportgroups',
                "src/config/smtpd-app.yaml: servers[0].phases.connect.hook: no script src/hooks/connect/missing.hsl for this hook",
                "src/config/smtpd-policy.yaml: policies[0].default.concurrency: must be at least 0, got the number -1",
                "src/config/smtpd.yaml:2:1: not valid YAML: expected the node content, but found '<stream end>'",
                "halonconfig: 4 problems, nothing written",
            ],
        )
        self.assertFalse(os.path.exists(os.path.join(self.dir, "dist")))

    def test_startupAndRunningChecked(self):
        """smtpd.yaml and smtpd-app.yaml are checked against each other."""
        write(self.dir, "src/config/smtpd.yaml", "servers:\n  - id: outbound\n    listeners:\n      - port: 587\n")
        result = self.run_halonconfig("--no-check-hsl")
        self.assertEqual(result.stderr.splitlines()[0], 'src/config/smtpd-app.yaml: servers: no server with id "outbound", which smtpd.yaml listens for')

    def test_schemaDir(self):
        """--schema-dir validates against another folder of schemas; a folder without them is an error."""
        strict = folder(self)
        for name in os.listdir(SCHEMAS):
            shutil.copy(os.path.join(SCHEMAS, name), strict)
        path = os.path.join(strict, "smtpd-policy.schema.json")
        with open(path) as f:
            schema = json.load(f)
        schema["required"] = ["version"]
        with open(path, "w") as f:
            json.dump(schema, f)
        result = self.run_halonconfig("--no-check-hsl", "--schema-dir", strict)
        self.assertEqual(result.stderr.splitlines()[0], "src/config/smtpd-policy.yaml: version: required field is missing")
        self.assertEqual(result.returncode, 1)
        empty = folder(self)
        result = self.run_halonconfig("--no-check-hsl", "--schema-dir", empty)
        self.assertIn("src/config/smtpd.yaml: no smtpd.schema.json in the schema folder", result.stderr.splitlines())
        result = self.run_halonconfig("--no-check-hsl", "--schema-dir", os.path.join(empty, "nope"))
        self.assertEqual(result.returncode, 2)

    def test_folderArgument(self):
        """The folder may be given instead of being the current directory."""
        result = self.run_halonconfig("--no-check-hsl", self.dir, cwd="/")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "dist", "smtpd-app.yaml")))

    def test_notAConfigurationFolder(self):
        """A folder without src/config says so."""
        result = self.run_halonconfig("--no-check-hsl", folder(self))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.splitlines()[0], "src/config: no such folder; is this a configuration folder?")

    def test_help(self):
        """-h describes the options."""
        result = self.run_halonconfig("-h")
        self.assertEqual(result.returncode, 0)
        for option in ("--schema-dir", "--no-check-hsl", "folder"):
            self.assertIn(option, result.stdout)

    def test_exampleFolderPacks(self):
        """docs/examples/halonconfig packs cleanly, scripts checked, and its output loads as a running configuration."""
        needs_hsl(self)
        example = os.path.join(self.dir, "example")
        shutil.copytree(os.path.join(EXAMPLES, "halonconfig"), example)
        result = self.run_halonconfig(cwd=example)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        from halon.config import load_running, load_startup

        startup = load_startup("smtpd", os.path.join(example, "dist", "smtpd.yaml"))
        app = load_running("smtpd-app", os.path.join(example, "dist", "smtpd-app.yaml"), startup=startup)
        ids = {f["id"] for f in app["scripting"]["files"]}
        self.assertEqual(ids, {"modules/localdomains.hsl", "images/pixel.gif"})
