"""
What compiled scripts call: HSL's operators, subscripts, properties,
classes, iteration and the statements that need a helper (cache, barrier,
imports).  The compiler emits plain Python wherever HSL's semantics allow
(variables, calls, control flow) and a call into this module where they
differ from Python's (arithmetic on mixed types, copy-on-write arrays).

Every name the compiler may emit is listed in L{HELPERS}, which becomes
the C{R_}-prefixed part of a program's globals.
"""

import math
import threading
import time

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import (
    HSLArray,
    HSLObject,
    loose_eq,
    norm_key,
    strict_eq,
    to_bytes,
    to_number,
    truthy,
    type_name,
)

__all__ = ["HELPERS", "Throw", "ScriptObject", "make_class", "share"]


class Throw(Exception):
    """An HSL C{throw}: carries any value; catchable by HSL try/catch."""

    def __init__(self, value):
        Exception.__init__(self, value)
        self.value = value


NO_DEFAULT = object()


def share(value):
    """The value about to be stored in a second place (arrays copy lazily)."""
    if type(value) is HSLArray:
        value.shared = True
    return value


# -- arithmetic -----------------------------------------------------------


def _num(value):
    return value if type(value) is float else to_number(value)


def add(a, b):
    if type(a) is float and type(b) is float:
        return a + b
    if type(a) is HSLArray:
        result = a.copy()
        if type(b) is HSLArray:
            for k, v in b.items():
                if type(k) is float:
                    result.append(share(v))
                else:
                    result.set(k, share(v))
        else:
            result.append(b)
        return result
    if type(b) is HSLArray:
        return add(HSLArray.from_list([a]), b)
    return _num(a) + _num(b)


def sub(a, b):
    if type(a) is float and type(b) is float:
        return a - b
    if type(a) is HSLArray:
        drop = list(b.values()) if type(b) is HSLArray else [b]
        kept = {k: share(v) for k, v in a.items() if not any(strict_eq(v, d) for d in drop)}
        return HSLArray.from_dict(kept, a.next_index())
    return _num(a) - _num(b)


def mul(a, b):
    if type(a) is float and type(b) is float:
        return a * b
    if type(b) in (bytes, HSLArray) and type(a) is not type(b):
        a, b = b, a
    if type(a) is bytes:
        n = _num(b)
        return a * int(n) if n > 0 else b""
    if type(a) is HSLArray:
        n = int(_num(b))
        values = [share(v) for v in a.values()]
        return HSLArray.from_list(values * n if n > 0 else [])
    return _num(a) * _num(b)


def div(a, b):
    a, b = _num(a), _num(b)
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


fmod = math.fmod


def mod(a, b):
    if type(a) is bytes and type(b) is HSLArray:
        from halon.hsl.format import format_string

        return format_string(a, b)
    a, b = _num(a), _num(b)
    if b == 0:
        return math.nan
    return math.fmod(a, b)


def pow_(a, b):
    a, b = _num(a), _num(b)
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def neg(a):
    return -_num(a)


def concat(a, b):
    return (a if type(a) is bytes else to_bytes(a)) + (b if type(b) is bytes else to_bytes(b))


def text(value):
    """A value as interpolation and C{.} show it; integers, the common number, without further calls."""
    t = value.__class__
    if t is bytes:
        return value
    if t is float and value.is_integer() and -1e21 < value < 1e21:
        return b"%d" % value
    return to_bytes(value)


def _int32(value):
    n = _num(value)
    if n != n or n in (math.inf, -math.inf):
        return 0
    n = int(n) & 0xFFFFFFFF
    return n - 0x100000000 if n & 0x80000000 else n


def band(a, b):
    return float(_int32(a) & _int32(b))


def bor(a, b):
    return float(_int32(a) | _int32(b))


def bxor(a, b):
    return float(_int32(a) ^ _int32(b))


def bnot(a):
    return float(~_int32(a))


def shl(a, b):
    return float(_int32(float(_int32(a) << (_int32(b) & 31))))


def shr(a, b):
    return float(_int32(a) >> (_int32(b) & 31))


def ushr(a, b):
    return float((_int32(a) & 0xFFFFFFFF) >> (_int32(b) & 31))


# -- comparison -----------------------------------------------------------


def _ordered(a, b):
    if type(a) is bytes and type(b) is bytes:
        return a, b
    return _num(a), _num(b)


def lt(a, b):
    if type(a) is float and type(b) is float:
        return a < b
    a, b = _ordered(a, b)
    return a < b


def le(a, b):
    if type(a) is float and type(b) is float:
        return a <= b
    a, b = _ordered(a, b)
    return a <= b


def gt(a, b):
    if type(a) is float and type(b) is float:
        return a > b
    a, b = _ordered(a, b)
    return a > b


def ge(a, b):
    if type(a) is float and type(b) is float:
        return a >= b
    a, b = _ordered(a, b)
    return a >= b


def eq(a, b):
    if type(a) is type(b) and type(a) in (float, bytes, bool):
        return a == b
    return loose_eq(a, b)


def ne(a, b):
    return not eq(a, b)


def seq(a, b):
    return strict_eq(a, b)


def sne(a, b):
    return not strict_eq(a, b)


def rmatch(subject, pattern):
    return _regex_module().regex_match(pattern, subject)


def regex(pattern, flags):
    return _regex_module().compile_regex(pattern, flags)


_regex = None


def _regex_module():
    """The stdlib's regex module, imported on first use (importing it loads the whole stdlib)."""
    global _regex
    if _regex is None:
        from halon.hsl.stdlib import regex as module

        _regex = module
    return _regex


def incr(value, delta):
    """++ and --: the number after the step (none counts as 0)."""
    return _num(value) + delta


# -- arrays and subscripts -------------------------------------------------


NOKEY = object()
SPREAD = object()


def array(flat):
    """An array literal from (key, value) pairs; NOKEY appends, SPREAD splices."""
    result = HSLArray()
    it = iter(flat)
    for key in it:
        value = next(it)
        if key is NOKEY:
            result.append(value)
        elif key is SPREAD:
            if type(value) is not HSLArray:
                raise HSLRuntimeError("cannot spread %s into an array" % type_name(value))
            for k, v in value.items():
                if type(k) is float:
                    result.append(share(v))
                else:
                    result.set(k, share(v))
        else:
            result.set(key, value)
    return result


# An array literal: its keys the compiler normalised, in a fresh dict each time.
literal = HSLArray.from_dict


def spread(value):
    """The values of C{...$args} in a call."""
    if type(value) is not HSLArray:
        raise HSLRuntimeError("cannot spread %s as arguments" % type_name(value))
    return [share(v) for v in value.values()]


def index(container, key):
    t = type(container)
    if t is HSLArray:
        return container.get(key)
    if t is bytes:
        i = _position(key, len(container))
        return None if i is None else container[i : i + 1]
    if container is None:
        return None
    if isinstance(container, HSLObject):
        return prop(container, to_bytes(key).decode("utf-8", "surrogateescape"))
    raise HSLRuntimeError("cannot subscript %s" % type_name(container))


def index_safe(container, key):
    """Subscript for C{??} and isset(): none instead of an error."""
    t = type(container)
    if t is HSLArray:
        return container.get(key)
    if t is bytes:
        return index(container, key)
    return None


def _position(key, length):
    i = int(_num(key))
    if i < 0:
        i += length
    if 0 <= i < length:
        return i
    return None


def own(container):
    """The container to write into: a private array (made from none), or an object."""
    t = type(container)
    if t is HSLArray:
        return container.copy() if container.shared else container
    if container is None:
        return HSLArray()
    if isinstance(container, HSLObject):
        return container
    raise HSLRuntimeError("cannot assign into %s with []" % type_name(container))


def append(container, value):
    """
    C{$x[] = value}: the container (to store back into the variable).  A
    private array, the usual case in a loop, is appended to in place here.
    """
    if container.__class__ is HSLArray and not container.shared:
        k = container._next
        container._d[k] = value
        container._next = k + 1.0
        return container
    return setitem(container, NOKEY, value)


def setitem(container, key, value):
    """C{$x[key] = value}: the container (to store back into the variable)."""
    container = own(container)
    if type(container) is HSLArray:
        if key is NOKEY:
            container.append(value)
        else:
            container.set(key, value)
    else:
        if key is NOKEY:
            raise HSLRuntimeError("cannot append to an object")
        setprop(container, to_bytes(key).decode("utf-8", "surrogateescape"), value)
    return container


def child(container, key, is_prop=False):
    """
    The private container at C{container[key]} (created when missing),
    stored back into C{container}: one step of C{$a["x"]["y"] = v}.
    """
    if is_prop:
        current = prop(container, key, True) if isinstance(container, ScriptObject) else index(container, key.encode())
    elif key is NOKEY:
        current = None
    else:
        current = container.get(key) if type(container) is HSLArray else index(container, key)
    owned = own(current)
    if owned is not current or key is NOKEY:
        if is_prop and isinstance(container, HSLObject):
            setprop(container, key, owned, True)
        elif key is NOKEY:
            container.append(owned)
        elif type(container) is HSLArray:
            container.set(key, owned)
        else:
            setprop(container, to_bytes(key).decode(), owned)
    return owned


def delitem(container, key):
    if type(container) is HSLArray:
        container = own(container)
        container.delete(key)
        return container
    if container is None:
        return None
    raise HSLRuntimeError("cannot unset an index of %s" % type_name(container))


def slice_(value, start, stop, step):
    t = type(value)
    if t is not bytes and t is not HSLArray:
        raise HSLRuntimeError("cannot slice %s" % type_name(value))
    py = slice(
        None if start is None else int(_num(start)),
        None if stop is None else int(_num(stop)),
        None if step is None else int(_num(step)),
    )
    if py.step == 0:
        raise HSLRuntimeError("slice step cannot be zero")
    if t is bytes:
        return value[py]
    return HSLArray.from_list([share(v) for v in list(value.values())[py]])


def slice_assign(value, start, stop, step, new):
    if type(value) is not HSLArray:
        raise HSLRuntimeError("cannot assign to a slice of %s" % type_name(value))
    values = list(value.values())
    py = slice(
        None if start is None else int(_num(start)),
        None if stop is None else int(_num(stop)),
        None if step is None else int(_num(step)),
    )
    replacement = [share(v) for v in new.values()] if type(new) is HSLArray else [new]
    try:
        values[py] = replacement
    except ValueError as e:
        raise HSLRuntimeError("slice assignment: %s" % e)
    return HSLArray.from_list(values)


def destructure(value, key):
    """One element for a destructuring pattern; none when absent."""
    if type(value) is not HSLArray:
        return None
    return share(value.get(key))


def destructure_rest(value, used, positional):
    if type(value) is not HSLArray:
        return HSLArray()
    result = HSLArray()
    if positional:
        for v in list(value.values())[used:]:
            result.append(share(v))
    else:
        skip = {norm_key(k) for k in used}
        for k, v in value.items():
            if k not in skip:
                result.set(k, share(v))
    return result


# -- iteration --------------------------------------------------------------


def values(iterable):
    if type(iterable) is HSLArray:
        iterable.shared = True
        for v in iterable._d.values():
            if type(v) is HSLArray:
                v.shared = True
            yield v
    elif isinstance(iterable, HSLObject):
        yield from iter(iterable)
    elif iterable is None:
        raise HSLRuntimeError("cannot iterate over none")
    else:
        raise HSLRuntimeError("cannot iterate over %s" % type_name(iterable))


def items(iterable):
    if type(iterable) is HSLArray:
        iterable.shared = True
        for k, v in iterable._d.items():
            if type(v) is HSLArray:
                v.shared = True
            yield k, v
    elif isinstance(iterable, HSLObject) and hasattr(iterable, "hsl_items"):
        yield from iterable.hsl_items()
    else:
        raise HSLRuntimeError("cannot iterate over %s" % type_name(iterable))


# -- calls ------------------------------------------------------------------


def call(value):
    """C{$f(...)}: C{value} must be a function (or a class)."""
    if callable(value) and not isinstance(value, HSLObject):
        return value
    raise HSLRuntimeError("%s is not a function" % type_name(value))


def method(obj, name):
    """C{$obj->name}: the bound method to call."""
    if isinstance(obj, ScriptObject):
        return obj.hsl_method(name, False)
    if isinstance(obj, HSLObject):
        attr = type(obj).hsl_methods.get(name)
        if attr is None:
            raise HSLRuntimeError("%s has no function %s()" % (type(obj).hsl_class_name, name))
        return getattr(obj, attr)
    if type(obj) is HSLArray:
        return call(obj.get(name.encode()))
    raise HSLRuntimeError("cannot call ->%s() on %s" % (name, type_name(obj)))


def method_in(obj, name):
    """C{$this->name} inside the class: private functions too."""
    if isinstance(obj, ScriptObject):
        return obj.hsl_method(name, True)
    return method(obj, name)


def static(cls, name):
    """C{Class::name}: a static function of a script or builtin class."""
    if isinstance(cls, type) and issubclass(cls, ScriptObject):
        return cls.hsl_static(name, False)
    statics = getattr(cls, "hsl_statics", {})
    attr = statics.get(name)
    if attr is None:
        raise HSLRuntimeError("%s has no static function %s()" % (getattr(cls, "hsl_class_name", "class"), name))
    return getattr(cls, attr)


def static_in(cls, name):
    return cls.hsl_static(name, True)


# -- objects ------------------------------------------------------------------


class ScriptObject(HSLObject):
    """
    Base of classes defined in scripts.  Properties live in C{p} (name ->
    value); the class itself carries the member table the compiler built.
    """

    __slots__ = ("p", "__weakref__")
    hsl_class_name = "object"
    hsl_private = frozenset()
    hsl_readonly = frozenset()
    hsl_functions = {}
    hsl_property_defaults = ()
    hsl_constructor = None
    hsl_static_functions = {}
    hsl_static_vars = None

    def __init__(self, *args):
        self.p = {name: make() for name, make in self.hsl_property_defaults}
        ctor = self.hsl_constructor
        if ctor is not None:
            ctor(self, *args)
        elif args:
            raise HSLRuntimeError("%s() takes no arguments" % self.hsl_class_name)

    def hsl_method(self, name, inside):
        fn = self.hsl_functions.get(name)
        if fn is None:
            value = self.p.get(name)
            if value is not None and (inside or name not in self.hsl_private):
                return call(value)
            raise HSLRuntimeError("%s has no function %s()" % (self.hsl_class_name, name))
        if not inside and name in self.hsl_private:
            raise HSLRuntimeError("%s->%s() is private" % (self.hsl_class_name, name))
        return fn.__get__(self)

    @classmethod
    def hsl_static(cls, name, inside):
        fn = cls.hsl_static_functions.get(name)
        if fn is None:
            raise HSLRuntimeError("%s has no static function %s()" % (cls.hsl_class_name, name))
        if not inside and name in cls.hsl_private:
            raise HSLRuntimeError("%s::%s() is private" % (cls.hsl_class_name, name))
        return fn


def make_class(name, properties, constructor, functions, statics, static_vars, private, readonly):
    """
    A Python class for an HSL class definition.  C{properties}: (name,
    factory) pairs giving each instance its defaults; C{functions} take
    the instance first; C{static_vars}: name -> value.
    """
    return type(
        name,
        (ScriptObject,),
        {
            "__slots__": (),
            "hsl_class_name": name,
            "hsl_property_defaults": tuple(properties),
            "hsl_constructor": None if constructor is None else staticmethod(constructor),
            "hsl_functions": dict(functions),
            "hsl_static_functions": dict(statics),
            "hsl_static_vars": dict(static_vars),
            "hsl_private": frozenset(private),
            "hsl_readonly": frozenset(readonly),
        },
    )


def prop(obj, name, inside=False):
    if isinstance(obj, ScriptObject):
        if not inside and name in obj.hsl_private:
            raise HSLRuntimeError("%s->%s is private" % (obj.hsl_class_name, name))
        value = obj.p.get(name)
        if value is None and name in obj.hsl_functions:
            return obj.hsl_method(name, inside)
        return value
    if type(obj) is HSLArray:
        return obj.get(name.encode())
    if obj is None:
        return None
    if isinstance(obj, HSLObject):
        attr = type(obj).hsl_methods.get(name)
        if attr is not None:
            return getattr(obj, attr)
    raise HSLRuntimeError("cannot read ->%s of %s" % (name, type_name(obj)))


def prop_safe(obj, name):
    if isinstance(obj, ScriptObject):
        return obj.p.get(name)
    if type(obj) is HSLArray:
        return obj.get(name.encode())
    return None


def setprop(obj, name, value, inside=False):
    if isinstance(obj, ScriptObject):
        if not inside and (name in obj.hsl_private or name in obj.hsl_readonly):
            what = "private" if name in obj.hsl_private else "read-only"
            raise HSLRuntimeError("%s->%s is %s" % (obj.hsl_class_name, name, what))
        obj.p[name] = value
        return obj
    if type(obj) is HSLArray or obj is None:
        return setitem(obj, name.encode(), value)
    raise HSLRuntimeError("cannot set ->%s of %s" % (name, type_name(obj)))


def delprop(obj, name, inside=False):
    if isinstance(obj, ScriptObject):
        if not inside and (name in obj.hsl_private or name in obj.hsl_readonly):
            raise HSLRuntimeError("cannot unset %s->%s" % (obj.hsl_class_name, name))
        obj.p.pop(name, None)
        return obj
    return delitem(obj, name.encode())


def sget(cls, name):
    try:
        return cls.hsl_static_vars[name]
    except (KeyError, AttributeError, TypeError):
        raise HSLRuntimeError("%s has no static variable $%s" % (getattr(cls, "hsl_class_name", "class"), name))


def sset(cls, name, value):
    if cls.hsl_static_vars is None or name not in cls.hsl_static_vars:
        raise HSLRuntimeError("%s has no static variable $%s" % (cls.hsl_class_name, name))
    cls.hsl_static_vars[name] = value
    return value


# -- match --------------------------------------------------------------------


def no_match(value):
    raise HSLRuntimeError("match: no arm matches %s" % to_bytes(value).decode("utf-8", "replace"))


# -- cache and barrier ------------------------------------------------------


class CacheBucket:
    """One namespace + function of the cache statement, with what halonctl hsl cache list shows."""

    __slots__ = ("entries", "size", "lock", "hits", "misses", "evicts")

    def __init__(self, size):
        self.entries = {}
        self.size = size
        self.lock = threading.Lock()
        self.hits = self.misses = self.evicts = 0


def _cache_key(value):
    if type(value) is HSLArray:
        return ("a",) + tuple((k, _cache_key(v)) for k, v in value.items())
    if isinstance(value, (float, bytes, bool)) or value is None:
        return (type(value).__name__, value)
    return ("id", id(value))


def cached_call(store, options, name, fn, args, clock=time.monotonic):
    """
    The C{cache} statement: a process-wide memo of C{fn(*args)} keyed on
    the function name, the chosen arguments and the namespace.
    """
    opts = options if type(options) is HSLArray else HSLArray()
    namespace = to_bytes(opts.get(b"namespace", b""))
    size = int(_num(opts.get(b"size", 32.0)))
    ttl = _num(opts.get(b"ttl", 60.0))
    key_args = args
    argv_filter = opts.get(b"argv_filter")
    if type(argv_filter) is HSLArray:
        key_args = [args[int(_num(i)) - 1] for i in argv_filter.values() if 0 < int(_num(i)) <= len(args)]
    bucket_key = (namespace, name)
    with store["lock"]:
        bucket = store["buckets"].get(bucket_key)
        if bucket is None:
            bucket = store["buckets"][bucket_key] = CacheBucket(size)
        bucket.size = min(bucket.size, size)
    key = tuple(_cache_key(a) for a in key_args)
    now = clock()
    if not truthy(opts.get(b"force", False)):
        with bucket.lock:
            hit = bucket.entries.get(key)
            if hit is not None and hit[0] > now:
                bucket.hits += 1
                if truthy(opts.get(b"lru", True)):
                    bucket.entries[key] = bucket.entries.pop(key)
                return share(hit[1])
            bucket.misses += 1
    result = fn(*args)
    override = opts.get(b"ttl_override")
    if type(override) is HSLArray:
        for k, v in override.items():
            if loose_eq(k, result):
                ttl = _num(v)
    ttl_function = opts.get(b"ttl_function")
    if callable(ttl_function):
        ttl = _num(ttl_function(share(result)))
    with bucket.lock:
        if key not in bucket.entries and len(bucket.entries) >= max(bucket.size, 1):
            drop = max(1, bucket.size // 10)
            for old in list(bucket.entries)[:drop]:
                del bucket.entries[old]
            bucket.evicts += drop
        bucket.entries[key] = (now + ttl, share(result))
    return result


def new_cache_store():
    return {"lock": threading.Lock(), "buckets": {}}


def cache_buckets(store):
    """(namespace, function, bucket) for every bucket, for halonctl hsl cache list."""
    with store["lock"]:
        return [(namespace, name, bucket) for (namespace, name), bucket in sorted(store["buckets"].items())]


def clear_cache(store, namespace=None, function=None):
    """Drop the buckets matching both filters (None matches any); how many were dropped."""
    with store["lock"]:
        matching = [
            key
            for key in store["buckets"]
            if (namespace is None or key[0] == namespace) and (function is None or key[1] == function)
        ]
        for key in matching:
            del store["buckets"][key]
    return len(matching)


class Barrier:
    """A named lock with an optional value kept between executions."""

    def __init__(self):
        self.lock = threading.Lock()
        self.value = NO_DEFAULT


def new_barrier_store():
    return {"lock": threading.Lock(), "barriers": {}}


def barrier(store, name):
    name = to_bytes(name)
    with store["lock"]:
        b = store["barriers"].get(name)
        if b is None:
            b = store["barriers"][name] = Barrier()
    b.lock.acquire()
    return b


HELPERS = {
    name: globals()[attr]
    for name, attr in [
        ("share", "share"),
        ("add", "add"),
        ("sub", "sub"),
        ("mul", "mul"),
        ("div", "div"),
        ("mod", "mod"),
        ("fmod", "fmod"),
        ("pow", "pow_"),
        ("neg", "neg"),
        ("concat", "concat"),
        ("text", "text"),
        ("band", "band"),
        ("bor", "bor"),
        ("bxor", "bxor"),
        ("bnot", "bnot"),
        ("shl", "shl"),
        ("shr", "shr"),
        ("ushr", "ushr"),
        ("lt", "lt"),
        ("le", "le"),
        ("gt", "gt"),
        ("ge", "ge"),
        ("eq", "eq"),
        ("ne", "ne"),
        ("seq", "seq"),
        ("sne", "sne"),
        ("rmatch", "rmatch"),
        ("regex", "regex"),
        ("incr", "incr"),
        ("array", "array"),
        ("literal", "literal"),
        ("NOKEY", "NOKEY"),
        ("SPREAD", "SPREAD"),
        ("NO_DEFAULT", "NO_DEFAULT"),
        ("spread", "spread"),
        ("index", "index"),
        ("index_safe", "index_safe"),
        ("own", "own"),
        ("setitem", "setitem"),
        ("append", "append"),
        ("child", "child"),
        ("delitem", "delitem"),
        ("slice", "slice_"),
        ("slice_assign", "slice_assign"),
        ("destructure", "destructure"),
        ("destructure_rest", "destructure_rest"),
        ("values", "values"),
        ("items", "items"),
        ("call", "call"),
        ("method", "method"),
        ("method_in", "method_in"),
        ("static", "static"),
        ("static_in", "static_in"),
        ("make_class", "make_class"),
        ("prop", "prop"),
        ("prop_safe", "prop_safe"),
        ("setprop", "setprop"),
        ("delprop", "delprop"),
        ("sget", "sget"),
        ("sset", "sset"),
        ("no_match", "no_match"),
        ("Throw", "Throw"),
        ("truthy", "truthy"),
        ("HSLArray", "HSLArray"),
    ]
}
