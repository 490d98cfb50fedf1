"""
The "resolver" service behind HSL's dns_query(): HSL arguments in, the
manual's result array out (["result" => [...], "dnssec" => bool] or
["error" => "NXDOMAIN", "dnssec" => bool]).

Lookups run on the script's thread and wait for the reactor. Queries that
name their own nameservers (option "servers") get a resolver of their own;
the others share the host's resolver.
"""

from halon.dns.blocking import BlockingLookup
from halon.dns.client import TYPES, StubResolver
from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, to_bytes, to_number, truthy


class DNSFunctions:
    def __init__(self, reactor, lookup):
        self._reactor = reactor
        self.lookup = lookup

    def dns_query(self, host, options=None):
        name = to_bytes(host).decode("utf-8", "replace")
        opts = options if isinstance(options, HSLArray) else HSLArray()
        rrtype = to_bytes(opts.get(b"type", b"a")).decode("ascii", "replace").lower()
        if rrtype not in TYPES or rrtype == "tlsa":
            raise HSLRuntimeError("dns_query(): unsupported type %s" % (rrtype,))
        timeout = to_number(opts.get(b"timeout", 5.0)) or 5.0
        lookup = self.lookup
        servers = opts.get(b"servers")
        if isinstance(servers, HSLArray) and len(servers):
            lookup = BlockingLookup(self._reactor, StubResolver(self._reactor, [_server(s) for s in servers.values()], timeout))
        answer = lookup(name, rrtype, timeout)
        result = HSLArray()
        if answer.error is not None:
            result.set(b"error", answer.error.encode())
        else:
            result.set(b"result", HSLArray.from_list([_value(rrtype, v) for v in answer.records]))
        result.set(b"dnssec", answer.dnssec)
        if answer.error is None and truthy(opts.get(b"extended_result")):
            result.set(b"ttl", float(answer.ttl) if answer.ttl is not None else None)
        return result


def _server(value):
    text = to_bytes(value).decode("ascii", "replace")
    if text.startswith("[") and "]:" in text:
        address, port = text[1:].split("]:", 1)
        return address, int(port)
    if text.count(":") == 1:
        address, port = text.split(":")
        return address, int(port)
    return text, 53


def _value(rrtype, value):
    """Records as strings, like the manual's examples; MX as "preference exchange"."""
    if rrtype == "mx":
        return b"%d %s" % (value[0], value[1].encode())
    if isinstance(value, str):
        return value.encode()
    return value
