"""
Background http() requests: queues that httprd works through.

A request goes to queue C{background_hash} modulo the number of queues, so
requests a script wants kept in order (same hash) are sent one after the
other.  Each queue has C{concurrency} requests in flight at most.  A request
that gets no 2xx answer is tried again C{background_retry_count} times,
C{background_retry_delay} seconds apart; the retry waits outside the queue,
so one dead endpoint does not hold up the requests behind it.
"""

from collections import deque

from twisted.logger import Logger


class BackgroundQueues:
    """
    @ivar _fetch: C{fetch(request)} -> Deferred L{HTTPResponse}.
    @ivar _clock: where retry delays are scheduled.
    """

    _log = Logger()

    def __init__(self, fetch, clock, queues=1, concurrency=1, stats=None, prefix="httprd"):
        self._fetch = fetch
        self._clock = clock
        self._queues = [deque() for _ in range(max(1, queues))]
        self._running = [0] * len(self._queues)
        self._concurrency = max(1, concurrency)
        self._delayed = set()
        self._stopped = False
        counter = (lambda name: stats.counter(prefix + "." + name)) if stats is not None else (lambda name: _Null())
        self._finished = counter("requests.finished")
        self._failed = counter("requests.failed")
        self._retries = counter("requests.retries")
        if stats is not None:
            stats.gauge(prefix + ".requests.pending", self.pending)
            stats.gauge(prefix + ".requests.running", lambda: sum(self._running))

    def pending(self):
        return sum(len(q) for q in self._queues) + len(self._delayed)

    def submit(self, request):
        """Queue C{request}; returns at once (the script gets C{true})."""
        if self._stopped:
            raise RuntimeError("httprd is stopping")
        self._enqueue(request, request.background_hash % len(self._queues), 0)

    def _enqueue(self, request, index, attempt):
        self._queues[index].append((request, attempt))
        self._pump(index)

    def _pump(self, index):
        queue = self._queues[index]
        while queue and self._running[index] < self._concurrency and not self._stopped:
            request, attempt = queue.popleft()
            self._running[index] += 1
            d = self._fetch(request)
            d.addCallbacks(self._answered, self._no_answer, callbackArgs=(request,), errbackArgs=(request,))
            d.addCallback(self._after, request, index, attempt)

    def _answered(self, response, request):
        if 200 <= response.status < 300:
            return None
        return "HTTP status %d" % (response.status,)

    def _no_answer(self, failure, request):
        return failure.getErrorMessage()

    def _after(self, error, request, index, attempt):
        self._running[index] -= 1
        if error is None:
            self._finished.increment()
        elif attempt < request.retry_count and not self._stopped:
            self._retries.increment()
            self._log.info(
                "background request {url} failed ({error}); retry {n} of {count} in {delay} s",
                url=request.url,
                error=error,
                n=attempt + 1,
                count=request.retry_count,
                delay=request.retry_delay,
            )
            call = self._clock.callLater(request.retry_delay, self._retry, request, index, attempt + 1)
            self._delayed.add(call)
        else:
            self._failed.increment()
            self._log.warn("background request {url} failed: {error}", url=request.url, error=error)
        self._pump(index)

    def _retry(self, request, index, attempt):
        self._delayed = {c for c in self._delayed if c.active()}
        self._enqueue(request, index, attempt)

    def stop(self):
        """Forget queued and delayed requests (httprd keeps no state across restarts)."""
        self._stopped = True
        for call in self._delayed:
            if call.active():
                call.cancel()
        self._delayed.clear()
        for queue in self._queues:
            queue.clear()


class _Null:
    def increment(self, n=1):
        pass
