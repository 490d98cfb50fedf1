"""
What a running script may reach outside itself.

A L{Host} is made once per program (hsh, or a daemon's running config) and
shared by every script execution of that program, on any thread.  The stdlib
reaches the outside world only through it: output, syslog, files under the
root path, virtual files from C{scripting.files}, and the services daemons
plug in (resolver, rate, http, dlp, queue ...).  A function whose service is
absent raises L{HSLNotAvailable}, so the same script compiles everywhere and
fails with a positioned error only when it calls what the host cannot do.

Scripts run on threads that are not the reactor thread.  A service does its
I/O on the reactor and the script waits: L{Host.run_io} is the one place that
bridges the two.
"""

import copy
import os
import sys
import threading

from halon.hsl.errors import HSLNotAvailable, HSLRuntimeError


class Host:
    """
    @ivar rootpath: file functions and file imports may only reach paths under
        this directory (C{scripting.rootpath}); C{None} allows none.
    @ivar files: virtual files (C{scripting.files[]}): id -> bytes.
    @ivar ffi: whether the FFI class may load libraries.
    @ivar reactor: the reactor that services run on, or C{None} (then I/O
        functions are not available).
    @ivar publicsuffix: path of the public suffix list file
        (C{environment.publicsuffix}), or C{None} for the system's copy.
    @ivar services: name -> service object ("resolver", "rate", "http",
        "dlp", "queue", "metrics" ...), registered by daemons.
    """

    def __init__(
        self,
        rootpath=None,
        files=None,
        ffi=False,
        reactor=None,
        stdout=None,
        syslog=None,
        serverid=None,
        publicsuffix=None,
    ):
        self.rootpath = None if rootpath is None else os.path.realpath(rootpath)
        self.files = dict(files or {})
        self.ffi = ffi
        self.reactor = reactor
        self.serverid = serverid
        self.publicsuffix = publicsuffix
        self.services = {}
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._syslog = syslog
        self._echo_lock = threading.Lock()
        # Process-wide script state shared by every execution on this host:
        # memory_* and barrier storage, cache-statement buckets.
        self.state = {}
        self._state_lock = threading.Lock()
        self._namespace = None

    def with_files(self, files):
        """
        This host with other virtual files, sharing everything else (script
        state, services, locks): how each running configuration of one
        process reads its own C{scripting.files}.
        """
        view = copy.copy(self)
        view.files = dict(files)
        view._namespace = None
        return view

    # -- output -------------------------------------------------------------

    def echo(self, data):
        """echo: one line of output (to stdout in hsh, to the log in smtpd)."""
        with self._echo_lock:
            self._stdout.write(data + b"\n")
            self._stdout.flush()

    def syslog(self, priority, message):
        if self._syslog is not None:
            self._syslog(priority, message)
        else:
            self.echo(message)

    # -- files --------------------------------------------------------------

    def resolve_path(self, path, relative_to=None):
        """
        The real path of C{path} if it lies under the root path, else an
        error: scripts never reach outside their root.
        """
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        if path.startswith("file://"):
            path = path[len("file://") :]
        elif path.startswith("file:"):
            path = path[len("file:") :]
        if self.rootpath is None:
            raise HSLRuntimeError("file access is disabled (no root path)")
        base = self.rootpath
        if relative_to and not os.path.isabs(path):
            base = os.path.dirname(relative_to)
        full = os.path.realpath(os.path.join(base, path))
        if full != self.rootpath and not full.startswith(self.rootpath.rstrip(os.sep) + os.sep):
            raise HSLRuntimeError("%s is outside the root path" % (path,))
        return full

    def read_file(self, path, relative_to=None):
        """
        The bytes of a script-visible file: a virtual file by id first, then
        a real file under the root path.  Raises L{HSLRuntimeError}.
        """
        key = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
        for prefix in ("file://", "file:"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        if key in self.files:
            return self.files[key]
        if relative_to and relative_to in self.files:
            joined = os.path.normpath(os.path.join(os.path.dirname(relative_to), key))
            if joined in self.files:
                return self.files[joined]
        full = self.resolve_path(key, relative_to if relative_to and os.path.isabs(relative_to) else None)
        try:
            with open(full, "rb") as f:
                return f.read()
        except OSError as e:
            raise HSLRuntimeError("%s: %s" % (key, e.strerror))

    # -- services -----------------------------------------------------------

    def service(self, name, function):
        """The service C{name}, or L{HSLNotAvailable} naming C{function}."""
        try:
            return self.services[name]
        except KeyError:
            raise HSLNotAvailable(function)

    def run_io(self, fn, *args, **kwargs):
        """
        Run C{fn} on the reactor thread and wait for its result (it may
        return a Deferred).  Scripts call this from their worker thread.
        """
        if self.reactor is None:
            raise HSLRuntimeError("no reactor to run I/O on")
        from twisted.internet.threads import blockingCallFromThread

        return blockingCallFromThread(self.reactor, fn, *args, **kwargs)

    def shared_state(self, name, factory):
        """A process-wide object for a stdlib family, made once on first use."""
        try:
            return self.state[name]
        except KeyError:
            with self._state_lock:
                if name not in self.state:
                    self.state[name] = factory()
                return self.state[name]

    def cache_store(self):
        """The cache statement's buckets (L{halon.hsl.runtime.cache_buckets} reads them)."""
        from halon.hsl import runtime

        return self.shared_state("hsl.cache", runtime.new_cache_store)

    # -- the functions and classes scripts see --------------------------------

    def namespace(self):
        """
        Every core function and class bound to this host, as the compiler's
        runtime wants it (see L{halon.hsl.stdlib.Library.namespace}).  Built
        once and shared by all executions.
        """
        if self._namespace is None:
            from halon.hsl.stdlib import core

            self._namespace = core.namespace(self)
        return self._namespace
