"""`twistd halon-rated` as real processes: two nodes syncing over UDP, and config errors."""

import os
import socket
import subprocess
import sys
import time

from twisted.internet import threads
from twisted.trial import unittest

from halon.rated.protocol import RateClient
from tests.rated.helpers import short_tempdir, twistd, write_yaml



def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TwistdTests(unittest.TestCase):
    def setUp(self):
        self.folder = short_tempdir(self)
        # A key of its own: a port picked free may be taken by another run's
        # node before ours binds it, and that node's packets must not count.
        self.key = os.urandom(20).hex()

    def node(self, name, port, peer_port):
        sock = os.path.join(self.folder, name + ".sock")
        write_yaml(self.folder, name + "-app.yaml", {"peers": ["127.0.0.1:%d" % peer_port]})
        startup = {
            "key": self.key,
            "syncdelay": 25,
            "listen": {"address": "127.0.0.1", "port": port},
            "environment": {"socket": {"path": sock}, "appconf": name + "-app.yaml"},
        }
        twistd(self, "halon-rated", write_yaml(self.folder, name + ".yaml", startup), sock)
        client = RateClient(sock)
        self.addCleanup(client.close)
        return client

    def test_twoProcessesAgree(self):
        """Hits on one rated process are counted by its peer process (how fast: bench/rated)."""
        pa, pb = free_udp_port(), free_udp_port()
        a, b = self.node("a", pa, pb), self.node("b", pb, pa)

        def run():
            for _ in range(5):
                self.assertIs(a.rate(b"outbound", b"alice", 10, 60), True)
            start = time.monotonic()
            while b.rate(b"outbound", b"alice", 0, 60) != 5:
                self.assertLess(time.monotonic() - start, 10, "the peer never agreed")
                time.sleep(0.001)
            self.assertIs(b.rate(b"outbound", b"alice", 6, 60), True)
            self.assertIs(b.rate(b"outbound", b"alice", 6, 60), False)

        return threads.deferToThread(run)

    def test_badConfigStopsWithTheFileNamed(self):
        """A config that is not YAML stops twistd with the file and the place named."""
        path = os.path.join(self.folder, "rated.yaml")
        with open(path, "w") as f:
            f.write("key: [unclosed\n")
        twistd_bin = os.path.join(os.path.dirname(sys.executable), "twistd")
        result = subprocess.run(
            [twistd_bin, "-n", "--pidfile=", "halon-rated", "--config", path], capture_output=True, text=True
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(path + ":2:1: not valid YAML", result.stdout + result.stderr)
