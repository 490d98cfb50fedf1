"""
Matching the "if" conditions of policies, suspends and delivery settings.

The three files (smtpd-policy.yaml, smtpd-suspend.yaml, smtpd-delivery.yaml)
and the dynamic additions share one vocabulary of fields, each with the value
types the manual lists:

    tenantid jobid transportid grouping   string, /regex/, @list
    localip remoteip                      IPv4/IPv6 address or network, @list
    remotemx recipientdomain              domain, *.domain, /regex/, @list

A YAML list of values means any of them; C{@name} refers to a named list
(C{lists} in smtpd-app.yaml or the file itself).  A condition is a mapping
field -> value and matches a delivery context (a mapping field -> str) when
every field matches.  Conditions compile once, at load time.
"""

import ipaddress
import re

FIELDS = ("tenantid", "jobid", "transportid", "localip", "grouping", "remoteip", "remotemx", "recipientdomain")
_STRINGS = frozenset(("tenantid", "jobid", "transportid", "grouping"))
_ADDRESSES = frozenset(("localip", "remoteip"))
_DOMAINS = frozenset(("remotemx", "recipientdomain"))


def compile_value(field, spec, lists=None, path=None):
    """
    A function C{str -> bool} for one condition value.  Raises ValueError
    naming C{path} (where in the file the value is) when it is malformed.
    """
    where = path or field
    if field not in FIELDS:
        raise ValueError("%s: unknown field %r (one of %s)" % (where, field, ", ".join(FIELDS)))
    alternatives = _expand(spec, lists or {}, where)
    exact = set()
    tests = []
    for value in alternatives:
        if len(value) > 2 and value.startswith("/") and value.rfind("/") > 0 and field not in _ADDRESSES:
            tests.append(_regex(value, where))
        elif field in _ADDRESSES:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError("%s: %r is not an IP address or network" % (where, value))
            if network.num_addresses == 1:
                exact.add(str(network.network_address))
            else:
                tests.append(_in_network(network))
        elif field in _DOMAINS:
            value = value.lower().rstrip(".")
            if value.startswith("*."):
                tests.append(_subdomain_of(value[1:]))
            else:
                exact.add(value)
        else:
            exact.add(value)
    exact = frozenset(exact)
    if field in _DOMAINS:
        if not tests:
            return lambda v: v.lower() in exact
        return lambda v: v.lower() in exact or any(t(v.lower()) for t in tests)
    if field in _ADDRESSES:
        return lambda v: _normal_ip(v) in exact or any(t(v) for t in tests)
    if not tests:
        return exact.__contains__
    return lambda v: v in exact or any(t(v) for t in tests)


def _expand(spec, lists, where):
    if isinstance(spec, (list, tuple)):
        values = []
        for item in spec:
            values.extend(_expand(item, lists, where))
        return values
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ValueError("%s: expected a string or a list, got %r" % (where, spec))
    if spec.startswith("@"):
        name = spec[1:]
        if name not in lists:
            raise ValueError("%s: unknown list %r" % (where, spec))
        values = lists[name]
        if isinstance(values, dict):
            values = [v for group in values.values() for v in group]
        return _expand(values, {}, where)
    return [spec]


def _regex(value, where):
    end = value.rfind("/")
    pattern, flags = value[1:end], value[end + 1 :]
    options = 0
    for flag in flags:
        if flag == "i":
            options |= re.IGNORECASE
        elif flag not in "u":
            raise ValueError("%s: unsupported regex flag %r in %r" % (where, flag, value))
    try:
        return re.compile(pattern, options).search
    except re.error as e:
        raise ValueError("%s: invalid regex %r: %s" % (where, value, e))


def _subdomain_of(suffix):
    return lambda v: v.endswith(suffix) and len(v) > len(suffix)


def _in_network(network):
    def test(v):
        try:
            return ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return test


def _normal_ip(v):
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


class Condition:
    """
    A compiled C{if} mapping.  C{Condition({})} matches everything.

    @ivar spec: the mapping as given (shown back by list commands).
    """

    def __init__(self, spec, lists=None, path="if"):
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ValueError("%s: expected a mapping of fields, got %r" % (path, spec))
        self.spec = dict(spec)
        self._tests = [
            (field, compile_value(field, value, lists, "%s.%s" % (path, field)))
            for field, value in spec.items()
        ]

    @property
    def fields(self):
        return tuple(field for field, _ in self._tests)

    def matches(self, context):
        for field, test in self._tests:
            value = context.get(field)
            if value is None or not test(value):
                return False
        return True

    def __repr__(self):
        return "Condition(%r)" % (self.spec,)
