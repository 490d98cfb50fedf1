"""
HSL values as Python objects, and the conversions the manual defines.

The representation is chosen so that compiled scripts run at CPython speed
and the stdlib reads like ordinary Python:

    HSL type    Python
    none        None
    boolean     bool
    number      float          (always float, never int: HSL numbers are doubles)
    string      bytes          (HSL strings are byte strings)
    array       HSLArray       (ordered map; keys are integral floats or bytes)
    function    any callable that is not an HSLObject (Python function,
                builtin, bound method, HSLFunction)
    object      HSLObject      (instances of script classes and builtin classes)
    resource    HSLResource    (X509Resource, FileResource, ...)

Arrays are values: assignment copies them.  Copying is lazy: an array that
is stored in a second place is marked C{shared}, and whoever mutates a shared
array mutates a private copy instead (see L{HSLArray.own}).  Stdlib functions
never mutate an argument and never return an argument array itself.
"""

import itertools
import math
import operator
import re

from halon.hsl.errors import HSLRuntimeError

__all__ = [
    "HSLArray",
    "HSLObject",
    "HSLResource",
    "INDEXES",
    "norm_key",
    "to_bytes",
    "to_number",
    "to_boolean",
    "format_number",
    "truthy",
    "loose_eq",
    "strict_eq",
    "type_name",
    "is_function",
]

_INT_KEY = re.compile(rb"\A(?:0|-?[1-9][0-9]*)\Z")

# The keys of short list-like arrays, made once (shared with the JSON accelerator).
INDEXES = tuple(float(i) for i in range(256))


def norm_key(key):
    """
    Normalise an array key as HSL does: booleans become 0/1, numbers are
    truncated to integers, strings holding a canonical integer become that
    number, other strings stay strings.
    """
    t = type(key)
    if t is float:
        if key.is_integer():
            return key
        if key != key or key in (math.inf, -math.inf):
            raise HSLRuntimeError("invalid array key (%s)" % format_number(key).decode())
        return float(int(key))
    if t is bytes:
        if _INT_KEY.match(key) and len(key) < 16:
            return float(int(key))
        return key
    if t is bool:
        return 1.0 if key else 0.0
    if t is str:
        return norm_key(key.encode("utf-8"))
    if t is int:
        return float(key)
    raise HSLRuntimeError("invalid array key of type %s" % type_name(key))


class HSLArray:
    """
    An ordered map with automatic integer indexes.

    C{_next} is the index the next appended value gets: one more than the
    highest integer key ever seen, never below 0.
    """

    __slots__ = ("_d", "_next", "shared")

    def __init__(self, items=None):
        self._d = {}
        self._next = 0.0
        self.shared = False
        if items is not None:
            if isinstance(items, dict):
                for k, v in items.items():
                    self.set(k, v)
            else:
                for v in items:
                    self.append(v)

    @classmethod
    def from_list(cls, values):
        """A list-like array 0..n-1 from a Python sequence (values as given)."""
        n = len(values)
        return cls.from_dict(dict(zip(INDEXES if n <= len(INDEXES) else map(float, range(n)), values)), float(n))

    @classmethod
    def from_dict(cls, items, next_index):
        """An array over the dict C{items}, whose keys are already normalised, taken as it is."""
        a = cls.__new__(cls)
        a._d = items
        a._next = next_index
        a.shared = False
        return a

    @classmethod
    def from_pairs(cls, pairs):
        """An array from (key, value) pairs whose keys are already normalised."""
        d = {}
        nxt = 0.0
        for k, v in pairs:
            d[k] = v
            if type(k) is float and k >= nxt:
                nxt = k + 1.0
        return cls.from_dict(d, nxt)

    # -- reading ----------------------------------------------------------

    def get(self, key, default=None):
        """The value at C{key} (normalised), or C{default} (HSL: none) when absent."""
        d = self._d
        try:
            return d[key]
        except KeyError:
            pass
        except TypeError:
            pass
        return d.get(norm_key(key), default)

    def has(self, key):
        return norm_key(key) in self._d

    def __len__(self):
        return len(self._d)

    def __bool__(self):
        return bool(self._d)

    def __iter__(self):
        """Iterates over values (not keys), as foreach does."""
        return iter(self._d.values())

    def keys(self):
        return self._d.keys()

    def values(self):
        return self._d.values()

    def items(self):
        return self._d.items()

    def is_list(self):
        """True when the keys are exactly 0, 1, ..., n-1 in that order (compared in C)."""
        d = self._d
        n = len(d)
        if n <= len(INDEXES):
            return tuple(d) == INDEXES[:n]
        return all(map(operator.eq, d, itertools.count(0.0)))

    def next_index(self):
        return self._next

    # -- writing (callers make sure they own the array first) -------------

    def set(self, key, value):
        key = norm_key(key)
        self._d[key] = value
        if type(key) is float and key >= self._next:
            self._next = key + 1.0

    def append(self, value):
        k = self._next
        self._d[k] = value
        self._next = k + 1.0

    def delete(self, key):
        """Remove C{key}; returns whether it existed."""
        try:
            del self._d[norm_key(key)]
            return True
        except KeyError:
            return False

    def clear(self):
        self._d.clear()

    # -- value semantics ---------------------------------------------------

    def copy(self):
        """A private shallow copy; nested arrays become shared between both."""
        d = self._d.copy()
        for v in d.values():
            if type(v) is HSLArray:
                v.shared = True
        return HSLArray.from_dict(d, self._next)

    def own(self):
        """The array to mutate: C{self} when private, a copy when shared."""
        return self.copy() if self.shared else self

    def share(self):
        """Mark as stored in a second place; returns C{self}."""
        self.shared = True
        return self

    # -- Python conveniences (tests and the stdlib) ------------------------

    def to_list(self):
        return list(self._d.values())

    def to_dict(self):
        return dict(self._d)

    def __eq__(self, other):
        """Same keys in the same order with strictly equal values."""
        if type(other) is not HSLArray:
            return NotImplemented
        if len(self._d) != len(other._d):
            return False
        for (k1, v1), (k2, v2) in zip(self._d.items(), other._d.items()):
            if k1 != k2 or type(k1) is not type(k2) or not strict_eq(v1, v2):
                return False
        return True

    __hash__ = None

    def __repr__(self):
        return "HSLArray(%s)" % (to_bytes(self).decode("utf-8", "replace"),)


class HSLObject:
    """
    Base of everything HSL calls an object: instances of script classes and
    of builtin classes (Map, Set, File, MailMessage, ...).  Objects are
    reference types: assignment never copies them.

    Builtin classes expose their methods to scripts by name through
    C{hsl_methods} (HSL method name -> Python attribute name); static methods
    (C{Class::name()}) through C{hsl_statics} on the class.
    """

    __slots__ = ()
    hsl_class_name = "object"
    hsl_methods = {}
    hsl_statics = {}


class HSLResource:
    """Base of opaque handles (X509Resource, FileResource, RSAPrivateKey ...)."""

    __slots__ = ()
    hsl_resource_name = "resource"


def is_function(value):
    return callable(value) and not isinstance(value, (HSLObject, HSLResource, type))


def type_name(value):
    """The HSL name of a value's type, for error messages."""
    t = type(value)
    if value is None:
        return "none"
    if t is bool:
        return "boolean"
    if t is float or t is int:
        return "number"
    if t is bytes or t is str:
        return "string"
    if t is HSLArray:
        return "array"
    if isinstance(value, HSLObject):
        return "object"
    if isinstance(value, HSLResource):
        return "resource"
    if callable(value):
        return "function"
    return t.__name__


# -- numbers --------------------------------------------------------------


def format_number(n):
    """
    A number as HSL prints it: the shortest form that reads back to the same
    double, without trailing zeros or a decimal point for integers
    (C{1.0} -> C{1}, C{0.5} -> C{0.5}, C{1e20} -> C{100000000000000000000}).
    """
    if n.is_integer() if type(n) is float else isinstance(n, int):
        if -1e21 < n < 1e21:
            return b"%d" % n
    if n != n:
        return b"nan"
    if n == math.inf:
        return b"inf"
    if n == -math.inf:
        return b"-inf"
    s = repr(float(n))
    if "e" in s:
        mantissa, exp = s.split("e")
        e = int(exp)
        if -7 < e < 21:
            s = "%.*f" % (max(0, len(mantissa.replace("-", "").replace(".", "")) - 1 - e), n)
            if "." in s:
                s = s.rstrip("0").rstrip(".")
        else:
            s = mantissa + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return s.encode("ascii")


_NUMBER = re.compile(rb"\A\s*([-+]?)(0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)")


def to_number(value):
    """number(): decimal and 0x hexadecimal strings; anything invalid is 0."""
    t = type(value)
    if t is float:
        return value
    if t is bool:
        return 1.0 if value else 0.0
    if t is bytes:
        m = _NUMBER.match(value)
        if not m:
            return 0.0
        sign, digits = m.groups()
        if digits[:2] in (b"0x", b"0X"):
            n = float(int(digits[2:], 16))
        else:
            n = float(digits)
        return -n if sign == b"-" else n
    if t is int:
        return float(value)
    if t is str:
        return to_number(value.encode("utf-8"))
    return 0.0


def to_boolean(value):
    return truthy(value)


def truthy(value):
    """HSL truthiness: none, false, 0, "" and [] are false; all else true."""
    t = type(value)
    if t is bool:
        return value
    if value is None:
        return False
    if t is float or t is bytes or t is HSLArray or t is int or t is str:
        return bool(value)
    return True


# -- strings --------------------------------------------------------------


def to_bytes(value):
    """string(): how echo, concatenation and interpolation show a value."""
    t = type(value)
    if t is bytes:
        return value
    if t is float or t is int:
        return format_number(value)
    if t is bool:
        return b"true" if value else b"false"
    if value is None:
        return b"none"
    if t is HSLArray:
        return _array_repr(value)
    if t is str:
        return value.encode("utf-8")
    if isinstance(value, HSLObject):
        return b"object"
    if isinstance(value, HSLResource):
        return value.hsl_resource_name.encode()
    if callable(value):
        return b"function"
    return str(value).encode("utf-8")


def _quote(b):
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _element_repr(value):
    if type(value) is bytes:
        return _quote(value)
    if type(value) is str:
        return _quote(value.encode("utf-8"))
    return to_bytes(value)


def _array_repr(array):
    """The manual's echo format: every pair as key=>value, even for lists."""
    return (
        b"["
        + b",".join(
            _element_repr(k) + b"=>" + _element_repr(v) for k, v in array.items()
        )
        + b"]"
    )


# -- comparison -----------------------------------------------------------


def strict_eq(a, b):
    """===: same type and same value; arrays by content, objects by identity."""
    ta, tb = type(a), type(b)
    if ta is not tb:
        if (ta is int and tb is float) or (ta is float and tb is int):
            return a == b
        return False
    if ta is float or ta is bytes or ta is bool or a is None:
        return a == b
    if ta is HSLArray:
        return a == b
    return a is b


def loose_eq(a, b):
    """
    ==, following the manual's table: same types compare as ===; a boolean
    against a number compares the number with 1/0, against anything else by
    truthiness; a number against a string converts the string; none equals
    only none; strings never equal arrays, functions or objects.
    """
    ta, tb = type(a), type(b)
    if ta is tb:
        return strict_eq(a, b)
    if a is None or b is None:
        return False
    if ta is bool:
        if tb is float:
            return (1.0 if a else 0.0) == b
        return a == truthy(b)
    if tb is bool:
        if ta is float:
            return a == (1.0 if b else 0.0)
        return truthy(a) == b
    if ta is float:
        if tb is bytes:
            return a == to_number(b)
        return a == (1.0 if truthy(b) else 0.0)
    if tb is float:
        if ta is bytes:
            return to_number(a) == b
        return (1.0 if truthy(a) else 0.0) == b
    return False
