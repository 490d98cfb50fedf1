"""
bench/queue: the queue at scale, and delivery throughput.

    python -m bench.queue [--recipients 1000000] [--messages 5000] [--skip-scale] [--skip-delivery]

Scale: writes a spool of N recipients (10 per message, 1,000 domains, three
transports, every one deferred), then times what halonctl leans on: the
start-up load, groupby by transport and domain, the first page of a
filtered list, and an update of 100,000 recipients to HOLD with the state
fsync'd in the journal; and the memory the index takes per recipient.
For comparison, the issue's figures for Postfix on this machine type
(100,000 deferred messages): postsuper -h 2.1 s, postqueue -j 2.6 s,
postqueue -p 4.2 s.

Delivery: M messages of 4 KiB queued at once and delivered to a local
sink (Postfix's smtp-sink when installed, else a Twisted sink), with and
without connection pooling; messages per second from first pickup to last
reply.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid as _uuid

from halon.queue import spool, states
from halon.queue.conditions import Conditions
from halon.queue.core import Queue, QueueConfig
from halon.stats import Stats


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def write_spool(path, recipients, per_message=10):
    body = b"Subject: bench\r\n\r\n" + b"x" * 1024 + b"\r\n"
    now = time.time()
    made = 0
    i = 0
    while made < recipients:
        uuid = str(_uuid.uuid4())
        count = min(per_message, recipients - made)
        envelope = {"transaction": uuid, "received": now - 7200, "sender": "sender%d@origin.example" % (i % 100),
                    "serverid": "inbound", "dsn": {}}
        records = [
            {"index": n, "recipient": "user%d@domain%d.example" % (n, (i * 7 + n) % 1000),
             "transportid": ("mx", "mx-eu", "mx-us")[(i + n) % 3], "delay": 3600 + (i % 600), "metadata": {}}
            for n in range(1, count + 1)
        ]
        message = spool.SpoolMessage(uuid, envelope, records, message=body)
        folder = os.path.join(path, uuid[:2])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, uuid + spool.SUFFIX), "wb") as f:
            f.write(message.to_bytes())
        made += count
        i += 1
    return i


def timed(label, function, rows):
    started = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - started
    rows.append((label, elapsed))
    return result


def scale(recipients, work):
    from twisted.internet import reactor

    path = os.path.join(work, "spool")
    started = time.perf_counter()
    messages = write_spool(path, recipients)
    print("spool: %d recipients in %d messages written in %.1f s" % (recipients, messages, time.perf_counter() - started))
    rows = []
    before = rss()
    queue = Queue(reactor, path, Stats(), resolver=None, config=QueueConfig({}, hostname="bench"))
    loaded = timed("start-up load", queue.load, rows)
    memory = rss() - before
    assert loaded == messages, (loaded, messages)
    now = time.time()
    from halon.queue import listing

    timed("groupby transportid, recipientdomain", lambda: listing.groupby(queue.index, None, now=now), rows)
    timed("groupby --view state", lambda: listing.groupby(queue.index, None, view="state", now=now), rows)
    predicate = Conditions(recipientdomain=["domain500.example"], state=["DEFER"]).compile()(now)
    timed("list --recipientdomain (first 1000 rows)",
          lambda: listing.Cursor(queue.index, predicate, now=now).page(1000), rows)
    timed("list, no condition (first 1000 rows)", lambda: listing.Cursor(queue.index, None, now=now).page(1000), rows)
    target = Conditions(transportid=["mx"], state=["DEFER"]).compile()(now)
    chosen = []

    def update():
        matched = [r for r in queue.index.recipients() if target(r)][:100000]
        chosen.extend(matched)
        for rcpt in matched:
            queue.index.set_state(rcpt, states.HOLD)
        queue.journal.record_many(matched)
        queue.journal.close()

    timed("update 100,000 to HOLD (journal fsync'd)", update, rows)
    print()
    print("| operation (%d recipients) | seconds |" % (recipients,))
    print("|---|---:|")
    for label, elapsed in rows:
        print("| %s | %.3f |" % (label, elapsed))
    print("| memory per recipient (RSS growth of the load) | %d bytes |" % (memory // max(1, recipients),))
    print()


class _Sink:
    """The receiving end: smtp-sink when installed, else a Twisted sink in a child process."""

    def __init__(self):
        self.port = _free_port()
        self.process = None

    def start(self):
        binary = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if os.path.exists("/usr/sbin/smtp-sink") else None)
        if binary:
            self.name = "smtp-sink"
            # smtp-sink refuses to run as root without a user to switch to.
            user = ["-u", "nobody"] if os.geteuid() == 0 else []
            self.process = subprocess.Popen([binary] + user + ["127.0.0.1:%d" % self.port, "1000"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            self.name = "twisted sink"
            self.process = subprocess.Popen([sys.executable, "-m", "bench.queue.sink", str(self.port)])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the sink did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def delivery(messages, work, sink):
    from twisted.internet import defer, reactor, task

    results = []

    @defer.inlineCallbacks
    def run(pooling):
        path = os.path.join(work, "delivery-%s" % ("pooled" if pooling else "plain"))
        app = {"transportgroups": [{"id": "g", "transports": [
            {"id": "sink", "connection": {"server": "127.0.0.1", "port": sink.port},
             "session": {"tls": {"mode": "disabled"}}}]}], "queues": {"concurrency": {"total": 100}}}
        queue = Queue(reactor, path, Stats(), resolver=None, config=QueueConfig(app, hostname="bench"))
        queue.load_delivery({"delivery": {"default": {"pooling": {"enabled": pooling, "timeout": 30}}}})
        body = b"Subject: bench\r\n\r\n" + b"x" * 4096 + b"\r\n"
        queue.startService()
        # Injected all at once, so that the spool's group commit syncs them in a few batches.
        yield defer.gatherResults([
            queue.inject("sender@origin.example", ["user%d@domain%d.example" % (i, i % 50)], body, "sink", hold=True)
            for i in range(messages)
        ])
        started = time.perf_counter()
        queue.update(None, "active")
        while len(queue.index):
            yield task.deferLater(reactor, 0.05, lambda: None)
        elapsed = time.perf_counter() - started
        yield queue.stopService()
        results.append(("pooling %s" % ("on" if pooling else "off"), messages / elapsed))

    @defer.inlineCallbacks
    def both():
        try:
            yield run(False)
            yield run(True)
        except Exception:
            import traceback

            traceback.print_exc()
        finally:
            reactor.stop()

    reactor.callWhenRunning(both)
    reactor.run()
    print("| queue -> %s, %d messages of 4 KiB, 100 connections at most | msg/s |" % (sink.name, messages))
    print("|---|---:|")
    for label, rate in results:
        print("| %s | %.0f |" % (label, rate))
    print("(baseline on this machine type: Postfix relay end to end into smtp-sink 390-550 msg/s; "
          "see /work/shared/bench-baseline/README.md)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.queue")
    parser.add_argument("--recipients", type=int, default=1000000)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-delivery", action="store_true")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-queue-")
    try:
        if not args.skip_scale:
            scale(args.recipients, work)
        if not args.skip_delivery:
            sink = _Sink()
            sink.start()
            try:
                delivery(args.messages, work, sink)
            finally:
                sink.stop()
    finally:
        shutil.rmtree(work, True)


if __name__ == "__main__":
    main()
