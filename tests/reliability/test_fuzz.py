"""
SMTP commands and message data fuzzed with hypothesis against `twistd -n
halon` on loopback: every command gets a well-formed reply, nothing
hangs, the process logs no traceback, and it still takes mail afterwards.
"""

import re
import smtplib
import socket

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet import defer, threads
from twisted.trial import unittest

from tests.allinone.helpers import MESSAGE, Workdir

REPLY = re.compile(rb"^([2-5][0-9][0-9])([ -])")
VERBS = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET", b"NOOP", b"VRFY", b"HELP", b"AUTH", b"BDAT", b"STARTTLS", b"XCLIENT", b"QUIT"]

_text = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_address = st.sampled_from([b"<a@example.com>", b"<>", b"<b@localhost>", b"<@x,@y:c@example.org>", b"a@b", b"<"]) | _text
command = st.one_of(
    st.tuples(st.sampled_from(VERBS), st.sampled_from([b"", b" "]), _address).map(b"".join),
    _text,
    st.binary(min_size=990, max_size=1200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
)
# Valid steps often enough that the fuzzed ones land in every state of a session.
valid = st.sampled_from(
    [b"EHLO fuzz.example", b"HELO fuzz.example", b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@localhost>", b"DATA", b"RSET"]
)
data = st.lists(st.one_of(_text, st.just(b"."), st.just(b".."), st.just(b"")), max_size=8)
steps = st.lists(st.tuples(st.one_of(valid, valid, command), data), min_size=1, max_size=16)
PREFIX = [(b"EHLO fuzz.example", []), (b"MAIL FROM:<a@example.com>", []), (b"RCPT TO:<b@localhost>", [])]
session = steps | st.tuples(steps, data).map(lambda t: PREFIX + t[0][:4] + [(b"DATA", t[1])] + t[0][4:])


class Conversation:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def reply(self):
        """The code of one complete reply; AssertionError on anything else."""
        while True:
            line = self.file.readline(4096)
            if not line:
                raise AssertionError("connection closed without a reply")
            match = REPLY.match(line)
            if match is None or not line.endswith(b"\r\n"):
                raise AssertionError("malformed reply line %r" % (line,))
            if match.group(2) == b" ":
                return int(match.group(1))

    def close(self):
        self.file.close()
        self.sock.close()


def converse(port, commands):
    c = Conversation(port)
    try:
        if c.reply() != 220:
            return
        for line, data in commands:
            c.sock.sendall(line + b"\r\n")
            code = c.reply()
            if code == 354:
                c.sock.sendall(b"".join(d + b"\r\n" for d in data) + b".\r\n")
                code = c.reply()
            if code in (221, 421):
                return
    finally:
        c.close()


class FuzzTests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def test_everyCommandGetsAReply(self):
        work = Workdir(self)
        process = work.start()
        port = yield process.listening

        @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(session)
        def fuzz(commands):
            converse(port, commands)

        yield threads.deferToThread(fuzz)

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                return smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)

        self.assertEqual((yield threads.deferToThread(send)), {})
        self.assertIsNone(process.status)
        self.assertNotIn(b"Traceback", process.output)
