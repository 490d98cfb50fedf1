# -*- test-case-name: tests.smtpd.test_hsl -*-
"""
The hooks of a running configuration written in HSL: one L{HSLHooks} per
connection, answering the protocol's questions by running the phase's
script on the server's L{halon.smtpd.scriptpool.ScriptPool} (or, when
L{halon.smtpd.cheap} finds it short and free of waits, right away on the
reactor thread).

Per execution the hook functions (Accept, Reject, Defer, Reply, Pass) are
built fresh and record what the script decided in an L{_Outcome}; they
end the script with L{ScriptExit}.  The predefined variables are built on
the reactor thread from the L{Session} (plain data), so the script thread
never reads state the protocol is changing.  What a script cannot do on
its own thread (DNS, rate, http) goes back through the reactor with
C{host.run_io}.

The defaults when a script ends without deciding, and when it fails, are
those of Halon's hook reference: connect, HELO, MAIL and RCPT accept; AUTH
rejects; end of data defers with nothing queued; a script error defers
(the proxy phase replies 421).
"""

import base64

from twisted.logger import Logger

from halon import mime
from halon.hsl.errors import HSLRuntimeError, ScriptExit
from halon.hsl.stdlib.mime import MailMessage
from halon.hsl.values import HSLArray, HSLObject, HSLResource, to_bytes, to_number, truthy
from halon.smtpd.cheap import runs_inline
from halon.smtpd.envelope import Address
from halon.smtpd.hooks import Decision, Hooks, QueueStager

__all__ = ["HSLHooks", "HSLHooksFactory", "PHASE_FUNCTIONS", "compile_server"]

log = Logger()

PHASE_FUNCTIONS = {
    "connect": ("Accept", "Reject", "Defer"),
    "disconnect": (),
    "proxy": ("Pass", "Reply"),
    "helo": ("Accept", "Reject", "Defer"),
    "auth": ("Accept", "Reject", "Defer", "Reply"),
    "mailfrom": ("Accept", "Reject", "Defer"),
    "rcptto": ("Accept", "Reject", "Defer"),
    "eod": ("Accept", "Reject", "Defer"),
}

VARIABLES = ("connection", "transaction", "arguments", "context")
READONLY = ("connection", "transaction", "arguments")

# What a script that ends without calling a function decided.
_IMPLICIT = {
    "connect": Decision.ACCEPT,
    "proxy": Decision.PASS,
    "helo": Decision.ACCEPT,
    "auth": Decision.REJECT,
    "mailfrom": Decision.ACCEPT,
    "rcptto": Decision.ACCEPT,
    "eod": Decision.DEFER,
}

# Accept() options per phase, besides reason and reply_codes.
_ACCEPT_OPTIONS = {
    "connect": {"reason", "remoteip", "remoteptr"},
    "helo": {"reason", "extensions", "host"},
    "auth": {"reason", "reply_codes", "username"},
    "mailfrom": {"reason", "reply_codes", "sender"},
    "rcptto": {"reason", "reply_codes", "recipient", "transportid"},
    "eod": {"reason", "reply_codes"},
}
_REFUSE_OPTIONS = {"disconnect", "reply_codes"}
_QUEUE_OPTIONS = {"metadata", "hold", "jobid", "quotas", "delay", "tenantid", "priority"}


def _text(value):
    return to_bytes(value).decode("utf-8", "surrogateescape")


def _options(value, allowed, function):
    """An options array as {name: HSL value}; an unknown name is the script's error."""
    if value is None:
        return {}
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("%s(): options must be an array" % function)
    out = {}
    for key, item in value.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if name not in allowed:
            raise HSLRuntimeError("%s(): unknown option %s" % (function, name))
        out[name] = item
    return out


def _reason(value):
    """A reason string or array of lines as a list of bytes lines; None keeps the default text."""
    if value is None:
        return None
    if isinstance(value, HSLArray):
        return [to_bytes(v) for v in value.values()]
    return [to_bytes(value)]


def _reply_codes(options):
    codes = options.get("reply_codes")
    if codes is None:
        return None, None
    if not isinstance(codes, HSLArray):
        raise HSLRuntimeError("reply_codes must be an array")
    code = codes.get(b"code")
    enhanced = codes.get(b"enhanced")
    if code is not None:
        code = int(to_number(code))
        if not 200 <= code <= 599:
            raise HSLRuntimeError("reply_codes: code %d is not an SMTP reply code" % code)
    if enhanced is not None:
        if not isinstance(enhanced, HSLArray) or len(enhanced) != 3:
            raise HSLRuntimeError("reply_codes: enhanced must be an array of three numbers")
        enhanced = tuple(int(to_number(v)) for v in enhanced.values())
    return code, enhanced


def _address(value, function):
    """A sender/recipient a script gave: a string, or an array with localpart and domain."""
    if isinstance(value, HSLArray):
        return Address(to_bytes(value.get(b"localpart", b"")), to_bytes(value.get(b"domain", b"")))
    if isinstance(value, bytes):
        return Address.parse(value)
    raise HSLRuntimeError("%s(): an address is a string or an array with localpart and domain" % function)


# phase -> (HSL name, _Outcome method) of its hook functions.
_BOUND = {
    phase: tuple((name, "pass_" if name == "Pass" else name.lower()) for name in names)
    for phase, names in PHASE_FUNCTIONS.items()
}


class _Outcome:
    """What one execution decided; filled in on the script's thread."""

    def __init__(self, phase):
        self.phase = phase
        self.decision = None
        self.stager = None
        self.context = None

    def _decide(self, decision):
        self.decision = decision
        raise ScriptExit()

    def functions(self):
        """The hook functions of this phase, bound to this execution."""
        return {name: getattr(self, attr) for name, attr in _BOUND[self.phase]}

    def accept(self, options=None):
        # The usual call, Accept() alone, has no options to read.
        decision = Decision(Decision.ACCEPT) if options is None else self._accepted(options)
        if self.stager is not None:
            decision.queue = list(self.stager.entries)
        self._decide(decision)

    def _accepted(self, options):
        """The decision of Accept() with C{options}."""
        phase = self.phase
        opts = _options(options, _ACCEPT_OPTIONS[phase], "Accept")
        code, enhanced = _reply_codes(opts)
        accepted = {}
        if phase == "connect":
            if "remoteip" in opts:
                accepted["remoteip"] = _text(opts["remoteip"])
            if "remoteptr" in opts:
                accepted["remoteptr"] = None if opts["remoteptr"] is None else _text(opts["remoteptr"])
        elif phase == "helo":
            if "host" in opts:
                accepted["host"] = to_bytes(opts["host"])
            if "extensions" in opts:
                if not isinstance(opts["extensions"], HSLArray):
                    raise HSLRuntimeError("Accept(): extensions must be an array")
                accepted["extensions"] = [to_bytes(v) for v in opts["extensions"].values()]
        elif phase == "auth" and "username" in opts:
            accepted["username"] = to_bytes(opts["username"])
        elif phase == "mailfrom" and "sender" in opts:
            accepted["sender"] = _address(opts["sender"], "Accept")
        elif phase == "rcptto":
            if "recipient" in opts:
                accepted["recipient"] = _address(opts["recipient"], "Accept")
            if "transportid" in opts:
                accepted["transportid"] = _text(opts["transportid"])
        return Decision(Decision.ACCEPT, _reason(opts.get("reason")), code, enhanced, options=accepted)

    def reject(self, reason=None, options=None):
        self.refuse(Decision.REJECT, "Reject", reason, options)

    def defer(self, reason=None, options=None):
        self.refuse(Decision.DEFER, "Defer", reason, options)

    def refuse(self, action, function, reason, options):
        opts = _options(options, _REFUSE_OPTIONS, function)
        code, enhanced = _reply_codes(opts)
        self._decide(Decision(action, _reason(reason), code, enhanced, disconnect=truthy(opts.get("disconnect", False))))

    def reply(self, reason=None, options=None):
        if self.phase == "auth":
            opts = _options(options, {"reply_codes"}, "Reply")
            code, enhanced = _reply_codes(opts)
            self._decide(Decision(Decision.REPLY, _reason(b"" if reason is None else reason), code, enhanced))
        opts = _options(options, {"disconnect", "reply_codes", "next"}, "Reply")
        code, enhanced = _reply_codes(opts)
        self._decide(
            Decision(
                Decision.REPLY,
                _reason(reason),
                code,
                enhanced,
                disconnect=truthy(opts.get("disconnect", False)),
                options={"next": truthy(opts.get("next", False))},
            )
        )

    def pass_(self, options=None):
        opts = _options(options, {"command", "next"}, "Pass")
        passed = {"next": truthy(opts.get("next", False))}
        if "command" in opts:
            passed["command"] = to_bytes(opts["command"])
        self._decide(Decision(Decision.PASS, options=passed))


class EODMailMessage(MailMessage):
    """
    The EOD hook's $arguments["mail"]: a MailMessage whose queue() stages
    a recipient for the spool (the message as it is at that moment) and
    answers with its queue id.
    """

    hsl_class_name = "EODMailMessage"

    def bind(self, stager, transaction):
        self._stager = stager
        self._transaction = transaction
        return self

    def queue(self, sender, recipient, transportid, options=None):
        opts = _options(options, _QUEUE_OPTIONS, "queue")
        sender = _address(sender, "queue")
        recipient = _address(recipient, "queue")
        params = {}
        for accepted in self._transaction.recipients:
            if accepted.address == recipient:
                params = accepted.params
                break
        entry = self._stager.stage(
            self.message.to_bytes(), sender, recipient, _text(transportid), params, _queue_options(opts)
        )
        return HSLArray({b"transaction": entry.uuid.encode("ascii"), b"queue": float(entry.index)})


def _queue_options(opts):
    out = {}
    if "metadata" in opts and opts["metadata"] is not None:
        if not isinstance(opts["metadata"], HSLArray):
            raise HSLRuntimeError("queue(): metadata must be an array")
        out["metadata"] = {to_bytes(k): to_bytes(v) for k, v in opts["metadata"].items()}
    if "hold" in opts:
        out["hold"] = truthy(opts["hold"])
    for name in ("delay", "priority"):
        if name in opts:
            out[name] = to_number(opts[name])
    for name in ("jobid", "tenantid"):
        if name in opts and opts[name] is not None:
            out[name] = to_bytes(opts[name])
    if "quotas" in opts and opts["quotas"] is not None:
        if not isinstance(opts["quotas"], HSLArray):
            raise HSLRuntimeError("queue(): quotas must be an array")
        out["quotas"] = [to_bytes(v) for v in opts["quotas"].values()]
    return out


# -- the predefined variables ------------------------------------------------


def _hsl(value):
    """Plain Python data (dict, list, str, int, bytes) as HSL values."""
    kind = type(value)
    if kind is str:
        return value.encode("utf-8", "surrogateescape")
    if kind is dict:
        return _hsl_names(value)
    if value is None or kind is bytes or kind is float or kind is bool:
        return value
    if kind is int:
        return float(value)
    if kind is list or kind is tuple:
        return HSLArray.from_list([_hsl(v) for v in value])
    if kind is _Params:
        if not value:
            return HSLArray.from_dict({}, 0.0)
        return HSLArray({k: _hsl(v) for k, v in value.items()})
    if isinstance(value, (HSLArray, HSLObject, HSLResource, bytes, float)):
        return value
    for base in (str, int, dict, list):
        if isinstance(value, base):
            return _hsl(base(value))
    raise TypeError("no HSL form for %r" % (value,))


def _hsl_names(mapping):
    """
    A dict keyed by our own field names (str, never integer-like) as an
    array, without HSLArray.set's per-key normalisation; the common leaves
    are converted here rather than by a call each: these arrays are built
    for every script execution.
    """
    out = {}
    for key, value in mapping.items():
        kind = type(value)
        if kind is str:
            value = value.encode("utf-8", "surrogateescape")
        elif not (kind is bytes or value is None or kind is float or kind is bool):
            value = _hsl(value)
        out[key.encode("utf-8") if type(key) is str else key] = value
    return HSLArray.from_dict(out, 0.0)


class _Params(dict):
    """ESMTP parameters: names the client chose, so they get HSL's normal key handling."""


def _address_var(address):
    return {"localpart": address.localpart, "domain": address.domain}


def _tls_var(tls):
    from halon.hsl.stdlib.x509 import X509Resource

    out = {k: v for k, v in tls.items() if k != "peercert"}
    peer = tls.get("peercert")
    if peer is not None:
        out["peercert"] = {
            "x509": X509Resource(peer["x509"]),
            "chain": [X509Resource(c) for c in peer["chain"]],
            "error": peer["error"],
        }
    return out


def connection_var(session, connect=False):
    out = {"id": session.id, "priority": session.priority}
    if connect:
        return out
    out.update(
        remoteip=session.remoteip,
        remoteport=session.remoteport,
        localip=session.localip,
        localport=session.localport,
        serverid=session.serverid,
    )
    if session.remoteptr is not None:
        out["remoteptr"] = session.remoteptr
    if session.proxyip is not None:
        out["proxyip"] = session.proxyip
    if session.helo_verb is not None:
        out["helo"] = {"verb": session.helo_verb, "host": session.helo_host}
    if session.tls is not None:
        out["tls"] = _tls_var(session.tls)
    if session.auth is not None:
        out["auth"] = {k: v for k, v in session.auth.items() if v is not None}
    return out


def transaction_var(transaction, eod=False):
    out = {"id": transaction.id}
    if transaction.sender is not None:
        out["sender"] = transaction.sender.lower()
        out["senderaddress"] = _address_var(transaction.sender)
        out["senderparams"] = _Params(transaction.senderparams)
        out["recipients"] = [
            {
                "recipient": r.address.lower(),
                "address": _address_var(r.address),
                "params": _Params(r.params),
                "transportid": r.transportid,
            }
            for r in transaction.recipients
        ]
    if eod and transaction.ts is not None:
        out["ts"] = float(transaction.ts)
    return out


def _params_var(params):
    return _Params((name, b"" if value is None else value) for name, value in params.items())


def _connection(session, connect):
    """
    $connection, built again only when it changed (HELO, TLS, AUTH, a
    connect hook's new address): it is read-only for scripts, and shared,
    so a script's copy of it is its own.
    """
    if connect:
        return _hsl(connection_var(session, connect=True))
    key = (session.remoteip, session.remoteptr, session.helo_verb, session.helo_host, session.tls is not None, session.auth is not None)
    cached = session.script_cache
    if cached is None or cached[0] != key:
        cached = session.script_cache = (key, _hsl(connection_var(session)).share())
    return cached[1]


# -- the hooks ----------------------------------------------------------------------


class HSLHooks(Hooks):
    """
    The scripts one connection runs.

    @param programs: phase -> compiled Program; for rcptto also
        C{"rcptto@domain"} -> Program chosen by the recipient's domain.
    @param pool: the server's L{ScriptPool}.
    @param host: the running configuration's L{halon.hsl.host.Host}.
    @param time_limit: seconds one execution may run (C{scripting.timeout}),
        or None for the pool's.
    @param inline: the programs cheap enough to run on the reactor thread
        (L{halon.smtpd.cheap}); the EOD script among them only for a
        message of at most C{INLINE_EOD_BYTES}, whose parsing is cheap too.
    """

    INLINE_EOD_BYTES = 256 * 1024

    def __init__(self, programs, pool, host, time_limit=None, inline=frozenset()):
        self._programs = programs
        self._pool = pool
        self._host = host
        self._time_limit = time_limit
        self._inline = inline

    def has(self, phase):
        return phase in self._programs

    def _run(self, phase, program, session, arguments, transaction=True, eod_message=None):
        """Run one script on the pool; a Deferred with its L{Decision} (or None for disconnect)."""
        outcome = _Outcome(phase)
        host = self._host
        # Only what the script may read is built (the compiler knows); a
        # stand-in program without that knowledge gets everything.
        reads = getattr(program, "reads", VARIABLES)

        def execute():
            # On the worker: the session does not change while its hook runs.
            variables = {"arguments": _hsl(arguments), "context": session.context}
            if "connection" in reads:
                variables["connection"] = _connection(session, phase == "connect")
            if "transaction" in reads:
                variables["transaction"] = _hsl(
                    transaction_var(session.transaction, eod=eod_message is not None) if transaction else {}
                )
            if eod_message is not None:
                outcome.stager = QueueStager(session.transaction.id)
                mail = EODMailMessage.from_model(mime.parse(eod_message), host)
                mail.bind(outcome.stager, session.transaction)
                variables["arguments"].set(b"mail", mail)
            final = program.run(host, variables, outcome.functions())
            outcome.context = final.get("context")
            return outcome

        if program in self._inline and (eod_message is None or len(eod_message) <= self.INLINE_EOD_BYTES):
            d = self._pool.run_inline(phase, execute)
        else:
            d = self._pool.run(phase, execute, time_limit=self._time_limit)
        d.addCallbacks(self._finished, self._failed, callbackArgs=(session,), errbackArgs=(phase, session))
        return d

    def _finished(self, outcome, session):
        session.context = outcome.context
        if outcome.decision is not None:
            return outcome.decision
        implicit = _IMPLICIT.get(outcome.phase)
        if implicit is None:
            return None
        return Decision(implicit)

    def _failed(self, failure, phase, session):
        log.error(
            "{serverid}: {phase} script error: {error}", serverid=session.serverid, phase=phase, error=failure.getErrorMessage()
        )
        if phase == "disconnect":
            return None
        if phase == "proxy":
            return Decision(Decision.REPLY, code=421, enhanced=(4, 3, 0), disconnect=False, error=failure)
        return Decision(Decision.DEFER, error=failure)

    def connect(self, session):
        if "connect" not in self._programs:
            return Hooks.connect(self, session)
        arguments = {
            "remoteip": session.remoteip,
            "remoteport": session.remoteport,
            "localip": session.localip,
            "localport": session.localport,
            "serverid": session.serverid,
        }
        if session.remoteptr is not None:
            arguments["remoteptr"] = session.remoteptr
        if session.proxyip is not None:
            arguments["proxyip"] = session.proxyip
        return self._run("connect", self._programs["connect"], session, arguments)

    def disconnect(self, session, close, reply, error):
        arguments = {"close": close}
        if reply is not None:
            last, state = reply
            arguments["reply"] = {
                "code": last.code,
                "enhanced": list(last.enhanced) if last.enhanced else None,
                "reason": list(last.text),
                "state": state,
            }
        if error is not None:
            arguments["error"] = error
        return self._run("disconnect", self._programs["disconnect"], session, arguments, transaction=False)

    def proxy(self, session, command):
        return self._run("proxy", self._programs["proxy"], session, {"command": command})

    def helo(self, session, verb, host, extensions):
        if "helo" not in self._programs:
            return Hooks.helo(self, session, verb, host, extensions)
        arguments = {"verb": verb, "host": host, "extensions": list(extensions)}
        return self._run("helo", self._programs["helo"], session, arguments)

    def auth(self, session, mechanism, username, password, state, response):
        arguments = {"mechanism": mechanism, "state": state}
        if username is not None:
            arguments["username"] = username
        if password is not None:
            arguments["password"] = password
        if response is not None:
            arguments["response"] = response
        return self._run("auth", self._programs["auth"], session, arguments)

    def mailfrom(self, session, address, params):
        if "mailfrom" not in self._programs:
            return Hooks.mailfrom(self, session, address, params)
        arguments = {"sender": address.lower(), "address": _address_var(address), "params": _params_var(params)}
        return self._run("mailfrom", self._programs["mailfrom"], session, arguments)

    def rcptto(self, session, address, params, transportid):
        program = self._programs.get("rcptto@" + address.domain.decode("utf-8", "replace").lower())
        if program is None:
            program = self._programs.get("rcptto")
        if program is None:
            return Hooks.rcptto(self, session, address, params, transportid)
        arguments = {
            "recipient": address.lower(),
            "address": _address_var(address),
            "params": _params_var(params),
            "transportid": transportid,
        }
        return self._run("rcptto", program, session, arguments)

    def eod(self, session, message):
        if "eod" not in self._programs:
            return Hooks.eod(self, session, message)
        return self._run("eod", self._programs["eod"], session, {}, eod_message=message)


class HSLHooksFactory:
    """
    Compiles a running configuration's scripts once per (configuration,
    server) and gives each new connection its L{HSLHooks}.  Every
    configuration (the running one, a reload being checked, a live stage)
    sees its own C{scripting.files} through its own view of one L{Host},
    and all views share the process's memory_* and cache state and the
    C{services} registered on it (queue, smtpd, resolver ... whatever the
    process runs).
    """

    def __init__(self, reactor=None, services=None, startup_scripting=None):
        self._reactor = reactor
        self.services = services if services is not None else {}
        # smtpd.yaml's scripting (rootpath, ffi): where scripts may read, what they may load.
        self.startup_scripting = startup_scripting or {}
        self._host = None
        self._view = (None, None)

    def host_for(self, app):
        """
        The process's Host as C{app} sees it: with C{app}'s virtual files,
        and the memory_* and cache state every configuration shares.  A
        view of its own, so that preparing a configuration (which may yet
        be refused, or be a live stage) never changes the files the
        running one reads.
        """
        if self._host is None:
            from halon.hsl.host import Host

            self._host = Host(
                rootpath=self.startup_scripting.get("rootpath"),
                ffi=bool(self.startup_scripting.get("ffi")),
                reactor=self._reactor,
                stdout=_EchoLog(),
                syslog=_syslog,
            )
            self._host.services = self.services
        if self._view[0] is not app:
            self._view = (app, self._host.with_files(_virtual_files(app)))
        return self._view[1]

    def __call__(self, app, app_server, index, pool):
        host = self.host_for(app)
        programs, inline = compile_server(app, app_server, index, host)
        time_limit = app.get("scripting", {}).get("timeout")

        def hooks(session):
            return HSLHooks(programs, pool, host, time_limit, inline)

        return hooks


def _virtual_files(app):
    """C{scripting.files[]} as id -> bytes (base64 decoded where marked binary)."""
    files = {}
    for entry in app.get("scripting", {}).get("files", []):
        data = entry.get("data", "")
        if entry.get("binary"):
            files[entry["id"]] = base64.b64decode(data)
        else:
            files[entry["id"]] = data.encode("utf-8") if isinstance(data, str) else data
    return files


class _EchoLog:
    """
    Where echo goes in smtpd: the log, a line per echo.  Not sys.stdout,
    which under twistd is the log already and takes no bytes.
    """

    def write(self, data):
        log.info("{message}", message=data.rstrip(b"\n").decode("utf-8", "replace"))

    def flush(self):
        pass


def _syslog(priority, message):
    log.info("{message}", message=to_bytes(message).decode("utf-8", "replace"))


def compile_server(app, app_server, index, host):
    """
    phase -> Program for one server, and the set of those programs that
    may run inline; a ConfigError names a hook that is missing or does not
    compile.
    """
    from halon.config.errors import ConfigError, Problem
    from halon.hsl import HSLSyntaxError, compile_program

    scripts = app.get("scripting", {}).get("hooks", {})
    where = app.get("__file__", "smtpd-app.yaml")
    programs = {}
    inline = set()
    problems = []

    def compile_hook(phase, hook_id, key, path):
        for entry in scripts.get(phase, []):
            if entry["id"] == hook_id:
                try:
                    programs[key] = compile_program(
                        entry.get("data", ""),
                        "hooks/%s/%s" % (phase, hook_id),
                        functions=PHASE_FUNCTIONS[phase],
                        variables=VARIABLES,
                        readonly=READONLY,
                        host=host,
                    )
                except HSLSyntaxError as e:
                    problems.append(Problem(where, path, str(e)))
                    return
                if runs_inline(entry.get("data", "")):
                    inline.add(programs[key])
                return
        problems.append(Problem(where, path, "no %s hook with id %s" % (phase, hook_id)))

    for phase, settings in app_server.get("phases", {}).items():
        if phase not in PHASE_FUNCTIONS or not isinstance(settings, dict) or "hook" not in settings:
            continue
        hook = settings["hook"]
        path = "servers[%d].phases.%s.hook" % (index, phase)
        if isinstance(hook, dict):
            if hook.get("id"):
                compile_hook(phase, hook["id"], phase, path + ".id")
            for domain, hook_id in hook.get("recipientdomains", {}).items():
                compile_hook(phase, hook_id, "%s@%s" % (phase, domain.lower()), path + ".recipientdomains." + domain)
        else:
            compile_hook(phase, hook, phase, path)
    if problems:
        raise ConfigError(problems)
    return programs, frozenset(inline)

