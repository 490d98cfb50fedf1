"""Small builders shared by the stdlib tests."""

from halon.hsl.stdlib import core
from halon.hsl.values import HSLArray, to_bytes


def fn(name):
    """The core function registered under C{name} (unbound: host functions take the host first)."""
    return core.functions[name].fn


def arr(*values, **_):
    """A list-like HSL array; str items become bytes, ints become floats."""
    return HSLArray.from_list([_value(v) for v in values])


def amap(pairs):
    """An HSL array from (key, value) pairs in order."""
    a = HSLArray()
    for k, v in pairs:
        a.set(_value(k), _value(v))
    return a


def _value(v):
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, list):
        return arr(*v)
    if isinstance(v, dict):
        return amap(v.items())
    return v


def show(value):
    """How echo prints C{value}, as str."""
    return to_bytes(value).decode("utf-8")


def plain(value):
    """An HSL value as plain Python: list-like arrays as lists, others as dicts, strings as str."""
    if isinstance(value, HSLArray):
        if value.is_list():
            return [plain(v) for v in value.values()]
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value
