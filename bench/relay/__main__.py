"""
End-to-end relay: Postfix's smtp-source -> `twistd halon-smtpd` (HSL in
every phase, fsync before 250, the real queue) -> Postfix's smtp-sink, a
message counted only once the sink has it; beside Postfix relaying into
the same sink in the same run.  One 4 KiB message per inbound connection,
at 1, 10 and 50 sessions, each server run in turn so that other load on
the machine weighs on both alike.

    python -m bench.relay [--messages 2000] [--sessions 1,10,50] [--size 4096]
                          [--repeat 3] [--no-pooling] [--minimal-hooks] [--no-postfix]

A rate is messages / seconds from smtp-source's start to the sink's count
reaching them all.  CPU ms/msg is the main smtpd process's (the queue and
all delivery run there), then with its SMTP worker processes' (--workers).  Outbound connections are pooled on both sides
(Postfix's connection cache, on by default for a backlog; our
smtpd-delivery.yaml pooling) unless --no-pooling.  Postfix is configured
with ../shared/bench-baseline/postfix/setup_postfix.sh relay (root only;
port 2525 must be free) and stopped afterwards; everything started here is
stopped by its PID.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.smtp.__main__ import BASELINE, SCRIPTS, Ours, Postfix, free_port, indent, stop_process, wait_banner, write_startup

SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"

# Postfix relay into smtp-sink, from the baseline README (msg/s at 1, 10, 50 sessions).
README_POSTFIX = {1: 390, 10: 550, 50: 452}


class Sink:
    """smtp-sink on loopback with its running counters (-c) in a file."""

    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.out = open(os.path.join(workdir, "sink.out"), "w+b")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            [SINK] + user + ["-c", "127.0.0.1:%d" % self.port, "1024"], stdout=self.out, stderr=subprocess.STDOUT
        )
        if not wait_banner(self.port):
            self.stop()
            raise RuntimeError("smtp-sink did not start")

    def count(self):
        """Messages received so far (the last "mesg=N" smtp-sink printed)."""
        size = os.fstat(self.out.fileno()).st_size
        with open(self.out.name, "rb") as f:
            f.seek(max(0, size - 256))
            tail = f.read()
        at = tail.rfind(b"mesg=")
        if at < 0:
            return 0
        digits = tail[at + 5:at + 20].split(b"\r")[0].split(b"\n")[0].split()[0]
        return int(digits)

    def stop(self):
        stop_process(self.proc, 10)
        self.out.close()


def write_config(workdir, port, sink_port, pooling, scripts, workers=0):
    path = write_startup(workdir, port, workers)
    if pooling:
        delivery = os.path.join(workdir, "etc", "halon", "smtpd-delivery.yaml")
        with open(delivery, "w") as f:
            f.write('version: "6.0"\ndelivery:\n  default:\n    pooling:\n      enabled: true\n      timeout: 30\n')
    app = os.path.join(workdir, "etc", "halon", "smtpd-app.yaml")
    # Without --minimal-hooks every phase runs a script; with it only the two
    # of the default configuration that relaying needs (who may relay, queue).
    used = {phase: script for phase, script in SCRIPTS.items() if scripts or phase in ("rcptto", "eod")}
    hooks = "scripting:\n  hooks:\n%s\n" % "\n".join(
        "    %s:\n      - id: bench\n        data: |\n%s" % (phase, indent(script, 10)) for phase, script in used.items()
    )
    phases = "    phases:\n%s\n" % "\n".join("      %s:\n        hook: bench" % phase for phase in used)
    with open(app, "w") as f:
        f.write(
            'version: "6.0"\nservers:\n  - id: default\n    transport: sink\n    concurrency:\n      total: 15000\n'
            "%stransportgroups:\n  - id: default\n    transports:\n      - id: sink\n"
            "        connection:\n          server: 127.0.0.1\n          port: %d\n"
            "        session:\n          tls:\n            mode: disabled\n%s" % (phases, sink_port, hooks)
        )
    return path


def relay(port, sink, sessions, messages, size, patience=60.0):
    """
    (end-to-end msg/s, ingestion msg/s, delivered) for one smtp-source run
    into C{port}, counted at C{sink}; gives up when the sink's count has not
    moved for C{patience} seconds.
    """
    before = sink.count()
    started = time.time()
    source = subprocess.Popen(
        [SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size), "-M", "bench.test",
         "-f", "bench@bench.test", "-t", "rcpt@bench.test", "127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    ingested = None
    delivered, moved = 0, started
    try:
        while True:
            now = time.time()
            if ingested is None and source.poll() is not None:
                ingested = now
            count = sink.count() - before
            if count != delivered:
                delivered, moved = count, now
            if delivered >= messages and ingested is not None:
                break
            if now - moved > patience and ingested is not None:
                break
            time.sleep(0.005)
    finally:
        if source.poll() is None:
            source.kill()
        errors = source.communicate()[1]
    if errors:
        sys.stderr.write(errors.decode("utf-8", "replace")[-500:])
    if not delivered:
        return 0.0, 0.0, 0
    return delivered / (moved - started), messages / (ingested - started), delivered


def start_postfix(sink_port):
    """Postfix relaying into the sink on 127.0.0.1:2525 (the baseline's setup), or the reason it cannot."""
    why = Postfix.usable()
    if why is not None:
        return None, why
    setup = os.path.join(BASELINE, "postfix", "setup_postfix.sh")
    subprocess.run(["bash", setup, "relay", str(sink_port)], check=True, capture_output=True)
    subprocess.run(["postsuper", "-d", "ALL"], capture_output=True)
    subprocess.run(["script", "-qec", "postfix start", "/dev/null"], check=True, capture_output=True)
    postfix = Postfix.__new__(Postfix)
    if not wait_banner(Postfix.port):
        postfix.stop()
        raise RuntimeError("postfix did not start")
    return postfix, None


def median(runs):
    """The run with the median end-to-end rate."""
    return sorted(runs)[len(runs) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", default="1,10,50")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3, help="runs per server and session count (median shown)")
    parser.add_argument("--no-pooling", action="store_true")
    parser.add_argument("--minimal-hooks", action="store_true", help="HSL in RCPT TO and end-of-data only")
    parser.add_argument("--no-postfix", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="environment.workers: SMTP worker processes beside the main one")
    args = parser.parse_args(argv)
    sessions = [int(s) for s in args.sessions.split(",")]
    if not (os.path.exists(SOURCE) and os.path.exists(SINK)):
        print("smtp-source/smtp-sink not found (apt-get install postfix); skipped")
        return 0

    workdir = tempfile.mkdtemp(prefix="bench-relay-")
    sink = ours = postfix = None
    results, postfix_results = {}, {}
    why = "skipped (--no-postfix)"
    try:
        sink = Sink(workdir)
        ours = Ours(
            workdir,
            lambda folder, port: write_config(folder, port, sink.port, not args.no_pooling, not args.minimal_hooks, args.workers),
        )
        if not args.no_postfix:
            postfix, why = start_postfix(sink.port)
        # Warm both up (imports, first connections), then alternate runs so
        # that whatever else the machine does weighs on both alike.
        relay(ours.port, sink, 10, 200, args.size)
        if postfix is not None:
            relay(Postfix.port, sink, 10, 200, args.size)
        for n in sessions:
            ours_runs, postfix_runs = [], []
            for _ in range(args.repeat):
                cpu, every = ours.cpu(), ours.cpu(with_workers=True)
                rate, ingest, delivered = relay(ours.port, sink, n, args.messages, args.size)
                per = 1000.0 / max(delivered, 1)
                ours_runs.append((rate, ingest, delivered, (ours.cpu() - cpu) * per,
                                  (ours.cpu(with_workers=True) - every) * per))
                if postfix is not None:
                    postfix_runs.append(relay(Postfix.port, sink, n, args.messages, args.size))
            results[n] = median(ours_runs)
            if postfix_runs:
                postfix_results[n] = median(postfix_runs)
    finally:
        for part in (postfix, ours, sink):
            if part is not None:
                part.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        "Relay end to end, smtp-source -> server -> smtp-sink, %d messages of %d bytes per run, one per inbound "
        "connection, median of %d alternating runs; %s; outbound pooling %s" % (
            args.messages, args.size, args.repeat, "HSL in RCPT TO and EOD" if args.minimal_hooks else "HSL in every phase",
            "off" if args.no_pooling else "on")
    )
    print()
    print("| sessions | halon msg/s | (ingest) | delivered | CPU ms/msg | (with workers) | Postfix msg/s (same run) | delivered | ratio | README Postfix |")
    print("|---------:|------------:|---------:|----------:|-----------:|---------------:|-------------------------:|----------:|------:|---------------:|")
    for n in sessions:
        rate, ingest, delivered, cpu, every = results[n]
        pf = postfix_results.get(n)
        ratio = "%.2f" % (rate / pf[0]) if pf and pf[0] else "-"
        print(
            "| %8d | %11.0f | %8.0f | %9d | %10.1f | %14.1f | %24s | %9s | %5s | %14s |"
            % (n, rate, ingest, delivered, cpu, every, "%.0f" % pf[0] if pf else why, pf[2] if pf else "-", ratio,
               README_POSTFIX.get(n, "-"))
        )
    return 0


if __name__ == "__main__":
    # Under `python -m bench` the command line is the runner's, not ours.
    own = os.path.abspath(sys.argv[0]) == os.path.abspath(__file__)
    sys.exit(main(sys.argv[1:] if own else []))
