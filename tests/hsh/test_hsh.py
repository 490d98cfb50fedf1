"""
The hsh command as users run it: a file, stdin, the REPL, -s, -R with a
module, and -A with a resolver, against a real DNS server on loopback.
"""

import os
import sys

from twisted.internet import defer, protocol, reactor, utils
from twisted.trial import unittest

from tests.util.dnsserver import DNSServer

HSH = os.path.join(os.path.dirname(sys.executable), "hsh")


def hsh(*args, stdin=None, cwd=None):
    """(stdout, stderr, exit code) of hsh run with C{args}, fed C{stdin}."""
    if stdin is None:
        return utils.getProcessOutputAndValue(HSH, args, env=dict(os.environ), path=cwd)
    # getProcessOutputAndValue cannot feed stdin: go through sh with a here-file.
    path = os.path.join(cwd or ".", "stdin.txt")
    with open(path, "wb") as f:
        f.write(stdin)
    command = "exec %s %s < %s" % (HSH, " ".join(args), path)
    return utils.getProcessOutputAndValue("/bin/sh", ["-c", command], env=dict(os.environ), path=cwd)


class HshTests(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(HSH):
            raise unittest.SkipTest("the hsh console script is not installed")
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(text)
        return path

    @defer.inlineCallbacks
    def test_runFile(self):
        path = self.write("test.hsl", b'echo "Hello World";\n$a = [1, 2];\necho $a;\n')
        out, err, code = yield hsh(path)
        self.assertEqual((out, err, code), (b'Hello World\n[0=>1,1=>2]\n', b"", 0))

    @defer.inlineCallbacks
    def test_runtimeErrorIsPositioned(self):
        path = self.write("bad.hsl", b'echo "first";\n\n  echo $missing;\necho "never";\n')
        out, err, code = yield hsh(path)
        self.assertEqual(out, b"first\n")
        self.assertEqual(err, path.encode() + b":3:8: $missing is not defined\n")
        self.assertEqual(code, 1)

    @defer.inlineCallbacks
    def test_syntaxCheck(self):
        good = self.write("good.hsl", b"echo 1;\n")
        bad = self.write("bad.hsl", b"echo 1;\nif (true {\n")
        self.assertEqual((yield hsh("-s", good)), (b"", b"", 0))
        out, err, code = yield hsh("-s", bad)
        self.assertEqual((out, code), (b"", 1))
        self.assertEqual(err, bad.encode() + b":2:10: syntax error, unexpected '{'\n")

    @defer.inlineCallbacks
    def test_stdin(self):
        out, err, code = yield hsh("-", stdin=b'echo 6 * 7;\n', cwd=self.dir)
        self.assertEqual((out, err, code), (b"42\n", b"", 0))

    @defer.inlineCallbacks
    def test_replKeepsItsScope(self):
        script = b'$x = 1;\nfunction f($n) {\n  return $n * 10;\n}\necho f($x);\necho $nope;\necho "still here";\n'
        out, err, code = yield hsh(stdin=script, cwd=self.dir)
        self.assertEqual(out, b"10\nstill here\n")
        self.assertEqual(err, b"<stdin>:1:6: $nope is not defined\n")
        self.assertEqual(code, 0)

    @defer.inlineCallbacks
    def test_moduleUnderRootPath(self):
        self.write("module.hsl", b'function foo() { echo "Hello World"; }\n$greeting = "hi";\n')
        self.write("test.hsl", b'import { foo, $greeting } from "file://module.hsl";\nfoo();\necho $greeting;\n')
        out, err, code = yield hsh("-R", ".", "test.hsl", cwd=self.dir)
        self.assertEqual((out, err, code), (b"Hello World\nhi\n", b"", 0))

    @defer.inlineCallbacks
    def test_filesNeedARootPath(self):
        self.write("test.hsl", b'import { foo } from "file://module.hsl";\n')
        out, err, code = yield hsh("test.hsl", cwd=self.dir)
        self.assertEqual(code, 1)
        self.assertIn(b"test.hsl:1:1: cannot read file://module.hsl: file access is disabled", err)

    @defer.inlineCallbacks
    def test_resolverFromAppconf(self):
        """dns_query() through the resolver smtpd-app.yaml names: a real DNS server on loopback."""
        server = DNSServer(reactor, {("mx.example.com", "a"): ["192.0.2.25"], ("example.com", "mx"): [(10, "mx.example.com")]})
        port = server.start()
        self.addCleanup(server.stop)
        app = self.write("smtpd-app.yaml", b'resolver:\n  servers: ["127.0.0.1:%d"]\n' % port)
        self.write(
            "dns.hsl",
            b'echo dns_query("mx.example.com");\necho dns_query("example.com", ["type" => "mx"])["result"];\n'
            b'echo dns_query("nowhere.example")["error"];\n',
        )
        out, err, code = yield hsh("-A", app, "dns.hsl", cwd=self.dir)
        self.assertEqual(err, b"")
        self.assertEqual(
            out.splitlines(),
            [b'["result"=>[0=>"192.0.2.25"],"dnssec"=>false]', b'[0=>"10 mx.example.com"]', b"NXDOMAIN"],
        )

    @defer.inlineCallbacks
    def test_version(self):
        out, err, code = yield hsh("-v")
        self.assertEqual(code, 0)
        self.assertIn(b"Halon", out)


class _Terminal(protocol.ProcessProtocol):
    """Types each line after a prompt appears, as a user at a terminal would."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.output = b""
        self.ended = defer.Deferred()

    def childDataReceived(self, fd, data):
        self.output += data
        if self.output.endswith((b"HSH> ", b"...> ")):
            if self.lines:
                self.transport.write(self.lines.pop(0) + b"\n")
            else:
                self.transport.write(b"\x04")

    def processEnded(self, reason):
        self.ended.callback(reason.value.exitCode)


class ReplTests(unittest.TestCase):
    """The shell through a real pseudo-terminal: prompts, continuation lines, errors that do not end it."""

    @defer.inlineCallbacks
    def test_interactive(self):
        if not os.path.exists(HSH):
            raise unittest.SkipTest("the hsh console script is not installed")
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        terminal = _Terminal([b'echo "Hello World";', b"function twice($x) {", b"  return $x * 2;", b"}", b"echo $nope;", b"echo twice(21);"])
        env = dict(os.environ, HOME=home, TERM="dumb")
        reactor.spawnProcess(terminal, HSH, [HSH], env=env, usePTY=True)
        code = yield terminal.ended
        self.assertEqual(code, 0)
        text = terminal.output.replace(b"\r\n", b"\n")
        self.assertEqual(
            text,
            b'HSH> echo "Hello World";\nHello World\n'
            b"HSH> function twice($x) {\n...>   return $x * 2;\n...> }\n"
            b"HSH> echo $nope;\n<stdin>:1:6: $nope is not defined\n"
            b"HSH> echo twice(21);\n42\nHSH> \n",
        )
        with open(os.path.join(home, ".hsh_history"), "rb") as f:
            self.assertIn(b"echo twice(21);", f.read())
