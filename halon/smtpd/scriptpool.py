# -*- test-case-name: tests.smtpd.test_timeout -*-
"""
The bounded thread pool a virtual server runs its hook scripts on
(C{servers[].threads.script}), so that the reactor never waits for a
script, with the counters C{halonctl process-stats} shows for it:
C{servers[N].scripts.<phase>.pending/running/finished}.

Every execution has a time limit: the pool's, or the one its caller
gives (a running configuration's C{scripting.timeout}).  When it passes,
the execution's Deferred fails with L{ScriptTimeout} at once (the hook
answers as on a script error) and L{ScriptTimeout} is raised inside the
worker thread with C{PyThreadState_SetAsyncExc}, which stops a script
looping in Python code at its next bytecode.  A script blocked inside a C call (a sleep, a lock)
is stopped when that call returns; its thread is busy until then.
"""

import collections
import ctypes
import threading

from twisted.internet import defer
from twisted.logger import Logger

from halon.hsl.errors import ScriptTimeout

__all__ = ["ScriptPool", "ScriptTimeout"]

log = Logger()

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]
_set_async_exc.restype = ctypes.c_int


def _interrupt(thread_id, exception):
    """Raise C{exception} in the thread (None clears a pending one); whether a thread was found."""
    return _set_async_exc(thread_id, exception) == 1


class _Execution:
    __slots__ = ("lock", "thread_id", "done", "interrupted", "timer", "limit")

    def __init__(self, limit):
        self.limit = limit
        self.lock = threading.Lock()
        self.thread_id = None
        self.done = False
        self.interrupted = False
        self.timer = None


class ScriptPool:
    """
    Workers take executions from one queue and put their results on one
    deque that the reactor drains; a busy pool wakes the reactor once per
    batch of results, not once per script.  Threads start on demand, up
    to C{size}, and are daemons: a script stuck in a C call never keeps
    the process from exiting.

    Only one worker is woken while another is awake: scripts hold the GIL
    while they run, so a second runnable worker only takes it away from
    the first and from the reactor (every hand-over costs both).  The
    awake worker takes the queued executions one after the other; when
    the queue has not moved for C{STALL} seconds (a script waiting on
    I/O), the next worker is woken for it.

    @param reactor: where results are delivered and time limits timed.
    @param size: worker threads (C{threads.script}).
    @param stats: the process's L{halon.stats.Stats}, or None.
    @param prefix: counter name prefix, e.g. C{"servers[0].scripts"}.
    @param time_limit: seconds an execution may run, or None.
    """

    # Well above the interpreter's switch interval (5 ms): a worker that
    # waits for the GIL is not stalled.
    STALL = 0.02

    def __init__(self, reactor, size, stats=None, prefix="scripts", time_limit=None, name="script"):
        self._reactor = reactor
        self.size = size
        self.time_limit = time_limit
        self._name = name
        self._stats = stats
        self._prefix = prefix
        self._counters = {}
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._jobs = collections.deque()
        self._threads = []
        self._sleeping = 0
        self._woken = 0
        self._taken = 0
        self._stall = None
        self._results = collections.deque()
        self._drain_scheduled = False

    def counters(self, phase):
        """(pending, running, finished) counters of C{phase}, registered on first use."""
        counters = self._counters.get(phase)
        if counters is None:
            from halon.stats import Counter

            if self._stats is not None:
                base = "%s.%s." % (self._prefix, phase)
                counters = tuple(self._stats.counter(base + n) for n in ("pending", "running", "finished"))
            else:
                counters = (Counter(), Counter(), Counter())
            self._counters[phase] = counters
        return counters

    def stop(self):
        """Let every worker finish its current execution and end."""
        threads, self._threads = self._threads, []
        with self._lock:
            self._jobs.extend([None] * len(threads))
            self._wakeup.notify_all()
        if self._stall is not None and self._stall.active():
            self._stall.cancel()
        self._stall = None

    def run(self, phase, function, *args, time_limit=None):
        """
        Call C{function(*args)} on a worker; a Deferred with its result, or
        its exception, or L{ScriptTimeout} once the time limit (C{time_limit}
        seconds, else the pool's) passed.
        """
        pending, running, finished = self.counters(phase)
        pending.increment()
        execution = _Execution(self.time_limit if time_limit is None else time_limit)
        d = defer.Deferred()
        if execution.limit is not None:
            execution.timer = self._reactor.callLater(execution.limit, self._expire, execution, d)
        with self._lock:
            self._jobs.append((execution, d, phase, function, args))
            awake = len(self._threads) - self._sleeping + self._woken
            if awake == 0:
                self._wake()
            elif self._stall is None:
                self._stall = self._reactor.callLater(self.STALL, self._check, self._taken)
        return d

    def run_inline(self, phase, function, *args):
        """
        Call C{function(*args)} here, on the reactor thread, counted as an
        execution of C{phase}; for scripts proven cheap (L{halon.smtpd.cheap}),
        which no time limit needs to stop.
        """
        finished = self.counters(phase)[2]
        try:
            result = function(*args)
        except BaseException:
            return defer.fail()
        finally:
            finished.increment()
        return defer.succeed(result)

    def _wake(self):
        """One more worker for the queue (the lock is held): a sleeping one, else a new one."""
        if self._sleeping > self._woken:
            self._woken += 1
            self._wakeup.notify()
        elif len(self._threads) < self.size:
            thread = threading.Thread(target=self._worker, name="%s-%d" % (self._name, len(self._threads)), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _check(self, taken):
        """The queue did not move since the last look: the awake workers are waiting on something."""
        self._stall = None
        with self._lock:
            if not self._jobs:
                return
            if self._taken == taken:
                self._wake()
            taken = self._taken
        self._stall = self._reactor.callLater(self.STALL, self._check, taken)

    def _worker(self):
        while True:
            with self._lock:
                while not self._jobs:
                    self._sleeping += 1
                    self._wakeup.wait()
                    self._sleeping -= 1
                    if self._woken:
                        self._woken -= 1
                job = self._jobs.popleft()
                self._taken += 1
            if job is None:
                return
            self._work(*job)

    def _work(self, execution, d, phase, function, args):
        pending, running, finished = self.counters(phase)
        pending.decrement()
        running.increment()
        ok, result = False, None
        try:
            try:
                with execution.lock:
                    execution.thread_id = threading.get_ident()
                if not execution.interrupted:
                    result = function(*args)
                    ok = True
            finally:
                with execution.lock:
                    execution.done = True
                    if execution.interrupted:
                        _interrupt(execution.thread_id, None)
        except ScriptTimeout:
            ok, result = False, None
        except BaseException as e:
            ok, result = False, e
        running.decrement()
        finished.increment()
        self._results.append((execution, d, ok, result))
        with self._lock:
            wake = not self._drain_scheduled
            self._drain_scheduled = True
        if wake:
            self._reactor.callFromThread(self._drain)

    def _drain(self):
        with self._lock:
            self._drain_scheduled = False
        results = self._results
        while results:
            self._deliver(*results.popleft())

    def _expire(self, execution, d):
        execution.timer = None
        with execution.lock:
            if execution.done:
                return
            execution.interrupted = True
            if execution.thread_id is not None:
                _interrupt(execution.thread_id, ScriptTimeout)
        if not d.called:
            d.errback(_timeout(execution))

    def _deliver(self, execution, d, ok, result):
        if execution.timer is not None and execution.timer.active():
            execution.timer.cancel()
        if d.called:
            return
        if ok:
            d.callback(result)
        elif isinstance(result, BaseException):
            d.errback(result)
        else:
            d.errback(_timeout(execution))


def _timeout(execution):
    return ScriptTimeout("the script ran past its time limit of %g s" % (execution.limit,))
