"""
rate() cost against a local rated, and how fast two cluster nodes agree.

    python -m bench.rated [calls]

The calls take production's path end to end: rated runs as its own
`twistd halon-rated` process, and the calls are made by an HSL script
compiled by halon.hsl and run on smtpd's L{ScriptPool} next to a running
reactor, reaching rated through the "rate" service smtpd registers
(L{halon.clients.script_services}).  The script times each call with
executiontime(), so a figure includes the HSL call (argument checks, conversions) and about a
microsecond of the timing itself.  Printed, not asserted: the target is a
median under 0.2 ms per call, and cluster counters agreeing within
syncdelay + 100 ms.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml
from twisted.internet import defer, reactor
from twisted.python.failure import Failure

from halon.clients import script_services
from halon.hsl import compile_program
from halon.hsl.host import Host
from halon.smtpd.scriptpool import ScriptPool

# One execution makes `$n` calls and leaves their latencies in `$lat`.
SCRIPT = """
$lat = [];
for ($i = 0; $i < $n; $i++) {
    $t = executiontime();
    rate("bench", "entry" . ($i % 1000), 1073741824, 60);
    $lat[] = executiontime() - $t;
}
"""
PER_EXECUTION = 500

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


async def measure(path, calls, threads):
    """(median, p90, p99, calls/s) of C{calls} rate() calls from C{threads} concurrent scripts."""
    client = script_services(reactor, {"environment": {"sockets": {"rated": {"path": path}}}})["rate"]
    host = Host(reactor=reactor)
    host.services["rate"] = client
    program = compile_program(SCRIPT, "bench.hsl", variables=("n", "lat"))
    pool = ScriptPool(reactor, threads, name="bench")
    executions = max(threads, calls // PER_EXECUTION)
    began = time.perf_counter()
    try:
        results = await defer.gatherResults(
            [pool.run("bench", program.run, host, {"n": float(calls // executions)}) for _ in range(executions)],
            consumeErrors=True,
        )
    finally:
        pool.stop()
        client.close()
    elapsed = time.perf_counter() - began
    latencies = sorted(x for result in results for x in result["lat"].values())
    n = len(latencies)
    return latencies[n // 2], latencies[n * 9 // 10], latencies[n * 99 // 100], n / elapsed


def start_rated(folder, name, startup, app=None):
    """A `twistd halon-rated` process serving C{startup} (and C{app}); returns (process, socket path)."""
    path = os.path.join(folder, name + ".sock")
    appconf = os.path.join(folder, name + "-app.yaml")
    startup = dict(startup, environment={"socket": {"path": path}, "appconf": appconf})
    config = os.path.join(folder, name + ".yaml")
    for target, data in ((config, startup), (appconf, app or {})):
        with open(target, "w") as f:
            yaml.safe_dump(data, f)
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    log = os.path.join(folder, name + ".log")
    proc = subprocess.Popen(
        [twistd, "-n", "--pidfile=", "--logfile", log, "halon-rated", "--config", config],
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("rated did not start; see %s" % (log,))
        time.sleep(0.02)
    return proc, path


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder):
    redis = shutil.which("redis-server")
    if redis is None:
        return None, None
    port = free_port()
    proc = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return port, proc


def report(label, figures):
    median, p90, p99, rate = figures
    print(
        "  %s: median %.3f ms, p90 %.3f ms, p99 %.3f ms, %.0f calls/s"
        % (label, median * 1e3, p90 * 1e3, p99 * 1e3, rate),
        flush=True,
    )


async def run(folder, calls, procs):
    _, path = procs[0]
    print("rate() from HSL scripts over rated's IPC socket, %d calls (target: median < 0.2 ms)" % calls, flush=True)
    for threads in (1, 4):
        report("local table, %d script thread(s)" % threads, await measure(path, calls, threads))
    # A cluster node sends every accepted hit to its peers.  The peer here is
    # a socket nobody reads, standing for another host: its work is not done
    # on this machine's CPUs.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        startup = {"key": "00" * 20, "listen": {"address": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM)}}
        procs.append(start_rated(folder, "node", startup, {"peers": ["127.0.0.1:%d" % peer.getsockname()[1]]}))
        report("cluster node, a UDP packet per hit, 1 script thread", await measure(procs[-1][1], calls, 1))
    port, redis = start_redis(folder)
    if redis is None:
        print("  redis backend: skipped (no redis-server)")
        return
    procs.append((redis, None))
    procs.append(start_rated(folder, "redis", {"redis": {"address": "127.0.0.1", "port": port}}))
    for threads in (1, 4):
        report("redis backend, %d script thread(s)" % threads, await measure(procs[-1][1], calls // 4, threads))


def main(argv):
    calls = int(argv[0]) if argv else 20000
    folder = tempfile.mkdtemp(prefix="hbr")
    procs = []
    failure = []
    try:
        procs.append(start_rated(folder, "local", {}))

        def done(result):
            if isinstance(result, Failure):
                failure.append(result)
            reactor.stop()

        reactor.callWhenRunning(lambda: defer.Deferred.fromCoroutine(run(folder, calls, procs)).addBoth(done))
        reactor.run()
        if failure:
            failure[0].raiseException()
        subprocess.run([sys.executable, "-c", CLUSTER, folder], env=dict(os.environ, PYTHONPATH=os.getcwd()), check=True)
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


main(sys.argv[1:])
