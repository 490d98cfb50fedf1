"""
The condition arguments halonctl queue list, groupby, update and unload share.

    transportid jobid tenantid grouping remotemx remoteip   exact strings
    senderdomain recipientdomain sender recipient           case-insensitive
    id                                                      uuid:n (or uuid: every recipient)
    state                                                   ACTIVE DEFER HOLD UPDATE SENDING UNKNOWN
    retrycount retrydelay age                               numbers with operators
    ts                                                      ISO 8601 times with operators
    metadata                                                key=value

Operators are C{>N >=N <N <=N =N} (a bare N means =) and ranges C{a..b}
(inclusive), given as text or as tuples C{(">", 3600.0)}, C{("..", 10, 20)}.
The values of a text or state field are alternatives (any may match); the
comparisons of a number field must all hold (">10" and "<20" mean between);
different fields must all match; every C{metadata} pair must be present (as
smtpd.proto's QueueConditions defines).

L{compile_conditions} turns them into one Python function generated as
source, so a scan of a million recipients costs one call per record rather
than one per condition.  Errors are ValueErrors naming the argument.
"""

import datetime
import re

from halon.queue import states
from halon.queue.index import parse_id

STRING_FIELDS = {
    "transportid": "r.transportid",
    "jobid": "m.jobid",
    "tenantid": "m.tenantid",
    "grouping": "r.grouping",
    "remotemx": "r.remotemx",
    "remoteip": "r.remoteip",
}
FOLDED_FIELDS = {
    "senderdomain": "m.sender_domain",
    "recipientdomain": "r.domain",
    "sender": "m.sender.lower()",
    "recipient": "r.address.lower()",
}
NUMBER_FIELDS = {
    "retrycount": "r.retry",
    "retrydelay": "((r.next_retry - now) if r.state == _DEFER and r.next_retry > now else 0.0)",
    "age": "(now - m.ts)",
}
TIME_FIELDS = {"ts": "m.ts"}
FIELDS = tuple(STRING_FIELDS) + tuple(FOLDED_FIELDS) + ("id", "state") + tuple(NUMBER_FIELDS) + ("ts", "metadata")

_OPERATOR = re.compile(r"\A\s*(>=|<=|>|<|=)?\s*(.+?)\s*\Z")


class Conditions:
    """
    Parsed conditions: field -> list of raw strings, validated on creation.

    Build from any mapping of field name to a string or a list of strings
    (a protobuf request's repeated fields, or keyword arguments in tests).
    Unknown fields and malformed values raise ValueError.
    """

    def __init__(self, fields=None, **kwargs):
        self.fields = {}
        merged = dict(fields or {})
        merged.update(kwargs)
        for name, values in merged.items():
            if values is None:
                continue
            if isinstance(values, (str, bytes)):
                values = [values]
            if isinstance(values, dict):
                values = ["%s=%s" % item for item in values.items()]
            values = [v.decode() if isinstance(v, bytes) else v if isinstance(v, tuple) else str(v) for v in values]
            if not values:
                continue
            if name not in FIELDS:
                raise ValueError("unknown condition --%s" % (name,))
            self.fields[name] = values
        self._parsed = {name: _parse(name, values) for name, values in self.fields.items()}

    def __bool__(self):
        return bool(self.fields)

    def __repr__(self):
        return "Conditions(%r)" % (self.fields,)

    def with_states(self, names):
        """A copy that also requires one of the states C{names} (unless states were given)."""
        if "state" in self.fields:
            return self
        merged = dict(self.fields)
        merged["state"] = list(names)
        return Conditions(merged)

    def states(self):
        """The set of states these conditions allow, or None for any."""
        return self._parsed.get("state")

    def compile(self):
        """A function C{(now) -> predicate(recipient) -> bool}; None when unconditional."""
        return compile_conditions(self._parsed)


def _parse(name, values):
    try:
        if name in STRING_FIELDS:
            return frozenset(values)
        if name in FOLDED_FIELDS:
            return frozenset(v.lower() for v in values)
        if name == "state":
            return frozenset(states.parse(v) for v in values)
        if name == "id":
            return [_parse_id(v) for v in values]
        if name in NUMBER_FIELDS:
            return [_parse_comparison(v, float) for v in values]
        if name == "ts":
            return [_parse_comparison(v, parse_time) for v in values]
        if name == "metadata":
            pairs = []
            for v in values:
                key, sep, value = v.partition("=")
                if not sep or not key:
                    raise ValueError("expected key=value")
                pairs.append((key, value))
            return pairs
    except ValueError as e:
        raise ValueError("--%s %s: %s" % (name, values[0] if len(values) == 1 else values, e))
    raise ValueError("unknown condition --%s" % (name,))


def _parse_id(text):
    if ":" not in text:
        if not text.strip():
            raise ValueError("empty id")
        return (text.strip(), None)
    return parse_id(text)


def parse_time(text):
    """Unix time of an ISO 8601 date or date-time; without an offset it is UTC."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 time: %r" % (text,))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _parse_comparison(text, convert):
    """('..', lo, hi) or (operator, value) from '>3', '10..20', '5' or such a tuple."""
    if isinstance(text, tuple):
        if text[0] == ".." and len(text) == 3:
            return ("..", float(text[1]), float(text[2]))
        if text[0] in (">", ">=", "<", "<=", "=") and len(text) == 2:
            return (text[0], float(text[1]))
        raise ValueError("bad comparison %r" % (text,))
    if ".." in text:
        low, _, high = text.partition("..")
        return ("..", convert(low.strip()), convert(high.strip()))
    match = _OPERATOR.match(text)
    if not match:
        raise ValueError("empty value")
    operator, value = match.groups()
    try:
        return (operator or "=", convert(value))
    except ValueError as e:
        if convert is float:
            raise ValueError("not a number: %r" % (value,))
        raise e


def compile_conditions(parsed):
    """
    Generate C{lambda now: lambda r: ...} for the parsed conditions.

    Values live in the generated function's namespace (C{_v0}, C{_v1} ...),
    never in its source, so no condition text is ever evaluated as code.
    """
    if not parsed:
        return None
    namespace = {"_DEFER": states.DEFER}
    terms = []

    def value(v):
        name = "_v%d" % len(namespace)
        namespace[name] = v
        return name

    for field, spec in parsed.items():
        if field in STRING_FIELDS:
            terms.append("%s in %s" % (STRING_FIELDS[field], value(spec)))
        elif field in FOLDED_FIELDS:
            terms.append("%s in %s" % (FOLDED_FIELDS[field], value(spec)))
        elif field == "state":
            terms.append("r.state in %s" % value(spec))
        elif field == "id":
            whole = frozenset(u for u, n in spec if n is None)
            exact = frozenset((u, n) for u, n in spec if n is not None)
            terms.append("(m.uuid in %s or (m.uuid, r.n) in %s)" % (value(whole), value(exact)))
        elif field in NUMBER_FIELDS or field in TIME_FIELDS:
            expression = NUMBER_FIELDS.get(field) or TIME_FIELDS[field]
            terms.extend(_comparison(expression, c, value) for c in spec)
        elif field == "metadata":
            for key, wanted in spec:
                terms.append(
                    "(r.metadata is not None and r.metadata.get(%s) == %s)" % (value(key), value(wanted))
                )
    source = "def _make(now):\n    def _predicate(r):\n        m = r.message\n        return %s\n    return _predicate\n" % (
        " and ".join(terms),
    )
    exec(compile(source, "<queue conditions>", "exec"), namespace)
    return namespace["_make"]


def _comparison(expression, comparison, value):
    operator = comparison[0]
    if operator == "..":
        return "(%s <= %s <= %s)" % (value(comparison[1]), expression, value(comparison[2]))
    python = "==" if operator == "=" else operator
    return "(%s %s %s)" % (expression, python, value(comparison[1]))
