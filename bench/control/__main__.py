"""
How fast a control call is answered: process-stats against a control
socket served by a daemon process, by the client halonctl uses and by the
whole `halonctl process-stats` command.  The target is under 50 ms.

    python -m bench.control [calls]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from halon.control.client import ControlClient
from halon.control.pb import control_pb2

DAEMON = r"""
import sys
from twisted.internet import reactor
from halon.control import handlers
from halon.control.service import ControlService
from halon.stats import Stats
stats = Stats()
stats.gauge("process.pid", lambda: 1)
for i in range(200):
    stats.counter("bench.counter%d" % i).increment(i)
ControlService(reactor, sys.argv[1], {"ProcessStats": handlers.process_stats(stats)}).startService()
reactor.run()
"""


def main(argv):
    calls = int(argv[0]) if argv else 500
    folder = tempfile.mkdtemp(prefix="hbc")
    path = os.path.join(folder, "smtpd.ctl")
    daemon = subprocess.Popen([sys.executable, "-c", DAEMON, path])
    try:
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            with ControlClient(path) as client:
                client.call("ProcessStats", control_pb2.ProcessStatsRequest())
            times.append(time.perf_counter() - start)
        times.sort()
        print("process-stats, %d calls on a new connection each (target < 50 ms)" % (calls,))
        print("  control client: median %.2f ms, p99 %.2f ms" % (statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000))
        halonctl = os.path.join(os.path.dirname(sys.executable), "halonctl")
        runs = []
        for _ in range(10):
            start = time.perf_counter()
            subprocess.run([halonctl, "process-stats", "--socket", path], stdout=subprocess.DEVNULL, check=True)
            runs.append(time.perf_counter() - start)
        print("  halonctl process-stats (the whole command): median %.0f ms" % (statistics.median(runs) * 1000,))
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(folder, True)


if __name__ == "__main__":
    main(sys.argv[1:])
