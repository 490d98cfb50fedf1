"""
The pre- and post-delivery hooks of smtpd-app.yaml (C{scripting.hooks.
predelivery} and C{.postdelivery}) as the queue's L{QueueHooks}.

Each script runs once per queued recipient, on the queue's own script pool
(C{queues.threads.script}; counters C{queue.scripts.predelivery.pending}
/running/finished and the same for postdelivery), with:

    $message    the recipient's queue entry: id {transaction, queue}, ts,
                serverid, sender, senderaddress, recipient,
                recipientaddress, transportid, tenantid, jobid, priority,
                size, dsn {envid, ret, notify, orcpt}
    $arguments  predelivery: retry.  postdelivery: retry, grouping (once
                known), action (absent on success; QUEUE or BOUNCE
                otherwise), attempt {result {code,
                enhanced, reason, state} | error {temporary, message, type,
                dns}, connection {...}, duration}
    $context    what the pre-delivery script left there (post-delivery)

Functions: predelivery Try([opts]), Queue([opts]), Bounce(), Delete();
postdelivery Queue([opts]), Bounce(), Delete(), Default(); both
SetMetaData(array) and GetMetaData().  A script that ends without one
tries (pre) or takes the default (post); a script error logs and does the
same.
"""

from twisted.logger import Logger

from halon.hsl import compile_program
from halon.hsl.errors import HSLRuntimeError, ScriptExit
from halon.hsl.values import HSLArray, to_bytes, to_number, truthy
from halon.queue.core import Decision

__all__ = ["HSLQueueHooks", "build"]

log = Logger()

VARIABLES = ("message", "arguments", "context")
READONLY = ("message", "arguments")
PRE_FUNCTIONS = ("Try", "Queue", "Bounce", "Delete", "SetMetaData", "GetMetaData")
POST_FUNCTIONS = ("Queue", "Bounce", "Delete", "Default", "SetMetaData", "GetMetaData")


def to_hsl(value):
    """A Python value (dicts, lists, str, numbers) as an HSL value."""
    if isinstance(value, dict):
        array = HSLArray()
        for key, item in value.items():
            if item is not None:
                array.set(to_bytes(key) if isinstance(key, str) else float(key), to_hsl(item))
        return array
    if isinstance(value, (list, tuple)):
        array = HSLArray()
        for i, item in enumerate(value):
            array.set(float(i), to_hsl(item))
        return array
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bool) or value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return to_bytes(str(value))


def _python(value):
    """An HSL value as plain Python (arrays as dicts keyed by str)."""
    if isinstance(value, HSLArray):
        return {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(int(k))): _python(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _address(address):
    local, _, domain = address.rpartition("@")
    return {"localpart": local, "domain": domain} if address else {"localpart": "", "domain": ""}


def message_var(rcpt):
    message = rcpt.message
    params = rcpt.params or {}
    return {
        "id": {"transaction": message.uuid, "queue": rcpt.n},
        "ts": message.ts,
        "serverid": message.serverid,
        "sender": message.sender,
        "senderaddress": _address(message.sender),
        "recipient": rcpt.address,
        "recipientaddress": _address(rcpt.address),
        "transportid": rcpt.transportid,
        "tenantid": message.tenantid,
        "jobid": message.jobid,
        "priority": message.priority,
        "size": message.size,
        "dsn": {"envid": (message.dsn or {}).get("envid"), "ret": (message.dsn or {}).get("ret"),
                "notify": params.get("notify"), "orcpt": params.get("orcpt")},
    }


def attempt_var(outcome):
    attempt = {"duration": outcome.duration}
    if outcome.reply is not None:
        attempt["result"] = {"code": outcome.reply.code, "enhanced": list(outcome.reply.enhanced or ()) or None,
                             "reason": outcome.reply.reason, "state": outcome.reply.state}
    if outcome.error is not None:
        attempt["error"] = dict(outcome.error)
    if outcome.connection:
        attempt["connection"] = {k: v for k, v in outcome.connection.items() if k != "tls"}
        tls = outcome.connection.get("tls")
        if tls:
            attempt["connection"]["tls"] = {k: v for k, v in tls.items() if k in ("started", "protocol", "cipher",
                                                                                 "keysize", "tlsa", "mtasts")}
    return attempt


class _Execution:
    """One run's hook functions and what they decided (filled in on the script's thread)."""

    def __init__(self, rcpt, default):
        self.decision = Decision(default)
        self.metadata = dict(rcpt.metadata or {})
        self.changed = False

    def _decide(self, action, options=None):
        opts = {}
        if options is not None:
            if not isinstance(options, HSLArray):
                raise HSLRuntimeError("%s(): options must be an array" % (action.capitalize(),))
            opts = _python(options)
        if "delay" in opts:
            opts["delay"] = to_number(options.get(b"delay"))
        if "increment_retry" in opts:
            opts["increment_retry"] = truthy(options.get(b"increment_retry"))
        self.decision = Decision(action, opts, reason=opts.get("reason"))
        raise ScriptExit()

    def functions(self, names):
        made = {
            "Try": lambda options=None: self._decide("try", options),
            "Queue": lambda options=None: self._decide("queue", options),
            "Bounce": lambda options=None: self._decide("bounce", options),
            "Delete": lambda options=None: self._decide("delete", options),
            "Default": lambda: self._decide("default"),
            "SetMetaData": self.set_metadata,
            "GetMetaData": lambda: to_hsl(self.metadata),
        }
        return {name: made[name] for name in names}

    def set_metadata(self, metadata):
        if not isinstance(metadata, HSLArray):
            raise HSLRuntimeError("SetMetaData(): expected an array")
        self.metadata = {k: str(v) for k, v in _python(metadata).items()}
        self.changed = True


class HSLQueueHooks:
    """
    The scripts of one running configuration at a time: L{load} compiles
    a reloaded one's and swaps them in, so the next run uses them while a
    run already going finishes on the scripts it started with.

    @param pool: a L{halon.smtpd.scriptpool.ScriptPool} for the queue's scripts.
    @param host: the L{halon.hsl.host.Host} scripts run against.
    """

    def __init__(self, app, pool, host):
        self._pool = pool
        self._host = host
        self._time_limit = None
        self._programs = {}
        self.app = None
        self.load(app)

    @property
    def services(self):
        """What the scripts' service functions reach (C{host.services}), shared with smtpd's when it gave them."""
        return self._host.services

    @property
    def per_recipient(self):
        """With a script, each queue entry is its own attempt (scripts see one at a time)."""
        return bool(self._programs)

    def load(self, app):
        """
        Take the scripts and C{scripting.timeout} of C{app} (a running
        configuration as a dict); raises HSLSyntaxError and keeps the ones
        it had.  The same dict again is a no-op.
        """
        if app is self.app:
            return
        scripting = app.get("scripting") or {}
        hooks = scripting.get("hooks") or {}
        programs = {}
        for phase, names in (("predelivery", PRE_FUNCTIONS), ("postdelivery", POST_FUNCTIONS)):
            source = hooks.get(phase)
            if source:
                programs[phase] = compile_program(source, phase, functions=names, variables=VARIABLES,
                                                  readonly=READONLY, host=self._host)
        self._programs = programs
        self._time_limit = scripting.get("timeout")
        self.app = app

    def _program(self, phase, info):
        """The phase's program, or None: no script, or an attempt of several recipients formed before a reload."""
        program = self._programs.get(phase)
        return program if program is not None and len(info["recipients"]) == 1 else None

    def predelivery(self, info):
        program = self._program("predelivery", info)
        if program is None:
            return Decision("try")
        (rcpt,) = info["recipients"]
        return self._run(program, "predelivery", rcpt, {"retry": rcpt.retry}, "try", PRE_FUNCTIONS, info)

    def postdelivery(self, info):
        program = self._program("postdelivery", info)
        if program is None:
            return Decision("default")
        (rcpt,) = info["recipients"]
        (outcome,) = info["outcomes"]
        arguments = {"retry": rcpt.retry, "attempt": attempt_var(outcome)}
        if rcpt.grouping:
            arguments["grouping"] = rcpt.grouping
        if not outcome.delivered:
            arguments["action"] = "BOUNCE" if outcome.permanent else "QUEUE"
        return self._run(program, "postdelivery", rcpt, arguments, "default", POST_FUNCTIONS, info)

    def _run(self, program, phase, rcpt, arguments, default, names, info):
        execution = _Execution(rcpt, default)
        message = message_var(rcpt)
        context = info.get("hsl_context")

        def execute():
            variables = {"message": to_hsl(message), "arguments": to_hsl(arguments), "context": context}
            final = program.run(self._host, variables, execution.functions(names))
            info["hsl_context"] = final.get("context")
            return execution

        def finished(execution):
            decision = execution.decision
            if execution.changed:
                decision.metadata = execution.metadata
            return decision

        def failed(failure):
            log.error("queue {phase} script error for {id}: {error}", phase=phase, id=rcpt.id,
                      error=failure.getErrorMessage())
            return Decision(default)

        d = self._pool.run(phase, execute, time_limit=self._time_limit)
        d.addCallbacks(finished, failed)
        return d


def build(reactor, app, startup, stats, services=None):
    """
    The queue hooks of C{app}, also when it has neither script (a reload
    may add them); raises HSLSyntaxError.  Without scripts no thread runs.
    """
    from halon.hsl.host import Host
    from halon.smtpd.scriptpool import ScriptPool

    scripting = startup.get("scripting") or {}
    host = Host(rootpath=scripting.get("rootpath"), ffi=bool(scripting.get("ffi")), reactor=reactor)
    host.services = services if services is not None else {}
    threads = int(((app.get("queues") or {}).get("threads") or {}).get("script", 32))
    pool = ScriptPool(reactor, threads, stats, "queue.scripts", name="queue-script")
    return HSLQueueHooks(app, pool, host)

