"""
Durable SMTP ingestion: `twistd halon-smtpd` with an HSL script in every
phase, against Postfix (queue with fsync, discard transport) in the same
run, both driven by Postfix's smtp-source (one 4 KiB message per
connection) at 1, 10 and 50 sessions; then idle connections held open on
our server, with the memory each costs and a new session still served.

    python -m bench.smtp [--messages 2000] [--sessions 1,10,50] [--size 4096]
                         [--idle 10000] [--no-postfix] [--repeat 1] [--workers 1]

smtpd runs with one SMTP worker process beside the main one unless
--workers says otherwise (environment.workers): two processes for the two
cores of the machine the targets were set on, as Postfix spreads a
message over several.  --workers 0 measures a single process.

With --repeat N every figure is the median of N runs, ours and Postfix's
taking turns at each session count so that other work on the machine
weighs on both alike.

Postfix is configured with ../shared/bench-baseline/postfix/setup_postfix.sh
(root only; port 2525 must be free) and stopped afterwards.  The figures of
that folder's README are printed beside ours for reference.  Everything
started here is stopped by its PID.
"""

import argparse
import statistics
import os
import re
import resource
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

from halon.config import embedded

BASELINE = os.environ.get("HALON_BENCH_BASELINE", "/work/shared/bench-baseline")
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Postfix -> discard with fsync, from the baseline README (msg/s at 1, 10, 50 sessions).
README_POSTFIX = {1: 480, 10: 708, 50: 650}
README_TWISTED = {1: 470, 10: 720, 50: 780}

SCRIPTS = {
    "connect": 'if ($arguments["remoteip"] == "192.0.2.1") Reject(); Accept();',
    "helo": 'if (str_lower($arguments["host"]) == "bad.example") Reject(); Accept();',
    "mailfrom": '$domain = $arguments["address"]["domain"]; if ($domain == "blocked.example") Reject(); Accept();',
    "rcptto": embedded.RCPTTO_HOOK,
    "eod": embedded.EOD_HOOK,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def indent(text, n):
    return "\n".join(" " * n + line for line in text.splitlines())


def write_startup(workdir, port, workers=0):
    """The embedded default's smtpd.yaml on C{port}, with room for many connections and C{workers}."""
    path = embedded.write_default(workdir)
    with open(path) as f:
        text = f.read()
    text = re.sub(r"port: \d+", "port: %d" % port, text)
    if workers:
        text = text.replace("  umask:", "  workers: %d\n  umask:" % workers)
    if "rlimit:" not in text:
        text = text.replace("  umask:", "  rlimit:\n    nofile: 20000\n  umask:")
    with open(path, "w") as f:
        f.write(text)
    return path


def write_config(workdir, port, workers=0):
    path = write_startup(workdir, port, workers)
    # Postfix discards; our queue keeps the messages spooled instead of delivering them.
    suspend = os.path.join(workdir, "etc", "halon", "smtpd-suspend.yaml")
    with open(suspend) as f:
        text = f.read()
    with open(suspend, "w") as f:
        f.write(text.replace("suspends: []", "suspends:\n  - {}"))
    app = os.path.join(workdir, "etc", "halon", "smtpd-app.yaml")
    hooks = "\n".join(
        "    %s:\n      - id: bench\n        data: |\n%s" % (phase, indent(script, 10)) for phase, script in SCRIPTS.items()
    )
    phases = "\n".join("      %s:\n        hook: bench" % phase for phase in SCRIPTS)
    with open(app, "w") as f:
        f.write(
            'version: "6.0"\nservers:\n  - id: default\n    transport: mx\n    concurrency:\n      total: 15000\n'
            "    phases:\n%s\ntransportgroups:\n  - id: default\n    transports:\n      - id: mx\n"
            "scripting:\n  hooks:\n%s\n" % (phases, hooks)
        )
    return path


def stop_process(proc, grace=15):
    """SIGTERM, and SIGKILL when it has not ended after C{grace} seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Ours:
    """`twistd halon-smtpd` in C{workdir}, on the config C{write(workdir, port)} writes."""

    def __init__(self, workdir, write=write_config):
        self.port = free_port()
        self.config = write(workdir, self.port)
        self.log = open(os.path.join(workdir, "twistd.log"), "wb")
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.proc = subprocess.Popen(
            [TWISTD, "-n", "--pidfile=", "halon-smtpd", "--config", self.config],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.spool = os.path.join(workdir, "var", "spool", "halon", "queue")
        if not wait_banner(self.port):
            self.stop()
            with open(self.log.name, "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace")
            raise RuntimeError("twistd halon-smtpd did not start:\n" + tail)

    def wait_workers(self, count, timeout=60):
        """Wait until C{count} worker processes say they serve (their start-up is not measured)."""
        end = time.time() + timeout
        while time.time() < end:
            with open(self.log.name, "rb") as f:
                if len(set(re.findall(rb"worker (\d+) serving", f.read()))) >= count:
                    return
            time.sleep(0.2)
        raise RuntimeError("the worker processes did not start")

    def pids(self):
        """The server's process and its worker processes (environment.workers)."""
        pids = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        if f.read().rsplit(")", 1)[1].split()[1] == str(self.proc.pid):
                            pids.append(int(entry))
                except (OSError, IndexError):
                    pass
        return pids

    def memory(self):
        """(current, peak) resident set in MiB, workers included."""
        values = {"VmRSS": 0.0, "VmHWM": 0.0}
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith(("VmRSS:", "VmHWM:")):
                            values[line[:5]] += int(line.split()[1]) / 1024.0
            except OSError:
                pass
        return values["VmRSS"], values["VmHWM"]

    def cpu(self, with_workers=False):
        """Seconds of CPU the main process has used so far (every thread), and its workers' with C{with_workers}."""
        total = 0.0
        for pid in self.pids() if with_workers else [self.proc.pid]:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def wait_banner(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(512).startswith(b"220"):
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def smtp_source(port, sessions, messages, size):
    """msg/s as the baseline's smtp_bench.sh measures it, or None when it failed."""
    script = os.path.join(BASELINE, "smtp_bench.sh")
    env = dict(os.environ, BENCH_TIMEOUT="300")
    result = subprocess.run(
        ["bash", script, "127.0.0.1:%d" % port, str(sessions), str(messages), str(size)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = result.stdout.strip().splitlines()
    if not lines or not lines[-1].endswith("msgs/s"):
        sys.stderr.write(result.stdout + result.stderr)
        return None
    completed = re.search(r"completed=(\d+)", result.stdout)
    if completed and int(completed.group(1)) < messages:
        sys.stderr.write("only %s of %d messages completed\n" % (completed.group(1), messages))
    return float(lines[-1].split()[0])


def _median(rates):
    """The median of the runs that did not fail, or None."""
    done = [r for r in rates if r]
    return statistics.median(done) if done else None


def count_spooled(path):
    return sum(1 for _d, _s, files in os.walk(path) for name in files if name.endswith(".hqf"))


class Postfix:
    """The Debian postfix package as the baseline configures it: 127.0.0.1:2525, fsync'd queue, discard."""

    port = 2525

    @staticmethod
    def usable():
        if os.geteuid() != 0 or shutil.which("postfix") is None:
            return "needs root and the postfix package"
        with socket.socket() as s:
            # As Postfix binds: connections of an earlier run left in
            # TIME_WAIT do not make the port busy.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", Postfix.port))
            except OSError:
                return "port 2525 is in use"
        return None

    def __init__(self):
        setup = os.path.join(BASELINE, "postfix", "setup_postfix.sh")
        subprocess.run(["bash", setup, "discard"], check=True, capture_output=True)
        subprocess.run(["postsuper", "-d", "ALL"], capture_output=True)
        subprocess.run(["script", "-qec", "postfix start", "/dev/null"], check=True, capture_output=True)
        if not wait_banner(self.port):
            self.stop()
            raise RuntimeError("postfix did not start")

    def stop(self):
        """Stops Postfix and waits until its master has let go of the port (postfix stop does not)."""
        subprocess.run(["script", "-qec", "postfix stop", "/dev/null"], capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Postfix.usable() is not None:
            time.sleep(0.1)


def hold_idle(port, count):
    """Open C{count} connections and read each banner; the sockets, kept open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        sockets.append(s)
    for s in sockets:
        s.recv(512)
    return sockets


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.smtp")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", default="1,10,50")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--no-postfix", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="environment.workers: SMTP worker processes beside the main one")
    args = parser.parse_args(argv)
    sessions = [int(s) for s in args.sessions.split(",")]
    if shutil.which("smtp-source") is None and not os.path.exists("/usr/sbin/smtp-source"):
        print("smtp-source not found (apt-get install postfix); skipped")
        return 0

    workdir = tempfile.mkdtemp(prefix="bench-smtp-")
    ours, postfix, results, postfix_results = None, None, {}, {}
    try:
        ours = Ours(workdir, lambda folder, port: write_config(folder, port, args.workers))
        ours.wait_workers(args.workers)
        why = "skipped (--no-postfix)" if args.no_postfix else Postfix.usable()
        if why is None:
            postfix = Postfix()
        runs = {n: [] for n in sessions}
        postfix_runs = {n: [] for n in sessions}
        spooled = {n: 0 for n in sessions}
        cpu = {n: [] for n in sessions}
        rss = {}
        for _ in range(args.repeat):
            for n in sessions:
                before = count_spooled(ours.spool)
                used = ours.cpu(with_workers=True)
                runs[n].append(smtp_source(ours.port, n, args.messages, args.size))
                cpu[n].append((ours.cpu(with_workers=True) - used) * 1000.0 / args.messages)
                spooled[n] += count_spooled(ours.spool) - before
                rss[n] = ours.memory()[0]
                if postfix is not None:
                    postfix_runs[n].append(smtp_source(Postfix.port, n, args.messages, args.size))
        for n in sessions:
            results[n] = (_median(runs[n]), rss[n], spooled[n], statistics.median(cpu[n]))
            if postfix is not None:
                postfix_results[n] = _median(postfix_runs[n])
        if postfix is not None:
            postfix.stop()
            postfix = None
        print(
            "SMTP ingestion, %d messages of %d bytes per run, one per connection, HSL in every phase, "
            "fsync before 250%s%s"
            % (
                args.messages,
                args.size,
                "; medians of %d runs" % args.repeat if args.repeat > 1 else "",
                "; %d worker process%s" % (args.workers, "" if args.workers == 1 else "es") if args.workers else "; no worker process",
            )
        )
        print()
        print(
            "| sessions | halon-smtpd msg/s | Postfix (same run) | ratio | CPU ms/msg | RSS MiB | spooled | README Postfix | README bare Twisted |"
        )
        print(
            "|---------:|------------------:|-------------------:|------:|-----------:|--------:|--------:|---------------:|--------------------:|"
        )
        for n in sessions:
            rate, rss, count, used = results[n]
            pf = postfix_results.get(n)
            ratio = "%.2f" % (rate / pf) if rate and pf else "-"
            print(
                "| %8d | %17s | %18s | %5s | %10.2f | %7.1f | %7d | %14s | %19s |"
                % (
                    n,
                    "%.0f" % rate if rate else "failed",
                    "%.0f" % pf if pf else (why or "failed"),
                    ratio,
                    used,
                    rss,
                    count,
                    README_POSTFIX.get(n, "-"),
                    README_TWISTED.get(n, "-"),
                )
            )
        if args.idle:
            print()
            rss_before = ours.memory()[0]
            started = time.time()
            sockets = hold_idle(ours.port, args.idle)
            opened = time.time() - started
            rss_after = ours.memory()[0]
            with smtplib.SMTP("127.0.0.1", ours.port, timeout=30) as smtp:
                smtp.sendmail("a@example.com", ["b@example.org"], b"Subject: while idle\r\n\r\nhi\r\n")
                served = "yes"
            for s in sockets:
                s.close()
            print(
                "%d idle connections opened in %.1f s; RSS %.1f -> %.1f MiB (%.1f KiB per connection); "
                "new session served while they were open: %s"
                % (args.idle, opened, rss_before, rss_after, (rss_after - rss_before) * 1024 / args.idle, served)
            )
    finally:
        if postfix is not None:
            postfix.stop()
        if ours is not None:
            ours.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    # Under `python -m bench` the command line is the runner's, not ours.
    own = os.path.abspath(sys.argv[0]) == os.path.abspath(__file__)
    sys.exit(main(sys.argv[1:] if own else []))
