"""
Handlers a daemon can register as they are, built from the objects it
already has:

    ControlService(reactor, path, {
        "ProcessStats": handlers.process_stats(stats),
        "ConfigReload": handlers.reload("ConfigReload", app.reload),
        "HSLRateList": handlers.rates_list(rated.rates_list),
        **handlers.memory(lambda: memory_of(host)),
        **handlers.cache(lambda: host),
        ...
    })
"""

import json

from twisted.internet import defer

from halon.control import api
from halon.control.commands import ControlError


def process_stats(stats):
    """process-stats from a L{halon.stats.Stats}: every counter, in registration order."""
    response_class = api.CALLS["ProcessStats"].response_class()

    def handle(request):
        response = response_class()
        for name, value in stats.snapshot():
            stat = response.stats.add(name=name)
            if isinstance(value, (int, float)):
                stat.number = value
            elif isinstance(value, bytes):
                stat.text = value.decode("utf-8", "replace")
            elif value is not None:
                stat.text = str(value)
        return response

    return handle


def reload(name, reload):
    """
    A reload call (C{"ConfigReload"}, C{"PolicyReload"}, C{"SuspendReload"},
    C{"DeliveryReload"}, C{"ResolverClear"}) answered by C{reload()}, which
    returns when done (or a Deferred) and raises when it refuses; the
    exception's message (a config error names file, path and reason) is what
    halonctl prints, and the running state is the reload callable's to keep.
    """
    response_class = api.CALLS[name].response_class()

    def handle(request):
        d = defer.maybeDeferred(reload)
        d.addCallbacks(lambda _: response_class(), _refused)
        return d

    return handle


def _refused(failure):
    if failure.check(ControlError):
        return failure
    error = failure.value
    if isinstance(error, Exception) and not isinstance(error, (AssertionError, NameError, AttributeError, TypeError)):
        raise ControlError(str(error) or type(error).__name__)
    return failure


def rates_list(rows):
    """
    hsl rates list from C{rows()}: (namespace, entry, count, local count,
    oldest, newest, rate) tuples, or a Deferred of them (rated's
    C{RatedService.rates_list}).
    """
    response_class = api.CALLS["HSLRateList"].response_class()

    def handle(request):
        def build(result):
            response = response_class()
            for namespace, entry, count, local, oldest, newest, rate in result:
                namespace, entry = _text(namespace), _text(entry)
                if request.namespace and namespace != request.namespace:
                    continue
                if request.entry and entry != request.entry:
                    continue
                response.rates.add(
                    namespace=namespace,
                    entry=entry,
                    count=int(count),
                    localcount=int(local),
                    oldest=int(oldest),
                    newest=int(newest),
                    rate=rate,
                )
            return response

        return defer.maybeDeferred(rows).addCallback(build)

    return handle


def rates_clear(clear):
    """hsl rates clear from C{clear(namespace, entry)} (None = any): how many entries went."""
    response_class = api.CALLS["HSLRateClear"].response_class()

    def handle(request):
        namespace = request.namespace.encode("utf-8") if request.namespace else None
        entry = request.entry.encode("utf-8") if request.entry else None
        d = defer.maybeDeferred(clear, namespace, entry)
        return d.addCallback(lambda count: response_class(count=count))

    return handle


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def memory(current_store):
    """
    hsl memory store, fetch and delete on a script host's shared memory, as
    a dict of handlers.  C{current_store()} is the running configuration's
    L{halon.hsl.stdlib.memory.MemoryStore} (C{memory_of(host)}), asked at
    every call because a reload may bring a new host.  Values travel as JSON
    text, so arrays keep their shape both ways.
    """
    calls = ("HSLMemoryStore", "HSLMemoryFetch", "HSLMemoryDelete")
    store_response, fetch_response, delete_response = (api.CALLS[name].response_class() for name in calls)

    def handle_store(request):
        try:
            value = json.loads(request.value)
        except ValueError as e:
            raise ControlError("the value is not JSON: %s" % (e,))
        current_store().store(request.key, value)
        return store_response()

    def handle_fetch(request):
        try:
            value = current_store().fetch(request.key)
        except ValueError as e:
            raise ControlError("%s: the value has no JSON form: %s" % (request.key, e))
        if value is None:
            return fetch_response(found=False)
        return fetch_response(found=True, value=json.dumps(value))

    def handle_delete(request):
        return delete_response(deleted=current_store().delete(request.key))

    return dict(zip(calls, (handle_store, handle_fetch, handle_delete)))


def cache(current_host):
    """
    hsl cache list and clear on the running script host's cache statement
    buckets; C{current_host()} is asked at every call, as for L{memory}.
    """
    from halon.hsl import runtime

    list_response = api.CALLS["HSLCacheList"].response_class()
    clear_response = api.CALLS["HSLCacheClear"].response_class()

    def handle_list(request):
        response = list_response()
        for namespace, function, bucket in runtime.cache_buckets(current_host().cache_store()):
            response.buckets.add(
                namespace=_text(namespace),
                function=function,
                maxsize=bucket.size,
                size=len(bucket.entries),
                hits=bucket.hits,
                misses=bucket.misses,
                evicts=bucket.evicts,
            )
        return response

    def handle_clear(request):
        count = runtime.clear_cache(
            current_host().cache_store(),
            request.namespace.encode() if request.namespace else None,
            request.function or None,
        )
        return clear_response(count=count)

    return {"HSLCacheList": handle_list, "HSLCacheClear": handle_clear}
