"""A real redis-server for a test: a free loopback port, a temp folder, no persistence."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from twisted.trial.unittest import SkipTest

REDIS = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(testcase):
    """(port, folder) of a fresh redis-server, stopped after the test; skips without redis-server."""
    if REDIS is None:
        raise SkipTest("redis-server is not installed (apt-get install redis-server)")
    folder = tempfile.mkdtemp(prefix="hrr")
    testcase.addCleanup(shutil.rmtree, folder, True)
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _wait_ready(port, proc):
            testcase.addCleanup(_stop, proc)
            return port, folder
        _stop(proc)
    raise AssertionError("redis-server did not start")


def _wait_ready(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
