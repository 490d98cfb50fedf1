"""
rate() cost against a local rated, and how fast two cluster nodes agree.

    python -m bench.rated [calls]

rated runs in its own process (as in production); the calls are made from
script-like threads over the IPC socket.  Printed, not asserted: the
target is a median under 0.2 ms per call, and cluster counters agreeing
within syncdelay + 100 ms.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from halon.rated.protocol import RateClient

RATED = r"""
import sys
from twisted.internet import reactor
from halon.rated.service import RatedService
from halon.stats import Stats
startup = {"environment": {"socket": {"path": sys.argv[1]}}}
if len(sys.argv) > 2:
    startup["redis"] = {"address": "127.0.0.1", "port": int(sys.argv[2])}
RatedService(reactor, startup, {}, Stats()).startService()
reactor.run()
"""

CLUSTER = r"""
import sys, time
from twisted.internet import reactor, task
from halon.rated.service import RatedService
from halon.stats import Stats

def node(folder, name):
    startup = {"key": "00" * 20, "syncdelay": 25, "listen": {"port": 0, "address": "127.0.0.1"},
               "environment": {"socket": {"path": "%s/%s.sock" % (folder, name)}}}
    svc = RatedService(reactor, startup, {}, Stats())
    svc.startService()
    return svc

async def main(folder):
    a, b = node(folder, "a"), node(folder, "b")
    await a.ready
    await b.ready
    await a.cluster.sync.set_peers([("127.0.0.1", b.cluster.port.getHost().port)])
    delays = []
    for i in range(200):
        a.backend.rate(b"bench", b"e%d" % i, 10, 60)
        start = time.perf_counter()
        while b.table.check(b"bench", b"e%d" % i, 0, 60) != 1:
            await task.deferLater(reactor, 0.0005, lambda: None)
        delays.append(time.perf_counter() - start)
    delays.sort()
    print("  cluster agreement (2 nodes, UDP, syncdelay 25 us): median %.2f ms, max %.2f ms over %d hits"
          % (delays[len(delays) // 2] * 1e3, delays[-1] * 1e3, len(delays)))
    reactor.stop()

from twisted.internet.defer import Deferred
reactor.callWhenRunning(lambda: Deferred.fromCoroutine(main(sys.argv[1])))
reactor.run()
"""


def measure(path, calls, threads=1):
    client = RateClient(path)
    latencies = []
    lock = threading.Lock()

    def run(n):
        mine = []
        for i in range(n):
            start = time.perf_counter()
            client.rate(b"bench", b"entry%d" % (i % 1000), 1 << 30, 60)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(calls // threads,)) for _ in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    client.close()
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99)], len(latencies) / elapsed


def start(args, path):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-c", RATED, path] + args, env=env)
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit("rated did not start")
        time.sleep(0.02)
    return proc


def redis_port(folder):
    import socket

    redis = shutil.which("redis-server")
    if redis is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return port, proc


def main(argv):
    calls = int(argv[0]) if argv else 20000
    folder = tempfile.mkdtemp(prefix="hbr")
    procs = []
    try:
        path = os.path.join(folder, "local.sock")
        procs.append(start([], path))
        print("rate() over rated's IPC socket, %d calls (target: median < 0.2 ms)" % calls)
        for threads in (1, 4):
            median, p99, rate = measure(path, calls, threads)
            print(
                "  local table, %d thread(s): median %.3f ms, p99 %.3f ms, %.0f calls/s"
                % (threads, median * 1e3, p99 * 1e3, rate)
            )
        port, redis = redis_port(folder)
        if redis is not None:
            procs.append(redis)
            rpath = os.path.join(folder, "redis.sock")
            procs.append(start([str(port)], rpath))
            for threads in (1, 4):
                median, p99, rate = measure(rpath, calls // 4, threads)
                print(
                    "  redis backend, %d thread(s): median %.3f ms, p99 %.3f ms, %.0f calls/s"
                    % (threads, median * 1e3, p99 * 1e3, rate)
                )
        else:
            print("  redis backend: skipped (no redis-server)")
        subprocess.run([sys.executable, "-c", CLUSTER, folder], env=dict(os.environ, PYTHONPATH=os.getcwd()), check=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


main(sys.argv[1:])
