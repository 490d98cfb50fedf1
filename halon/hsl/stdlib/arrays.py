"""
Array functions.  Each returns a new array: arguments are never changed,
and values taken over from an argument are marked shared (copy on write),
so changing the result later never shows through the argument.

Callbacks are called with the documented number of positional arguments
(value; carry and value; a and b).  "Numeric keys are reindexed" means the
integer keys of the result are renumbered 0, 1, ... in the new order while
string keys stay as they were.
"""

import functools
import random as _random
import types

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import MISSING, array, fail, function, keep, number, options
from halon.hsl.values import HSLArray, is_function, strict_eq, to_bytes, truthy

_RANDOM = _random.SystemRandom()


def _from_items(items):
    """An array holding C{items} (key, value; keys normalised) in order, values kept shared."""
    d = {}
    nxt = 0.0
    for k, v in items:
        if v.__class__ is HSLArray:
            v.shared = True
        if k.__class__ is float and k >= nxt:
            nxt = k + 1.0
        d[k] = v
    return HSLArray.from_dict(d, nxt)


def _reindexed(items):
    """Like L{_from_items}, integer keys renumbered from 0 in order."""
    result = HSLArray()
    for k, v in items:
        if type(v) is HSLArray:
            v.shared = True
        if type(k) is float:
            result.append(v)
        else:
            result.set(k, v)
    return result


@core.function()
def array_combine(keys, values, default_value=MISSING):
    """Keys from one array, values from the other; C{default_value} fills in missing values."""
    keys = array("array_combine", keys, "keys").to_list()
    values = array("array_combine", values, "values").to_list()
    if len(values) > len(keys) or (len(values) < len(keys) and default_value is MISSING):
        fail("array_combine", "keys (%d) and values (%d) differ in number", len(keys), len(values))
    result = HSLArray()
    for i, key in enumerate(keys):
        if type(key) not in (bytes, float, bool):
            fail("array_combine", "a key must be a string or a number")
        result.set(key, keep(values[i] if i < len(values) else default_value))
    return result


@core.function()
def array_every(callback, array_):
    fn = function("array_every", callback)
    return all(truthy(fn(v)) for v in array("array_every", array_).to_list())


@core.function()
def array_filter(callback, array_):
    fn = function("array_filter", callback)
    items = list(array("array_filter", array_).items())
    return _from_items((k, v) for k, v in items if truthy(fn(v)))


@core.function()
def array_find(callback, array_):
    fn = function("array_find", callback)
    for v in array("array_find", array_).to_list():
        if truthy(fn(v)):
            return keep(v)
    return None


@core.function()
def array_includes(needle, array_):
    """C{needle} found by ===, or a callback that says which value matches."""
    values = array("array_includes", array_).to_list()
    if is_function(needle):
        return any(truthy(needle(v)) for v in values)
    return any(strict_eq(needle, v) for v in values)


@core.function()
def array_join(array_, separator=b""):
    sep = separator if type(separator) is bytes else to_bytes(separator)
    return sep.join([v if type(v) is bytes else to_bytes(v) for v in array("array_join", array_).values()])


@core.function()
def array_keys(array_):
    return HSLArray.from_list(list(array("array_keys", array_).keys()))


@core.function()
def array_map(callback, array_):
    fn = function("array_map", callback)
    items = list(array("array_map", array_).items())
    return _from_items([(k, fn(v)) for k, v in items])


@core.function()
def array_random(array_):
    items = list(array("array_random", array_).items())
    if not items:
        return None
    key, value = _RANDOM.choice(items)
    return HSLArray.from_list([key, keep(value)])


_RANGE_LIMIT = 50_000_000


@core.function()
def array_range(start, stop, step=1.0):
    """[start, start+step, ...) up to but not including C{stop}."""
    first = number("array_range", start, "start")
    last = number("array_range", stop, "stop")
    by = number("array_range", step, "step")
    if by == 0 or by != by:
        fail("array_range", "step must not be 0")
    count = (last - first) / by
    if count != count or count in (float("inf"), float("-inf")):
        fail("array_range", "start, stop and step must be finite")
    n = int(count)
    if n < count:
        n += 1
    n = max(0, n)
    if n > _RANGE_LIMIT:
        fail("array_range", "range of %d numbers is too large", n)
    if first.is_integer() and by.is_integer():
        a, b = int(first), int(by)
        return HSLArray.from_list([float(x) for x in range(a, a + n * b, b)])
    return HSLArray.from_list([first + i * by for i in range(n)])


@core.function()
def array_reduce(callback, array_, initial=MISSING):
    fn = function("array_reduce", callback)
    values = array("array_reduce", array_).to_list()
    if initial is MISSING:
        if not values:
            fail("array_reduce", "empty array and no initial value")
        carry, values = values[0], values[1:]
    else:
        carry = initial
    for v in values:
        carry = fn(carry, v)
    return keep(carry)


@core.function()
def array_reverse(array_):
    items = list(array("array_reverse", array_).items())
    items.reverse()
    return _reindexed(items)


@core.function()
def array_sort(callback, array_, options_=None):
    """
    Sorted by a less-than callback, keys kept with their values; with
    C{"keys" => true} the callback compares keys instead of values.  Python's
    sort only asks "less than?": functools.cmp_to_key gets -1 for a true
    (HSL truthiness is Python's truth test) and 1 otherwise, from the twin
    the compiler gives a two-parameter script function (C{hsl_cmp}) when
    there is one.  A callback the compiler found to be a plain C{<} or C{>}
    of its parameters (C{hsl_order}) is not called for numbers: Python's
    float comparison answers the same questions in the same order, so the
    result is the same, stable order.
    """
    fn = function("array_sort", callback)
    source = array("array_sort", array_)
    by_keys = truthy(options("array_sort", options_, {"keys"}).get("keys", False))
    keys = list(source.keys())
    values = list(source.values())
    operands = keys if by_keys else values
    attributes = fn.__dict__ if type(fn) is types.FunctionType else {}
    order = attributes.get("hsl_order")
    if order is not None and set(map(type, operands)) <= {float}:
        sort_keys = operands if order == "<" else [-v for v in operands]
    else:
        compare = attributes.get("hsl_cmp")
        if compare is None:

            def compare(a, b):
                return -1 if fn(a, b) else 1

        sort_keys = list(map(functools.cmp_to_key(compare), operands))
    # Positions sorted by their sort keys: the key function is C code, so
    # the only Python frames left are the comparisons themselves.
    ranked = sorted(range(len(sort_keys)), key=sort_keys.__getitem__)
    return _from_items([(keys[i], values[i]) for i in ranked])


@core.function()
def array_shuffle(array_):
    items = list(array("array_shuffle", array_).items())
    _RANDOM.shuffle(items)
    return _reindexed(items)


def _identity(value):
    """A hashable stand-in for === on scalars; None for values compared one by one."""
    t = type(value)
    if t is float:
        return (float, 0.0 if value == 0 else value)
    if t is bytes or t is bool or value is None:
        return (t, value)
    return None


@core.function()
def array_unique(array_):
    """Values that are === to an earlier value dropped; the first key is kept."""
    seen = set()
    others = []
    kept = []
    for k, v in array("array_unique", array_).items():
        ident = _identity(v)
        if ident is not None:
            if ident in seen:
                continue
            seen.add(ident)
        else:
            if any(strict_eq(v, o) for o in others):
                continue
            others.append(v)
        kept.append((k, v))
    return _from_items(kept)
