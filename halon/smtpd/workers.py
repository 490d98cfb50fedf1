# -*- test-case-name: tests.smtpd.test_workers -*-
"""
The main process's side of smtpd's SMTP worker processes
(C{environment.workers}; the worker's side is L{halon.smtpd.worker}).

Python runs one script at a time per process, so a single smtpd process
uses one core for its hooks however many the machine has.  Workers take
connections from the same listening sockets and spool what they accept;
the main process keeps the queue, delivery and the control socket, and
learns of each spooled message over the worker's link.

A worker that dies is started again after L{RESTART_DELAY} seconds, and
later each time it dies soon after its start (a configuration it cannot
load), up to L{RESTART_MAX}.  What
it spooled just before dying may not have reached the main process, so
the spool is searched then for committed files the queue does not hold
(the same files a restart of smtpd would load).  Counters of the workers
are added to the main process's (C{halonctl process-stats}); a reload of
the main process's configuration is passed on to every worker.

The queue's script functions (C{queue_quota}, C{queue_suspend},
C{queue_policy}, C{queue_policy_delete}, and C{queue()} of a MIME or
MailMessage object) called by a worker's script are answered here, by the
queue they concern: the worker sends C{call} with the arguments in the
link's encoding of HSL values (L{encode}), and gets C{reply}.
"""

import json
import os
import socket
import sys

from twisted.application import service
from twisted.internet import defer, error, protocol, threads
from twisted.logger import Logger, eventFromJSON, globalLogPublisher
from twisted.protocols.basic import LineOnlyReceiver

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray
from halon.queue import spool as spool_files

__all__ = ["Workers", "JSONLines", "encode", "decode", "QUEUE_FUNCTIONS"]

log = Logger()

RESTART_DELAY = 1.0
RESTART_MAX = 60.0
# A worker that served this long before ending is restarted after RESTART_DELAY again.
STABLE = 30.0
STOP_GRACE = 15.0


QUEUE_FUNCTIONS = frozenset(("queue_quota", "queue_suspend", "queue_policy", "queue_policy_delete", "queue"))


class _Message:
    """A message a worker's script queues, as the queue's script service reads it."""

    def __init__(self, data):
        self._data = data

    def to_bytes(self):
        return self._data


def encode(value):
    """An HSL value (or a message to queue) as JSON: strings and arrays tagged, since both are bytes-keyed."""
    if isinstance(value, bytes):
        return {"s": value.decode("latin-1")}
    if isinstance(value, HSLArray):
        return {"a": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, float, int)):
        return value
    if callable(getattr(value, "to_bytes", None)):
        return {"m": value.to_bytes().decode("latin-1")}
    raise HSLRuntimeError("a %s cannot be passed to the main process" % type(value).__name__)


def decode(value):
    if isinstance(value, dict):
        if "s" in value:
            return value["s"].encode("latin-1")
        if "a" in value:
            return HSLArray.from_pairs([(decode(k), decode(v)) for k, v in value["a"]])
        return _Message(value["m"].encode("latin-1"))
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class JSONLines(LineOnlyReceiver):
    """Either end of a worker's link: JSON objects, one a line."""

    delimiter = b"\n"
    MAX_LENGTH = 16 * 1024 * 1024

    def send(self, **message):
        if self.connected:
            self.sendLine(json.dumps(message).encode("utf-8"))

    def lineReceived(self, line):
        try:
            message = json.loads(line)
        except ValueError:
            log.error("an unreadable line on a worker's link")
            return
        self.message_received(message)

    def message_received(self, message):
        raise NotImplementedError


class _Link(JSONLines):
    def __init__(self, worker):
        self.worker = worker

    def message_received(self, message):
        op = message.get("op")
        if op == "submit":
            self.worker.pool.submit_file(message.get("path", ""))
        elif op == "call":
            d = self.worker.pool.call(message.get("method"), message.get("args", []))
            d.addCallbacks(
                lambda value: self.send(op="reply", id=message.get("id"), value=value),
                lambda failure: self.send(op="reply", id=message.get("id"), error=failure.getErrorMessage()),
            )
        elif op == "stats":
            if not self.worker.serving:
                self.worker.serving = True
                log.info("worker {n} serving", n=self.worker.n)
            self.worker.stats = message.get("values", [])

    def connectionLost(self, reason):
        if self.worker.link is self:
            self.worker.link = None


class _Worker(protocol.ProcessProtocol):
    """One worker process: its log, its link, its counters and its end."""

    def __init__(self, pool, n):
        self.pool = pool
        self.n = n
        self.link = None
        self.serving = False
        self.stats = []
        self.ended = defer.Deferred()
        self.started = pool._reactor.seconds()
        self._log = b""
        self._errors = b""

    def childDataReceived(self, fd, data):
        if fd == 1:
            self._log += data
            *records, self._log = self._log.split(b"\x1e")
            for record in records:
                self._publish(record)
        else:
            self._errors += data
            *lines, self._errors = self._errors.split(b"\n")
            for line in lines:
                if line.strip():
                    log.error("worker {n}: {line}", n=self.n, line=line.decode("utf-8", "replace"))

    def _publish(self, record):
        record = record.strip()
        if not record:
            return
        try:
            event = eventFromJSON(record.decode("utf-8"))
        except ValueError:
            return
        event["worker"] = self.n
        globalLogPublisher(event)

    def send(self, **message):
        if self.link is not None:
            self.link.send(**message)

    def signal(self, name):
        try:
            self.transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    def processEnded(self, reason):
        self.pool.ended(self, reason)
        self.ended.callback(None)


class Workers(service.Service):
    """
    @param smtpd: the main process's L{halon.smtpd.service.SMTPDService}
        (its bound ports are handed to the workers).
    @param config_path: smtpd.yaml, which the workers load themselves.
    @param count: how many workers.
    @param known: C{known(uuid)} tells whether the queue holds a message;
        one it does not hold goes to the queue through smtpd's committer,
        as one the main process received itself.
    @param services: the script services of the main process's hooks (its
        "queue" answers the workers' scripts), or None without HSL.
    """

    name = "workers"

    def __init__(self, reactor, smtpd, config_path, count, known, stats, services=None):
        self._reactor = reactor
        self._smtpd = smtpd
        self._config_path = os.path.abspath(config_path)
        self._count = count
        self._known = known
        self._spool = os.path.abspath(smtpd.spool.path)
        self._services = services if services is not None else {}
        self.workers = {}
        self._restarts = {}
        self._delays = {}
        stats.add_source(self._counters)
        stats.gauge("process.workers", lambda: len(self.workers))

    def startService(self):
        service.Service.startService(self)
        for n in range(1, self._count + 1):
            self._spawn(n)

    def _spawn(self, n):
        self._restarts.pop(n, None)
        worker = _Worker(self, n)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ports = [port.fileno() for port in self._smtpd.ports]
        child_fds = {0: "w", 1: "r", 2: "r", 3: theirs.fileno()}
        for i, fd in enumerate(ports):
            child_fds[4 + i] = fd
        args = [
            sys.executable,
            "-m",
            "halon.smtpd.worker",
            "--config",
            self._config_path,
            "--id",
            str(n),
            "--fds",
            ",".join(str(4 + i) for i in range(len(ports))),
        ]
        try:
            self._reactor.spawnProcess(worker, sys.executable, args, env=os.environ.copy(), childFDs=child_fds)
        finally:
            theirs.close()
        worker.link = _Link(worker)
        factory = protocol.Factory.forProtocol(lambda: worker.link)
        self._reactor.adoptStreamConnection(ours.fileno(), socket.AF_UNIX, factory)
        ours.close()
        self.workers[n] = worker
        log.info("worker {n} started (pid {pid})", n=n, pid=worker.transport.pid)

    def ended(self, worker, reason):
        if self.workers.get(worker.n) is worker:
            del self.workers[worker.n]
        if not self.running:
            return
        if self._reactor.seconds() - worker.started >= STABLE:
            delay = RESTART_DELAY
        else:
            delay = min(self._delays.get(worker.n, RESTART_DELAY / 2) * 2, RESTART_MAX)
        self._delays[worker.n] = delay
        log.error(
            "worker {n} ended: {reason}; starting it again in {delay:g} s", n=worker.n, reason=reason.getErrorMessage(), delay=delay
        )
        self.adopt_orphans()
        self._restarts[worker.n] = self._reactor.callLater(delay, self._spawn, worker.n)

    def submit_file(self, path):
        """A worker spooled C{path}: log it as received and queue it (once)."""
        path = os.path.abspath(path)
        if os.path.dirname(os.path.dirname(path)) != self._spool or not path.endswith(spool_files.SUFFIX):
            log.error("a worker named {path}, which is not a spool file", path=path)
            return
        try:
            message = spool_files.read(path)
        except spool_files.SpoolError as e:
            log.error("a worker's message could not be read: {reason}", reason=str(e))
            return
        if not self._known(message.uuid):
            self._smtpd.committer.release([message])

    def call(self, method, args):
        """A worker's script called the queue function C{method}: a Deferred with its encoded result."""
        service = self._services.get("queue")
        if method not in QUEUE_FUNCTIONS or service is None:
            return defer.fail(HSLRuntimeError("%s() is not available here" % (method,)))
        try:
            decoded = [decode(a) for a in args]
        except (KeyError, TypeError, ValueError, AttributeError):
            return defer.fail(HSLRuntimeError("%s(): arguments a worker sent could not be read" % (method,)))
        # The service waits for the reactor, which only another thread may do.
        d = threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(), getattr(service, method), *decoded)
        return d.addCallback(encode)

    def adopt_orphans(self):
        """Queue the committed spool files the queue does not know of; how many."""
        count = 0
        for name, path in spool_files.entries(self._spool):
            if name.endswith(spool_files.SUFFIX) and not self._known(name[: -len(spool_files.SUFFIX)]):
                self.submit_file(path)
                count += 1
        if count:
            log.info("spool: {count} messages of a worker that ended queued", count=count)
        return count

    def reload(self):
        for worker in self.workers.values():
            worker.send(op="reload")

    def _counters(self):
        values = []
        for worker in self.workers.values():
            values.extend(worker.stats)
        return values

    def stopService(self):
        service.Service.stopService(self)
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts = {}
        workers = list(self.workers.values())
        for worker in workers:
            worker.signal("TERM")
        kill = self._reactor.callLater(STOP_GRACE, lambda: [w.signal("KILL") for w in workers])
        d = defer.DeferredList([w.ended for w in workers])
        d.addBoth(lambda _: kill.cancel() if kill.active() else None)
        return d
