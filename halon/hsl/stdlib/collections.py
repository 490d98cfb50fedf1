"""
Map and Set: strongly typed collections, and the Iterator their entries()
and values() return.

The key type is one of "string", "number" or "boolean"; the value type of
a Map is "any" or one of "string", "number", "boolean", "array", "object",
"function".  A value of the wrong type is a runtime error, as Halon's
typed collections refuse it.

foreach over an Iterator (docs/internals.md, "Iterating objects"):
C{foreach ($it as $v)} uses Python iteration, C{foreach ($it as $k => $v)}
uses C{hsl_items()}.  A Map's entries() gives C{[key, value]} arrays as
values and C{key => value} pairs; a Set's values() gives the keys as
values.  Iterators walk a snapshot, so changing the collection inside the
loop is safe.  Map and Set themselves iterate like their iterators.
"""

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, keep
from halon.hsl.values import HSLArray, HSLObject, HSLResource, is_function, to_bytes, type_name

__all__ = ["Map", "Set", "Iterator", "plus"]

_KEY_TYPES = {"string": bytes, "number": float, "boolean": bool}


def _value_ok(kind, value):
    if kind == "any":
        return True
    if kind == "object":
        return isinstance(value, (HSLObject, HSLResource))
    if kind == "function":
        return is_function(value)
    return type(value) is {"string": bytes, "number": float, "boolean": bool, "array": HSLArray}[kind]


_VALUE_TYPES = {"any", "string", "number", "boolean", "array", "object", "function"}


def _type_arg(cls, value, allowed, what):
    name = to_bytes(value).decode("utf-8", "replace") if type(value) is bytes else None
    if name not in allowed:
        fail(cls, "%s must be one of %s", what, ", ".join(sorted(allowed)))
    return name


def plus(a, b):
    """HSL's + for Map->merge(): the language's own operator."""
    from halon.hsl.runtime import add

    return add(a, b)


class Iterator(HSLObject):
    """A snapshot of (key, value) pairs to walk with foreach."""

    __slots__ = ("_pairs", "_values")
    hsl_class_name = "Iterator"

    def __init__(self, pairs, values):
        self._pairs = pairs
        self._values = values

    def __iter__(self):
        return iter(self._values)

    def hsl_items(self):
        return iter(self._pairs)


class _Typed(HSLObject):
    __slots__ = ("_d", "_key_type")

    def _key(self, method, key):
        want = _KEY_TYPES[self._key_type]
        if type(key) is not want:
            fail("%s->%s" % (self.hsl_class_name, method), "key must be a %s, not %s", self._key_type, type_name(key))
        if key != key:
            fail("%s->%s" % (self.hsl_class_name, method), "key must not be nan")
        return key

    def size(self):
        return float(len(self._d))

    def clear(self):
        self._d.clear()
        return None

    def has(self, key):
        return self._key("has", key) in self._d

    def delete(self, key):
        return self._d.pop(self._key("delete", key), _MISSING) is not _MISSING

    def __iter__(self):
        return iter(self._iterator())

    def hsl_items(self):
        return self._iterator().hsl_items()


_MISSING = object()


@core.cls("Map")
class Map(_Typed):
    """Map(string $keytype, string $valuetype)."""

    __slots__ = ("_value_type",)
    hsl_class_name = "Map"
    hsl_methods = {
        "set": "set",
        "has": "has",
        "get": "get",
        "delete": "delete",
        "merge": "merge",
        "size": "size",
        "clear": "clear",
        "entries": "entries",
    }

    def __init__(self, keytype, valuetype):
        self._key_type = _type_arg("Map", keytype, _KEY_TYPES, "keytype")
        self._value_type = _type_arg("Map", valuetype, _VALUE_TYPES, "valuetype")
        self._d = {}

    def _value(self, method, value):
        if not _value_ok(self._value_type, value):
            fail("Map->" + method, "value must be of type %s, not %s", self._value_type, type_name(value))
        return keep(value)

    def set(self, key, value):
        self._d[self._key("set", key)] = self._value("set", value)
        return True

    def get(self, key):
        return keep(self._d.get(self._key("get", key)))

    def merge(self, key, value):
        k = self._key("merge", key)
        current = self._d.get(k, _MISSING)
        self._d[k] = self._value("merge", keep(value) if current is _MISSING else plus(current, value))
        return True

    def entries(self):
        return self._iterator()

    def _iterator(self):
        pairs = [(k, keep(v)) for k, v in list(self._d.items())]
        return Iterator(pairs, [HSLArray.from_list([k, v]) for k, v in pairs])


@core.cls("Set")
class Set(_Typed):
    """Set(string $keytype)."""

    __slots__ = ()
    hsl_class_name = "Set"
    hsl_methods = {
        "add": "add",
        "has": "has",
        "delete": "delete",
        "size": "size",
        "clear": "clear",
        "values": "values",
    }

    def __init__(self, keytype):
        self._key_type = _type_arg("Set", keytype, _KEY_TYPES, "keytype")
        self._d = {}

    def add(self, key):
        """Adds C{key}; true when it was not there before."""
        k = self._key("add", key)
        if k in self._d:
            return False
        self._d[k] = None
        return True

    def values(self):
        return self._iterator()

    def _iterator(self):
        keys = list(self._d)
        return Iterator([(float(i), k) for i, k in enumerate(keys)], keys)
