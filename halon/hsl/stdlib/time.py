"""
Date and time.

C{executiontime()} counts from L{begin_execution}, which the runtime calls
on the thread that starts a script execution (without that call it counts
from the thread's first use of it).  strftime() and strptime() use the C
library's formats through Python's time module; with the C{local} option
off they work in UTC.
"""

import calendar
import re
import threading
import time as _time

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import number, options, string
from halon.hsl.values import truthy

__all__ = ["begin_execution"]

_execution = threading.local()
_DURATION = re.compile(rb"\s*([0-9]+(?:\.[0-9]+)?)\s*([dhms])")
_UNITS = {b"d": 86400.0, b"h": 3600.0, b"m": 60.0, b"s": 1.0}
_DATE_DIRECTIVES = re.compile(r"%[-_0^#]?[YyCGgmbBhdejUWVaAuwDFcxsz+]")
_STRFTIME_LIMIT = 100


def begin_execution():
    """Mark the start of a script execution on this thread (for executiontime())."""
    _execution.start = _time.monotonic()


@core.function("time")
def time_():
    return _time.time()


@core.function()
def timelocal():
    """Unix time shifted by the local zone's offset from UTC."""
    now = _time.time()
    return now + _time.localtime(now).tm_gmtoff


@core.function()
def uptime():
    return _time.clock_gettime(_time.CLOCK_MONOTONIC)


@core.function()
def executiontime():
    start = getattr(_execution, "start", None)
    if start is None:
        begin_execution()
        return 0.0
    return _time.monotonic() - start


@core.function()
def sleep(seconds):
    """Sleeps; returns the seconds actually slept."""
    n = number("sleep", seconds, "seconds")
    start = _time.monotonic()
    if n > 0:
        _time.sleep(n)
    return _time.monotonic() - start


def _local(fn, options_):
    return truthy(options(fn, options_, {"local"}).get("local", True))


@core.function()
def strftime(format, time=None, options_=None):
    """The time formatted by strftime(3); empty when the result exceeds 100 bytes."""
    fmt = string("strftime", format, "format").decode("utf-8", "surrogateescape")
    when = _time.time() if time is None else number("strftime", time, "time")
    local = _local("strftime", options_)
    try:
        tm = _time.localtime(when) if local else _time.gmtime(when)
        out = _time.strftime(fmt, tm).encode("utf-8", "surrogateescape")
    except (OverflowError, ValueError, OSError):
        return b""
    return out if len(out) <= _STRFTIME_LIMIT else b""


@core.function()
def strptime(datestring, format, options_=None):
    """
    Seconds since the epoch for C{datestring} parsed by C{format}; a format
    without date fields means today.  none when the string does not parse.
    """
    text = string("strptime", datestring, "datestring").decode("utf-8", "surrogateescape")
    fmt = string("strptime", format, "format").decode("utf-8", "surrogateescape")
    local = _local("strptime", options_)
    try:
        tm = _time.strptime(text, fmt)
    except ValueError:
        return None
    fields = list(tm[:6])
    if not _DATE_DIRECTIVES.search(fmt):
        today = _time.localtime() if local else _time.gmtime()
        fields[:3] = today[:3]
    if "%z" in fmt and tm.tm_gmtoff is not None:
        return float(calendar.timegm(tuple(fields) + (0, 0, 0)) - tm.tm_gmtoff)
    if "%s" in fmt:
        return float(calendar.timegm(tm))
    if local:
        return float(_time.mktime(tuple(fields) + (0, 0, -1)))
    return float(calendar.timegm(tuple(fields) + (0, 0, 0)))


@core.function()
def strpduration(during):
    """Seconds in a duration such as "1d2h3m4s" (units d, h, m, s); none when malformed."""
    text = string("strpduration", during, "during")
    total = 0.0
    pos = 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        return None
    return total
