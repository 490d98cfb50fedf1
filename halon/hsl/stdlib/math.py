"""
Mathematical functions and random numbers.

Results follow C's <math.h> on doubles rather than Python's exceptions:
C{sqrt(-1)} and C{log(-1)} are nan, C{log(0)} is -inf, C{pow(0, -1)} is
inf, and C{round()} rounds halves away from zero.
"""

import math as _math
import os
import random as _random

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, integer, number

_INF = float("inf")
_NAN = float("nan")
_RANDOM = _random.SystemRandom()
_RANDOM_BYTES_LIMIT = 1024 * 1024


@core.function("abs")
def abs_(number_):
    return _math.fabs(number("abs", number_))


@core.function()
def ceil(number_):
    n = number("ceil", number_)
    return float(_math.ceil(n)) if _math.isfinite(n) else n


@core.function()
def floor(number_):
    n = number("floor", number_)
    return float(_math.floor(n)) if _math.isfinite(n) else n


@core.function()
def sqrt(number_):
    n = number("sqrt", number_)
    return _math.sqrt(n) if n >= 0 else _NAN


def _ln(n):
    if n > 0:
        return _math.log(n)
    if n == 0:
        return -_INF
    return _NAN


@core.function()
def log(number_, base=None):
    n = number("log", number_)
    if base is None:
        return _ln(n)
    a, b = _ln(n), _ln(number("log", base, "base"))
    if b == 0:
        return _NAN if a == 0 or a != a else _math.copysign(_INF, a) * _math.copysign(1.0, b)
    return a / b


def c_pow(base, exponent):
    """pow() as C computes it on doubles: no exceptions, no complex results."""
    try:
        return _math.pow(base, exponent)
    except OverflowError:
        if base < 0 and exponent.is_integer() and exponent % 2 == 1:
            return -_INF
        return _INF
    except ValueError:
        if base == 0:
            if exponent.is_integer() and exponent % 2 == 1:
                return _math.copysign(_INF, base)
            return _INF
        return _NAN


@core.function("pow")
def pow_(base, exponent):
    return c_pow(number("pow", base, "base"), number("pow", exponent, "exponent"))


def c_round(n, decimals=0):
    """Half away from zero (C's round), at C{decimals} places (may be negative)."""
    if not _math.isfinite(n) or decimals > 308:
        return n
    if decimals < -308:
        return _math.copysign(0.0, n)
    scale = 10.0**decimals
    scaled = _math.fabs(n) * scale if decimals >= 0 else _math.fabs(n) / 10.0**-decimals
    if not _math.isfinite(scaled):
        return n
    whole = _math.floor(scaled)
    if scaled - whole >= 0.5:
        whole += 1
    result = whole / scale if decimals >= 0 else whole * 10.0**-decimals
    return _math.copysign(result, n)


@core.function("round")
def round_(number_, decimals=0.0):
    return c_round(number("round", number_), integer("round", decimals, "decimals"))


@core.function()
def random_bytes(bytes_):
    n = integer("random_bytes", bytes_, "bytes")
    if n < 0 or n > _RANDOM_BYTES_LIMIT:
        fail("random_bytes", "bytes must be between 0 and %d", _RANDOM_BYTES_LIMIT)
    return os.urandom(n)


@core.function()
def random_number(first=None, last=None):
    """An integer in [first, last], or without arguments a double in [0, 1]."""
    if first is None and last is None:
        return _RANDOM.uniform(0.0, 1.0)
    if first is None or last is None:
        fail("random_number", "give both first and last, or neither")
    lo = integer("random_number", first, "first")
    hi = integer("random_number", last, "last")
    if lo > hi:
        lo, hi = hi, lo
    return float(_RANDOM.randint(lo, hi))
