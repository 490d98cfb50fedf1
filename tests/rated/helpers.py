"""What the rated tests share: short socket paths and waiting for real I/O."""

import os
import shutil
import tempfile
import time

from twisted.internet import reactor, task


def short_tempdir(testcase):
    """A temp folder short enough for Unix socket paths (108 bytes), removed after the test."""
    path = tempfile.mkdtemp(prefix="hrt")
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


async def wait_until(predicate, timeout, step=0.002):
    """
    Poll C{predicate} on the reactor until it holds; the seconds it took,
    or AssertionError after C{timeout}.  For real sockets only: fake time
    uses a Clock.
    """
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met within %.3f s" % (timeout,))
        await task.deferLater(reactor, step, lambda: None)
    return time.monotonic() - start


def socket_path(folder, name):
    return os.path.join(folder, name)
