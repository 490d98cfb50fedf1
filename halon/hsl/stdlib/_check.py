"""
Argument checks shared by the stdlib families.

HSL functions are typed (functions.json gives every parameter a type), and
a script that passes the wrong type gets a runtime error naming the
function and the parameter rather than a Python traceback.  The runtime
adds file:line:column.  Checks are C{type(x) is ...} tests, cheap enough
for the hot string and array functions.
"""

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, HSLObject, HSLResource, is_function, type_name

__all__ = [
    "MISSING",
    "string",
    "number",
    "integer",
    "array",
    "function",
    "options",
    "keep",
    "text",
    "fail",
]

MISSING = object()
"""Default of optional parameters where C{none} is a meaningful argument."""


def fail(fn, message, *args):
    raise HSLRuntimeError("%s(): %s" % (fn, message % args if args else message))


def _wrong(fn, what, expected, value):
    raise HSLRuntimeError("%s(): %s must be %s, not %s" % (fn, what, expected, type_name(value)))


def string(fn, value, what="argument"):
    """C{value} when it is an HSL string (bytes)."""
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8")
    _wrong(fn, what, "a string", value)


def number(fn, value, what="argument"):
    """C{value} as a float when it is an HSL number."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        return float(value)
    _wrong(fn, what, "a number", value)


def integer(fn, value, what="argument"):
    """An HSL number truncated to a Python int (NaN and infinities refused)."""
    n = number(fn, value, what)
    if n != n or n in (float("inf"), float("-inf")):
        fail(fn, "%s must be a finite number", what)
    return int(n)


def array(fn, value, what="argument"):
    if type(value) is HSLArray:
        return value
    _wrong(fn, what, "an array", value)


def function(fn, value, what="callback"):
    if is_function(value):
        return value
    _wrong(fn, what, "a function", value)


def options(fn, value, allowed):
    """
    An options array as C{{name: value}} (names as str).  Unknown names are
    an error, so a misspelt option does not silently do nothing.
    """
    if value is None:
        return {}
    if type(value) is not HSLArray:
        _wrong(fn, "options", "an array", value)
    out = {}
    for key, item in value.items():
        name = key.decode("utf-8", "replace") if type(key) is bytes else "%d" % key
        if name not in allowed:
            fail(fn, "unknown option %r", name)
        out[name] = item
    return out


def keep(value):
    """
    C{value} placed in a second container: arrays are marked shared so a
    later change through either owner copies first (values.HSLArray.own).
    """
    if type(value) is HSLArray:
        value.shared = True
    return value


def text(value):
    """Bytes as str for Python APIs that want text; undecodable bytes survive."""
    return value.decode("utf-8", "surrogateescape")


def is_object(value):
    return isinstance(value, (HSLObject, HSLResource))
