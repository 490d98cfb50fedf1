"""The schemas themselves, and the files they must accept: our examples, the embedded default, Halon-style files."""

import glob
import json
import os

import jsonschema
from twisted.trial import unittest

from halon.config import KINDS, check, default_schema_dir, load_running, load_startup
from halon.config import embedded, files, schema
from tests.config.helpers import EXAMPLES, SCHEMAS, folder, write

# Which schema each example file is for (file name without .yaml -> kind).
EXAMPLE_KINDS = {"rated-redis": "rated"}


class SchemaFileTests(unittest.TestCase):
    def test_everyKindHasAValidSchema(self):
        """There is one schema per configuration file, and each is a valid draft 2020-12 schema."""
        names = sorted(os.path.basename(p)[: -len(".schema.json")] for p in glob.glob(os.path.join(SCHEMAS, "*.schema.json")))
        self.assertEqual(names, sorted(KINDS))
        for kind in KINDS:
            with open(os.path.join(SCHEMAS, kind + ".schema.json")) as f:
                schema = json.load(f)
            jsonschema.Draft202012Validator.check_schema(schema)
            self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")

    def test_schemasFoundFromTheSourceTree(self):
        """An editable install finds the schemas in the source tree."""
        self.assertEqual(os.path.realpath(default_schema_dir()), os.path.realpath(SCHEMAS))


class ExampleTests(unittest.TestCase):
    def test_everyExampleValidates(self):
        """Every file in docs/examples passes its schema and the reference checks, smtpd-app against smtpd.yaml."""
        names = sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".yaml"))
        kinds = {EXAMPLE_KINDS.get(n[:-5], n[:-5]) for n in names}
        self.assertEqual(kinds, set(KINDS), "an example for every kind of file")
        startup = files.read(os.path.join(EXAMPLES, "smtpd.yaml")).data
        for name in names:
            kind = EXAMPLE_KINDS.get(name[:-5], name[:-5])
            document = files.read(os.path.join(EXAMPLES, name))
            problems = check(kind, document, startup=startup if kind == "smtpd-app" else None, local=False)
            self.assertEqual([str(p) for p in problems], [], name)

    def test_halonconfigExampleSources(self):
        """The YAML sources in the halonconfig example folder pass their schemas (hooks are added by packing)."""
        config = os.path.join(EXAMPLES, "halonconfig", "src", "config")
        for name in sorted(os.listdir(config)):
            document = files.read(os.path.join(config, name))
            self.assertEqual([str(p) for p in schema.problems(document, name[:-5])], [], name)


class HalonFileTests(unittest.TestCase):
    """
    Files written the way Halon's own tooling and manual write them (field
    for field as the examples in Halon's documentation and its editor
    templates) must validate: moving a configuration over is a feature.
    """

    def setUp(self):
        self.dir = folder(self)

    def test_startupAsHalonWritesIt(self):
        """A Halon 5.x/6.x smtpd.yaml: version string, listener, uuid, control socket group, privdrop, umask, rlimit, rootpath."""
        path = write(
            self.dir,
            "smtpd.yaml",
            """\
            version: "5.9"
            servers:
              - id: default
                listeners:
                  - port: 25
                    address: 127.0.0.1
            environment:
              uuid:
                version: 4
              controlsocket:
                group: staff
                chmod: "0660"
              privdrop:
                user: halon
                group: halon
              umask: "0027"
              rlimit:
                nofile: 70000
            scripting:
              rootpath: "/"
            """,
        )
        startup = load_startup("smtpd", path)
        self.assertEqual(startup["environment"]["rlimit"], {"nofile": 70000})
        self.assertEqual(startup["scripting"]["rootpath"], "/")

    def test_runningAsHalonWritesIt(self):
        """A smtpd-app.yaml with Halon's default transport group (retries with notify, DANE) and resolver cache."""
        path = write(
            self.dir,
            "smtpd-app.yaml",
            """\
            version: "6.4"
            servers:
              - id: default
                transport: mx
                phases:
                  eod:
                    hook: default
            transportgroups:
              - id: default
                retry:
                  count: 30
                  intervals:
                    - interval: 60
                    - interval: 900
                    - interval: 3600
                      notify: true
                    - interval: 7200
                    - interval: 10800
                dsn:
                  transport: mx
                transports:
                  - id: mx
                    session:
                      tls:
                        mode: dane
            resolver:
              cache:
                size: 10000
            scripting:
              hooks:
                eod:
                  - id: default
                    data: |
                      Accept();
            """,
        )
        app = load_running("smtpd-app", path, check_hsl=False)
        self.assertEqual(app["transportgroups"][0]["transports"][0]["session"]["tls"]["mode"], "dane")

    def test_helperDaemonsAsHalonWritesThem(self):
        """rated.yaml and dlpd.yaml with socket owner/group/chmod and privdrop, and an empty dlpd-app.yaml."""
        rated = write(
            self.dir,
            "rated.yaml",
            """\
            version: "5.10"
            environment:
              controlsocket:
                group: staff
                chmod: "0660"
              socket:
                owner: halon
                group: halon
                chmod: "0660"
              privdrop:
                user: nobody
                group: nogroup
            """,
        )
        self.assertEqual(load_startup("rated", rated)["environment"]["privdrop"], {"user": "nobody", "group": "nogroup"})
        dlpd = write(self.dir, "dlpd.yaml", open(rated).read().replace("nobody", "halon").replace("nogroup", "halon"))
        self.assertEqual(load_startup("dlpd", dlpd)["environment"]["socket"]["owner"], "halon")
        self.assertEqual(load_running("dlpd-app", write(self.dir, "dlpd-app.yaml", 'version: "6.4"\nrules: []\n')), {"version": "6.4", "rules": []})

    def test_manualExamples(self):
        """The policy, suspend and delivery examples of Halon's queue manual."""
        policy = write(
            self.dir,
            "smtpd-policy.yaml",
            """\
            policies:
              - fields:
                  - localip
                  - grouping
                conditions:
                  - if:
                      grouping: "&google"
                    then:
                      concurrency: 4
                      rate: 120/60
                default:
                  concurrency: 2
                  rate: 30/60
            """,
        )
        self.assertEqual(load_running("smtpd-policy", policy)["policies"][0]["default"]["rate"], "30/60")
        suspend = write(self.dir, "smtpd-suspend.yaml", "suspends:\n  - {}\n  - localip: 192.0.2.1\n    remotemx: '*.example.com'\n")
        self.assertEqual(len(load_running("smtpd-suspend", suspend)["suspends"]), 2)
        delivery = write(
            self.dir,
            "smtpd-delivery.yaml",
            """\
            delivery:
              conditions:
                - if:
                    remotemx: "*.example.com"
                  then:
                    pooling:
                      enabled: true
                      timeout: 300
                      evictable: false
                      transactions: 1000
                    tls:
                      mode: "optional"
                - if:
                    remoteip: 192.0.2.1
                  then:
                    timeout:
                      connect: 120
                      smtp:
                        MAIL: 900
                        EOD: 900
              default:
                pooling:
                  enabled: true
            """,
        )
        self.assertEqual(load_running("smtpd-delivery", delivery)["delivery"]["conditions"][1]["then"]["timeout"]["smtp"]["EOD"], 900)

    def test_filesTheHelperDaemonsAlreadyRead(self):
        """The rated.yaml of the rated tests (relative appconf, redis section) and docs/dlpd.md's rules validate."""
        rated = write(
            self.dir,
            "rated.yaml",
            """\
            key: a3faf19660fea508afaab8648b4aa3b9f685acd0
            syncdelay: 25
            listen: {address: 127.0.0.1, port: 14000}
            redis: {path: /tmp/redis.sock, prefix: "test:"}
            environment: {socket: {path: a.sock}, appconf: a-app.yaml}
            """,
        )
        startup = load_startup("rated", rated)
        self.assertEqual(startup["environment"]["appconf"], os.path.join(self.dir, "a-app.yaml"))
        self.assertEqual(startup["redis"]["prefix"], "test:")


class EmbeddedDefaultTests(unittest.TestCase):
    def test_embeddedDefaultValidates(self):
        """Every file the embedded default writes loads cleanly, smtpd-app.yaml against smtpd.yaml."""
        workdir = folder(self)
        smtpd_path = embedded.write_default(workdir)
        startup = load_startup("smtpd", smtpd_path)
        env = startup["environment"]
        load_running("smtpd-app", env["appconf"], startup=startup, check_hsl=False)
        for kind, key in (("smtpd-policy", "policyconf"), ("smtpd-suspend", "suspendconf"), ("smtpd-delivery", "deliveryconf")):
            load_running(kind, env[key])
        for program in ("rated", "dlpd"):
            loaded = load_startup(program, os.path.join(workdir, "etc", "halon", program + ".yaml"))
            load_running(program + "-app", loaded["environment"]["appconf"])
        load_startup("httprd", os.path.join(workdir, "etc", "halon", "httprd.yaml"))
