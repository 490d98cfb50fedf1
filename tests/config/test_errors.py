"""Every kind of configuration error names the file, the place in it and the reason, all at once."""

from twisted.trial import unittest

from halon.config import ConfigError, load_running, load_startup, parse_running
from tests.config.helpers import folder, needs_hsl, write

APP_OK = """\
version: "6.0"
servers:
  - id: default
    transport: mx
    phases:
      eod:
        hook: default
transportgroups:
  - id: default
    transports:
      - id: mx
scripting:
  hooks:
    eod:
      - id: default
        data: |
          Accept();
"""


class ErrorTests(unittest.TestCase):
    def setUp(self):
        self.dir = folder(self)

    def problems(self, kind, text, name=None, **kwargs):
        """The problem lines of loading C{text} as a file of C{kind}; fails if it loads."""
        path = write(self.dir, name or kind + ".yaml", text)
        loader = load_startup if kind in ("smtpd", "rated", "httprd", "dlpd") else load_running
        with self.assertRaises(ConfigError) as caught:
            loader(kind, path, **kwargs)
        return str(caught.exception).split("\n"), caught.exception, path

    def test_typeError(self):
        """A value of the wrong type names its path and what was expected instead."""
        lines, _, path = self.problems("smtpd", "servers:\n  - id: a\n    listeners:\n      - port: smtp\n")
        self.assertEqual(lines, [path + ': servers[0].listeners[0].port: expected an integer, got the string "smtp"'])

    def test_missingRequired(self):
        """A missing required field is reported at the path where it belongs."""
        lines, _, path = self.problems("smtpd", "servers:\n  - id: a\n    listeners:\n      - address: 127.0.0.1\n")
        self.assertEqual(lines, [path + ": servers[0].listeners[0].port: required field is missing"])

    def test_unknownFieldSuggestsTheCloseOne(self):
        """An unknown field where none are allowed is named, with the field it was probably meant to be."""
        lines, _, path = self.problems("smtpd", "servers:\n  - id: a\n    listeners:\n      - port: 25\n        adress: 1.2.3.4\n")
        self.assertEqual(lines, [path + ": servers[0].listeners[0].adress: unknown field; did you mean address?"])

    def test_unknownFieldListsTheKnownOnes(self):
        """Without a close match, the reason lists the fields that are allowed there."""
        lines, _, path = self.problems("smtpd", "environment:\n  privdrop:\n    uid: 5\n")
        self.assertEqual(lines, [path + ": environment.privdrop.uid: unknown field (expected one of: group, user)"])

    def test_enumAndRange(self):
        """Values outside a set or a range say what is allowed and what was given."""
        lines, _, path = self.problems("smtpd", "servers:\n  - id: a\n    type: smtps\n    listeners:\n      - port: 70000\n")
        self.assertEqual(
            lines,
            [
                path + ': servers[0].type: expected one of "smtp", "http", "https", "plugin", got the string "smtps"',
                path + ": servers[0].listeners[0].port: must be at most 65535, got the number 70000",
            ],
        )

    def test_compositeValuesUseTheirDescription(self):
        """A duration, a size or a mode that does not parse is explained by what such a value looks like."""
        lines, _, path = self.problems(
            "smtpd-app",
            """\
            servers:
              - id: a
                timeout:
                  idle: soon
                phases:
                  data:
                    maxsize: 10 MB
            """,
        )
        self.assertEqual(
            lines,
            [
                path + ': servers[0].timeout.idle: expected seconds, or a duration such as 1h30m, got the string "soon"',
                path + ': servers[0].phases.data.maxsize: expected bytes, or a size such as 50MiB, got the string "10 MB"',
            ],
        )

    def test_alternativeExplainedByTheFormThatFits(self):
        """A mapping where a hook id or {id, recipientdomains} is allowed is checked as the mapping form."""
        lines, _, path = self.problems(
            "smtpd-app", "servers:\n  - id: a\n    phases:\n      rcptto:\n        hook:\n          id: 5\n          domains: {}\n"
        )
        self.assertEqual(
            lines,
            [
                path + ": servers[0].phases.rcptto.hook.id: expected a string, got the number 5",
                path + ": servers[0].phases.rcptto.hook.domains: unknown field (expected one of: id, recipientdomains)",
            ],
        )

    def test_yamlSyntaxError(self):
        """A YAML syntax error names file:line:column."""
        lines, error, path = self.problems("smtpd", "servers:\n  - id: a\n    listeners: [unclosed\n")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith(path + ":4:1: not valid YAML: "), lines[0])
        self.assertEqual((error.problems[0].line, error.problems[0].column), (4, 1))

    def test_duplicateKey(self):
        """A key given twice is an error (YAML loaders silently keep the last one)."""
        lines, _, path = self.problems("smtpd", "environment:\n  umask: '0027'\n  umask: '0022'\n")
        self.assertEqual(lines, [path + ": environment.umask: duplicate key (first on line 2)"])

    def test_topLevelMustBeAMapping(self):
        """A file that is a list or a scalar is refused as a whole."""
        lines, _, path = self.problems("smtpd-suspend", "- {}\n")
        self.assertEqual(lines, [path + ": (top): expected a mapping of settings, got a list"])

    def test_missingFile(self):
        """A missing file is a problem of its own, unless the caller allows it."""
        path = self.dir + "/nothing.yaml"
        with self.assertRaises(ConfigError) as caught:
            load_running("smtpd-policy", path)
        self.assertEqual(str(caught.exception), path + ": no such file")
        self.assertEqual(load_running("smtpd-policy", path, missing_ok=True), {"policies": []})

    def test_referencesThatDoNotResolve(self):
        """Hooks, transports, DSN transports and certificates named but not defined are each reported."""
        lines, error, path = self.problems(
            "smtpd-app",
            """\
            servers:
              - id: in
                transport: local
                phases:
                  eod:
                    hook: main
                  rcptto:
                    hook:
                      id: default
                      recipientdomains:
                        example.com: special
                tls:
                  certs:
                    - cert: mx
            transportgroups:
              - id: default
                dsn:
                  transport: bounces
                transports:
                  - id: mx
            scripting:
              hooks:
                rcptto:
                  - id: default
                    data: ""
            """,
        )
        self.assertEqual(
            lines,
            [
                path + ': servers[0].transport: no transport with id "local" in transportgroups',
                path + ': servers[0].phases.eod.hook: no eod hook with id "main" in scripting.hooks.eod',
                path + ': servers[0].phases.rcptto.hook.recipientdomains["example.com"]: no rcptto hook with id "special" in scripting.hooks.rcptto',
                path + ': servers[0].tls.certs[0].cert: no certificate with id "mx" in pki.private',
                path + ': transportgroups[0].dsn.transport: no transport with id "bounces" in transportgroups',
            ],
        )
        self.assertEqual(error.problems[0].as_tuple(), (path, "servers[0].transport", 'no transport with id "local" in transportgroups'))

    def test_duplicateIds(self):
        """Ids that must be unique (servers, transports across groups, hooks, files) are checked."""
        lines, _, path = self.problems(
            "smtpd-app",
            """\
            servers:
              - id: a
              - id: a
            transportgroups:
              - id: g1
                transports: [{id: mx}]
              - id: g2
                transports: [{id: mx}]
            scripting:
              files:
                - {id: x.txt, data: "1"}
                - {id: x.txt, data: "2"}
            """,
        )
        self.assertEqual(
            lines,
            [
                path + ': servers[1].id: duplicate server id "a" (also at servers[0])',
                path + ': transportgroups[1].transports[0].id: duplicate transport id "mx" (also at transportgroups[0].transports[0])',
                path + ': scripting.files[1].id: duplicate file id "x.txt" (also at scripting.files[0])',
            ],
        )

    def test_schemaAndReferenceErrorsTogether(self):
        """Schema violations and broken references in one file come in one error, in file order."""
        lines, error, path = self.problems(
            "smtpd-app",
            """\
            servers:
              - id: a
                transport: nowhere
                concurrency:
                  total: 0
            transportgroups: []
            resolvr: {}
            """,
        )
        self.assertEqual(
            lines,
            [
                path + ': servers[0].transport: no transport with id "nowhere" in transportgroups',
                path + ": servers[0].concurrency.total: must be at least 1, got the number 0",
                path + ": resolvr: unknown field; did you mean resolver?",
            ],
        )
        self.assertEqual([p.line for p in error.problems], [3, 5, 7])

    def test_startupAndRunningAgree(self):
        """smtpd-app.yaml must have the servers smtpd.yaml listens for, and the listener ids tls.implicit names."""
        startup = load_startup("smtpd", write(self.dir, "smtpd.yaml", "servers:\n  - id: default\n    listeners:\n      - {port: 465, id: smtps}\n  - id: submission\n    listeners: [{port: 587}]\n"))
        app = APP_OK.replace("    transport: mx\n", "    transport: mx\n    tls:\n      implicit: [smtps, tls]\n")
        lines, _, path = self.problems("smtpd-app", app, startup=startup)
        self.assertEqual(
            lines,
            [
                path + ': servers: no server with id "submission", which smtpd.yaml listens for',
                path + ': servers[0].tls.implicit[1]: no listener with id "tls" for this server in smtpd.yaml',
            ],
        )

    def test_policySuspendDeliveryValues(self):
        """Regexes must compile, networks parse and rates have the messages/seconds form."""
        lines, _, path = self.problems(
            "smtpd-policy",
            """\
            policies:
              - fields: [remotemx, color]
                conditions:
                  - if:
                      remotemx: "/[unclosed/"
                      remoteip: ["10.0.0.0/8", "10.0.0.300"]
                    then:
                      rate: fast
            """,
        )
        self.assertEqual(lines[0], path + ': policies[0].fields[1]: expected one of "tenantid", "jobid", "transportid", "localip", "grouping", "remoteip", "remotemx", "recipientdomain", got the string "color"')
        self.assertTrue(lines[1].startswith(path + ": policies[0].conditions[0].if.remotemx: bad regular expression: "), lines[1])
        self.assertEqual(lines[2], path + ': policies[0].conditions[0].if.remoteip[1]: not an IP address or network: "10.0.0.300"')
        self.assertEqual(lines[3], path + ': policies[0].conditions[0].then.rate: expected messages per second, or messages/seconds such as 120/60, got the string "fast"')
        self.assertEqual(len(lines), 4)

    def test_suspendTagLength(self):
        """A suspend tag longer than 32 characters is refused."""
        lines, _, path = self.problems("smtpd-suspend", "suspends:\n  - tag: %s\n" % ("x" * 33,))
        self.assertEqual(lines, [path + ": suspends[0].tag: must be at most 32 characters long, got 33"])

    def test_deliveryTimeoutStates(self):
        """Per-state timeouts accept only SMTP state names."""
        lines, _, path = self.problems("smtpd-delivery", "delivery:\n  default:\n    timeout:\n      smtp:\n        MAIL: 60\n        mail: 60\n")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith(path + ': delivery.default.timeout.smtp.mail: unknown name; expected one of "BANNER"'), lines[0])

    def test_dlpRules(self):
        """dlpd rules need an id, a condition and patterns that compile."""
        lines, _, path = self.problems(
            "dlpd-app",
            """\
            rules:
              - id: A
                regex: ["(open"]
              - cards: true
              - id: A
                keywords: [x]
              - id: EMPTY
            """,
        )
        self.assertEqual(len(lines), 4, lines)
        self.assertTrue(lines[0].startswith(path + ": rules[0].regex[0]: bad regular expression: "), lines[0])
        self.assertEqual(lines[1:], [
            path + ": rules[1].id: required field is missing",
            path + ': rules[2].id: duplicate rule id "A" (also at rules[0])',
            path + ": rules[3]: the rule has no condition",
        ])

    def test_ratedPeers(self):
        """rated peers are host[:port] strings or {address, port}."""
        lines, _, path = self.problems("rated-app", "peers:\n  - mta2:port\n  - {port: 5}\n")
        self.assertEqual(lines, [path + ': peers[0]: bad port in "mta2:port"', path + ": peers[1].address: required field is missing"])

    def test_controlSocketPathOrPort(self):
        """The control socket is a Unix socket or a TCP port, not both."""
        lines, _, path = self.problems("smtpd", "environment:\n  controlsocket:\n    path: /tmp/x.ctl\n    port: 9000\n")
        self.assertEqual(lines, [path + ": environment.controlsocket: path and port cannot both be set"])

    def test_missingCertificateFile(self):
        """A certificate path that does not exist on this machine is refused at load time."""
        text = "pki:\n  private:\n    - id: mx\n      certificate: {path: missing.crt}\n      privatekey: {data: x}\n"
        lines, _, path = self.problems("smtpd-app", text)
        self.assertEqual(lines, [path + ": pki.private[0].certificate.path: no such file: %s/missing.crt" % (self.dir,)])

    def test_pathOrData(self):
        """A certificate is given by path or by data, exactly one of them."""
        write(self.dir, "a.key", "")
        text = "pki:\n  private:\n    - id: mx\n      certificate: {}\n      privatekey: {path: a.key, data: b}\n"
        lines, _, path = self.problems("smtpd-app", text)
        self.assertEqual(
            lines,
            [
                path + ": pki.private[0].certificate: expected either path or data, got a mapping",
                path + ": pki.private[0].privatekey: expected either path or data, got a mapping",
            ],
        )

    def test_textWithoutAFile(self):
        """Configuration text (a live stage deployment) is checked the same way, under the name given."""
        with self.assertRaises(ConfigError) as caught:
            parse_running("smtpd-app", "servers: 5\n", name="livestage:t1")
        self.assertEqual(str(caught.exception), "livestage:t1: servers: expected a list, got the number 5")

    def test_hookThatDoesNotCompile(self):
        """A hook script with a syntax error is refused with its hook and file:line:column."""
        needs_hsl(self)
        app = APP_OK.replace("          Accept();\n", "          Accept(\n")
        lines, _, path = self.problems("smtpd-app", app)
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith(path + ": scripting.hooks.eod[0].data: hooks/eod/default.hsl:"), lines[0])
