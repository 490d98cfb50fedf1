"""
memory_*: the process-wide key/value store every script execution of a
host shares.

One L{MemoryStore} per host (C{host.shared_state("memory", MemoryStore)}).
All operations hold its re-entrant lock, callbacks included, so
C{memory_update()} is atomic (compare-and-swap works as the manual shows)
and a callback may itself call memory_* functions.  Values are copied in
(arrays deep-copied) and handed out marked shared, so no script ever sees
another's changes except through the store.

C{store}, C{fetch} and C{delete} on the store take and give JSON-compatible
Python values, for C{halonctl hsl memory}.
"""

import threading

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import MISSING, fail, function, keep, number, string
from halon.hsl.stdlib.data import from_python, to_python
from halon.hsl.values import HSLArray, truthy

__all__ = ["MemoryStore", "memory_of"]


def _copy_in(value):
    if type(value) is HSLArray:
        result = HSLArray()
        for k, v in value.items():
            result.set(k, _copy_in(v))
        return result
    return value


class MemoryStore:
    """
    @ivar lock: the re-entrant lock every operation holds (shared with
        barrier statements).
    """

    def __init__(self):
        self.lock = threading.RLock()
        self.values = {}

    # -- for halonctl (JSON-compatible Python values) ------------------------

    def store(self, key, value):
        with self.lock:
            self.values[_key_bytes(key)] = from_python(value)

    def fetch(self, key):
        """The value as JSON-compatible Python, or None; ValueError when it has no JSON form."""
        with self.lock:
            value = self.values.get(_key_bytes(key))
        return None if value is None else to_python(value)

    def delete(self, key):
        with self.lock:
            return self.values.pop(_key_bytes(key), MISSING) is not MISSING

    def keys(self):
        with self.lock:
            return list(self.values)


def _key_bytes(key):
    return key.encode("utf-8") if isinstance(key, str) else key


def memory_of(host):
    return host.shared_state("memory", MemoryStore)


def _args(fn, host, key, callback):
    if callback is not None:
        function(fn, callback)
    return memory_of(host), string(fn, key, "key")


@core.function("memory_add", host=True)
def memory_add(host, key, value):
    store, k = _args("memory_add", host, key, None)
    with store.lock:
        if k in store.values:
            return False
        store.values[k] = _copy_in(value)
        return True


@core.function("memory_store", host=True)
def memory_store(host, key, value, callback=None):
    """Store C{value}; when the key existed the callback gets (key, old value). True when it existed."""
    store, k = _args("memory_store", host, key, callback)
    with store.lock:
        old = store.values.get(k, MISSING)
        store.values[k] = _copy_in(value)
        if old is MISSING:
            return False
        if callback is not None:
            callback(k, keep(old))
        return True


@core.function("memory_fetch", host=True)
def memory_fetch(host, key, callback=None):
    """The value, or what the callback returns for the key when there is none."""
    store, k = _args("memory_fetch", host, key, callback)
    with store.lock:
        value = store.values.get(k, MISSING)
        if value is not MISSING:
            return keep(value)
        return callback(k) if callback is not None else None


@core.function("memory_exists", host=True)
def memory_exists(host, key, callback=None):
    store, k = _args("memory_exists", host, key, callback)
    with store.lock:
        value = store.values.get(k, MISSING)
        if value is MISSING:
            return False
        if callback is not None:
            callback(k, keep(value))
        return True


@core.function("memory_delete", host=True)
def memory_delete(host, key, callback=None):
    store, k = _args("memory_delete", host, key, callback)
    with store.lock:
        value = store.values.pop(k, MISSING)
        if value is MISSING:
            return False
        if callback is not None:
            callback(k, keep(value))
        return True


def _add(fn, host, key, delta, remove_if_zero=False):
    store, k = _args(fn, host, key, None)
    with store.lock:
        current = store.values.get(k, 0.0)
        if type(current) is not float:
            return None
        result = current + delta
        if remove_if_zero and result == 0:
            store.values.pop(k, None)
        else:
            store.values[k] = result
        return result


@core.function("memory_inc", host=True)
def memory_inc(host, key, offset=1.0):
    return _add("memory_inc", host, key, number("memory_inc", offset, "offset"))


@core.function("memory_dec", host=True)
def memory_dec(host, key, offset=1.0, remove_if_zero=False):
    return _add("memory_dec", host, key, -number("memory_dec", offset, "offset"), truthy(remove_if_zero))


@core.function("memory_update", host=True)
def memory_update(host, key, value, callback, initial=MISSING):
    """
    Store what the callback returns for (key, current value, value); a
    missing key uses C{initial} as the current value, or is left alone
    without one.  True when a value was stored.
    """
    store, k = _args("memory_update", host, key, callback)
    if callback is None:
        fail("memory_update", "callback must be a function")
    with store.lock:
        current = store.values.get(k, MISSING)
        if current is MISSING:
            if initial is MISSING:
                return False
            current = initial
        store.values[k] = _copy_in(callback(k, keep(current), value))
        return True
