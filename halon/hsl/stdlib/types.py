"""
Data types: length(), array(), the conversions and the is_* tests.

The conversions are the ones the whole runtime uses (L{halon.hsl.values}),
so C{string($x)} prints exactly what C{echo $x} does.  C{isset} and
C{unset} are language constructs and live in the compiler.
"""

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import keep
from halon.hsl.values import HSLArray, HSLObject, is_function as _is_function, to_bytes, to_number, truthy


@core.function()
def length(value):
    t = type(value)
    if t is bytes or t is HSLArray:
        return float(len(value))
    return None


@core.function()
def array(*args):
    return HSLArray.from_list([keep(v) for v in args])


@core.function()
def boolean(value):
    return truthy(value)


@core.function()
def number(value):
    return to_number(value)


@core.function()
def string(value):
    return to_bytes(value)


@core.function()
def is_array(value):
    return type(value) is HSLArray


@core.function()
def is_boolean(value):
    return type(value) is bool


@core.function()
def is_function(value):
    return _is_function(value)


@core.function()
def is_number(value):
    return type(value) is float


@core.function()
def is_object(value):
    return isinstance(value, HSLObject)


@core.function()
def is_string(value):
    return type(value) is bytes
