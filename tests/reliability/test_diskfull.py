"""
A full disk under `twistd -n halon`: the spool on a small tmpfs the test
mounts.  Messages that do not fit are answered 452 (try later), the
process keeps serving, and every message answered 250 is on disk.
"""

import os
import smtplib
import subprocess

from twisted.internet import defer, threads
from twisted.trial import unittest

from tests.allinone.helpers import Workdir

SPOOL_SIZE = 256 * 1024
MESSAGE_SIZE = 20 * 1024


def mount_tmpfs(testcase, path, size):
    """Mount a tmpfs of C{size} bytes on C{path} until the test ends; skip where the system will not."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("mounting a file system needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=%d,mode=0750" % size, "tmpfs", path], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise unittest.SkipTest("cannot mount a tmpfs here: " + result.stderr.strip())
    testcase.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True)


class DiskFullTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_fullSpoolAnswers452AndLosesNothing(self):
        work = Workdir(self)
        mount_tmpfs(self, work.spool, SPOOL_SIZE)
        process = work.start()
        port = yield process.listening

        def fill():
            accepted, refused = {}, []
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.ehlo()
                for n in range(2 * SPOOL_SIZE // MESSAGE_SIZE):
                    body = b"Subject: fill %d\r\n\r\n" % n + (b"%05d" % n) * (MESSAGE_SIZE // 5) + b"\r\n"
                    smtp.mail("fill@example.com")
                    smtp.rcpt("r@example.org")
                    try:
                        code, text = smtp.data(body)
                    except smtplib.SMTPDataError as e:
                        code, text = e.smtp_code, e.smtp_error
                    if code == 250:
                        accepted[text.split()[-1].decode()] = body
                    else:
                        refused.append((code, text))
                        smtp.rset()
                # Still serving after the disk filled up.
                noop = smtp.noop()[0]
            return accepted, refused, noop

        accepted, refused, noop = yield threads.deferToThread(fill)
        self.assertTrue(accepted, "nothing fit at all")
        self.assertTrue(refused, "the spool never filled up")
        self.assertEqual({code for code, _ in refused}, {452}, refused[:3])
        self.assertEqual(noop, 250)
        spooled = work.spooled()
        self.assertEqual(sorted(set(accepted) - set(spooled)), [])
        for uuid, body in accepted.items():
            self.assertEqual(spooled[uuid].read_message(), body)
        leftovers = [n for _, _, files in os.walk(work.spool) for n in files if n.endswith(".tmp")]
        self.assertEqual(leftovers, [], "a refused message left a temporary file taking space")
