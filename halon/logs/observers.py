"""
Log observers: JSON lines (one object per event, for log shippers) and
syslog (Halon's default destination, one line per event).
"""

import json
import syslog as _syslog
from datetime import datetime, timezone

from twisted.logger import LogLevel, formatEvent

__all__ = ["json_lines_observer", "syslog_observer", "event_record", "FACILITIES"]

_PRIORITY = {
    LogLevel.debug: _syslog.LOG_DEBUG,
    LogLevel.info: _syslog.LOG_INFO,
    LogLevel.warn: _syslog.LOG_WARNING,
    LogLevel.error: _syslog.LOG_ERR,
    LogLevel.critical: _syslog.LOG_CRIT,
}

FACILITIES = {
    name: getattr(_syslog, "LOG_" + name.upper())
    for name in ("mail", "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")
}


def event_record(event):
    """
    The JSON-ready form of an event: time, level, namespace, the formatted
    message, a traceback when it carries a failure, and every field of the
    event that is plain data (text, numbers, booleans, lists of them).
    Twisted's own keys (C{log_*}) and objects are left out: a record must
    serialise whatever a caller put in the event.
    """
    level = event.get("log_level")
    record = {
        "time": datetime.fromtimestamp(event.get("log_time", 0), timezone.utc).isoformat(timespec="milliseconds"),
        "level": level.name if level is not None else "info",
        "namespace": event.get("log_namespace", "-"),
        "message": _text(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    for key, value in event.items():
        if key.startswith("log_") or key in record or key in ("format", "message", "system", "isError", "time"):
            continue
        plain = _plain(value)
        if plain is not _NOT_PLAIN:
            record[key] = plain
    return record


_NOT_PLAIN = object()


def _plain(value, depth=0):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)) and depth < 2:
        items = [_plain(v, depth + 1) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    if isinstance(value, dict) and depth < 2:
        items = {str(k): _plain(v, depth + 1) for k, v in value.items()}
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items.values()) else items
    return _NOT_PLAIN


def _text(event):
    text = formatEvent(event)
    if not text and "log_failure" in event:
        text = str(event["log_failure"].value)
    return text


def json_lines_observer(out):
    """An observer writing one JSON object and a newline per event to C{out} (a text file)."""

    def observe(event):
        record = event_record(event)
        try:
            out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        except UnicodeEncodeError:
            # Text from mail may carry bytes that are not UTF-8 (kept as lone
            # surrogates); escaped, the line is still JSON and still one line.
            out.write(json.dumps(record, ensure_ascii=True, default=str) + "\n")
        out.flush()

    return observe


def syslog_observer(ident="halon", facility="mail", openlog=_syslog.openlog, write=_syslog.syslog):
    """
    An observer sending each event to syslog at the priority of its
    level; every line of a multi-line event (a traceback) is its own
    record, since syslog is line based.
    """
    if facility not in FACILITIES:
        raise ValueError("syslog facility must be one of %s" % (", ".join(sorted(FACILITIES)),))
    openlog(ident, _syslog.LOG_PID, FACILITIES[facility])

    def observe(event):
        priority = _PRIORITY.get(event.get("log_level"), _syslog.LOG_INFO)
        text = _text(event)
        failure = event.get("log_failure")
        if failure is not None:
            text += "\n" + failure.getTraceback()
        for line in text.splitlines() or [""]:
            write(priority, line.encode("utf-8", "backslashreplace").decode("utf-8"))

    return observe
