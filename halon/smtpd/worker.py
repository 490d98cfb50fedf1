# -*- test-case-name: tests.smtpd.test_workers -*-
"""
An SMTP worker process of smtpd (C{environment.workers}).

    python -m halon.smtpd.worker --config /etc/halon/smtpd.yaml --id 1 --fds 4,5

The main process binds the listeners, drops privileges and starts its
workers with the listening sockets as inherited descriptors (C{--fds}, in
the order of smtpd.yaml's servers and their listeners), so every process
accepts from the same sockets and the kernel hands each connection to
whichever is free.  A worker reads the same configuration files, runs the
same hooks and writes the same spool; the queue stays in the main process.

Descriptor 3 is a Unix stream socket to the main process carrying JSON
lines (L{Link}): the worker sends C{submit} with the path of each message
it spooled (the main process reads the file, logs it as received and
queues it), C{stats} with its counters every second, and C{call} when a
script calls one of the queue's functions (L{RemoteQueue}); the main
process sends C{reply} to those, and C{reload} after its own
configuration reload.  The worker's log
events go to standard output as JSON records, which the main process
publishes in its own log.

When the link closes (the main process ended) or on SIGTERM the worker
stops as smtpd does: listeners closed, sessions asked to end, spool
flushed.
"""

import argparse
import os
import signal
import socket
import sys

from twisted.internet import defer, protocol, task, threads
from twisted.logger import Logger, globalLogBeginner, jsonFileLogObserver
from twisted.python import threadable

from halon.hsl.errors import HSLRuntimeError
from halon.smtpd.workers import JSONLines, decode, encode

__all__ = ["Link", "RemoteQueue", "main"]

log = Logger()

LINK_FD = 3


class Link(JSONLines):
    """
    The worker's end of the link; also the queue sink of its SMTP servers,
    which hand it every message they spooled (L{submit}).
    """

    def __init__(self, on_reload, on_lost):
        self._on_reload = on_reload
        self._on_lost = on_lost
        self._calls = {}
        self._next = 0

    def call(self, method, args):
        """Ask the main process; a Deferred with the encoded result (an HSLRuntimeError when it refused)."""
        if not self.connected:
            return defer.fail(HSLRuntimeError("%s(): smtpd's main process is gone" % (method,)))
        self._next += 1
        d = self._calls[self._next] = defer.Deferred()
        self.send(op="call", id=self._next, method=method, args=args)
        return d

    def submit(self, message):
        self.send(op="submit", path=message.path)

    def load(self, spool_path, on_error=None):
        """The main process loaded the spool; a worker takes in nothing."""
        return 0

    def message_received(self, message):
        op = message.get("op")
        if op == "reload":
            self._on_reload()
        elif op == "reply":
            d = self._calls.pop(message.get("id"), None)
            if d is None:
                return
            if "error" in message:
                d.errback(HSLRuntimeError(message["error"]))
            else:
                d.callback(message.get("value"))

    def connectionLost(self, reason):
        calls, self._calls = self._calls, {}
        for d in calls.values():
            d.errback(HSLRuntimeError("smtpd's main process is gone"))
        self._on_lost()


class RemoteQueue:
    """
    The queue's script functions in a worker's hooks: the queue lives in
    the main process, so each call is asked of it over the link and
    waited for on the script's thread.
    """

    def __init__(self, reactor, link):
        self._reactor = reactor
        self._link = link

    def _call(self, method, *args):
        if threadable.isInIOThread():
            raise HSLRuntimeError("%s() is not available here" % (method,))
        encoded = [encode(a) for a in args]
        return decode(threads.blockingCallFromThread(self._reactor, self._link.call, method, encoded))

    def queue_quota(self, name):
        return self._call("queue_quota", name)

    def queue_suspend(self, fields, ttl, options=None):
        return self._call("queue_suspend", fields, ttl, options)

    def queue_policy(self, fields, condition, policy, ttl, options=None):
        return self._call("queue_policy", fields, condition, policy, ttl, options)

    def queue_policy_delete(self, id):
        return self._call("queue_policy_delete", id)

    def queue(self, message, sender, recipient, transportid, options=None):
        return self._call("queue", message, sender, recipient, transportid, options)


def _numeric(snapshot):
    """The counters worth adding up across processes: numbers, not the process's own."""
    return [
        [name, value]
        for name, value in snapshot
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not name.startswith("process.")
    ]


def run(reactor, config_path, fds):
    from halon.smtpd import tap
    from halon.stats import Stats

    startup, load_app = tap.load(config_path)
    stats = Stats()
    stopping = []
    status = []

    def stop():
        if not stopping:
            stopping.append(True)
            reactor.stop()

    link = Link(lambda: smtpd.reload(), stop)
    smtpd = tap.build_worker(reactor, startup, load_app, stats, link, fds, RemoteQueue(reactor, link))
    factory = protocol.Factory.forProtocol(lambda: link)
    reactor.adoptStreamConnection(LINK_FD, socket.AF_UNIX, factory)
    report = task.LoopingCall(lambda: link.send(op="stats", values=_numeric(stats.snapshot())))
    report.clock = reactor

    def started():
        try:
            smtpd.privilegedStartService()
            smtpd.startService()
        except Exception:
            log.failure("worker: could not start")
            status.append(1)
            stop()
            return
        report.start(1.0, now=True)

    def shutdown():
        if report.running:
            report.stop()
        return smtpd.stopService()

    reactor.callWhenRunning(started)
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(stop))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reactor.run(installSignalHandlers=False)
    return status[0] if status else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m halon.smtpd.worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--id", type=int, required=True, help="the worker's number in the main process's log (and in ps)")
    parser.add_argument("--fds", default="")
    args = parser.parse_args(argv)
    fds = [int(fd) for fd in args.fds.split(",") if fd]
    globalLogBeginner.beginLoggingTo([jsonFileLogObserver(os.fdopen(1, "w", encoding="utf-8"))], redirectStandardIO=False)
    from twisted.internet import reactor

    return run(reactor, args.config, fds)


if __name__ == "__main__":
    sys.exit(main())
