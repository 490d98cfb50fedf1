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


def twistd(testcase, plugin, config_path, ready_path, env=None, timeout=30):
    """
    Run C{twistd -n <plugin> --config <config_path>} as a real process until
    the test ends; returns the Popen once C{ready_path} (its socket) exists.
    """
    import subprocess
    import sys

    folder = os.path.dirname(config_path)
    log = os.path.join(folder, plugin + ".log")
    command = [os.path.join(os.path.dirname(sys.executable), "twistd"), "-n", "--pidfile=", "--logfile", log]
    proc = subprocess.Popen(command + [plugin, "--config", config_path], env=dict(os.environ, **(env or {})))

    def stop():
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    testcase.addCleanup(stop)
    deadline = time.monotonic() + timeout
    while not os.path.exists(ready_path):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log) if os.path.exists(log) else open(os.devnull) as f:
                raise AssertionError("%s did not start:\n%s" % (plugin, f.read()))
        time.sleep(0.02)
    return proc


def write_yaml(folder, name, data):
    import yaml

    path = os.path.join(folder, name)
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return path
