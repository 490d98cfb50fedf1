"""
The services scripts reach for mail authentication: "spf" (spf_query()),
"dkim" (MailMessage/MIME signDKIM() and verifyDKIM()), and "resolver"
(dns_query()). They convert between HSL values and the plain Python of
L{halon.mailauth} and L{halon.dns}, and run on the script's thread.

L{install} registers all three on a host; daemons and hsh call it once.
"""

from dkim import DKIMException

from halon.dns.blocking import BlockingLookup
from halon.dns.client import StubResolver
from halon.dns.functions import DNSFunctions
from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, HSLResource, is_function, to_bytes, to_number, truthy
from halon.mailauth import dkim, spf


def _str(value):
    return to_bytes(value).decode("utf-8", "surrogateescape")


def _names(value):
    if value is None:
        return None
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("signDKIM(): header lists must be arrays")
    return [_str(v) for v in value.values()]


def to_hsl(value):
    """Plain Python (dict, list, str, bytes, numbers) as HSL values."""
    if isinstance(value, dict):
        array = HSLArray()
        for k, v in value.items():
            array.set(k.encode() if isinstance(k, str) else k, to_hsl(v))
        return array
    if isinstance(value, (list, tuple)):
        return HSLArray.from_list([to_hsl(v) for v in value])
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class SPFService:
    def __init__(self, lookup, timeout=5.0):
        self._lookup = lookup
        self._timeout = timeout

    def spf_query(self, ip, helo, sender):
        result, explanation = spf.check(self._lookup, _str(ip), _str(helo), _str(sender), self._timeout)
        out = HSLArray()
        out.set(b"result", result.encode())
        if explanation:
            out.set(b"reason", explanation.encode("utf-8", "replace"))
        return out


class DKIMService:
    """
    C{pki} maps pki.private[] ids to private keys (PEM bytes), for keys
    given as "pki:ID" or with the option id => true; or it is a callable
    giving that mapping, so that a daemon's reloads reach the keys.
    """

    def __init__(self, lookup, pki=None, timeout=5.0):
        self._lookup = lookup
        self._pki = pki if callable(pki) else (lambda keys=dict(pki or {}): keys)
        self._timeout = timeout

    def _key(self, key, by_id):
        if isinstance(key, HSLResource) and hasattr(key, "key"):
            return key.key
        data = to_bytes(key)
        if by_id is True or (by_id is None and data.startswith(b"pki:")):
            ident = data[4:] if data.startswith(b"pki:") else data
            try:
                return self._pki()[ident.decode()]
            except KeyError:
                raise dkim.DKIMError("no private key with id %s in pki.private" % (ident.decode(),))
        return data

    def sign(self, message, selector, domain, key, options=None):
        """(name, value) for the message's signature header, or None on error."""
        opts = options if isinstance(options, HSLArray) else HSLArray()
        timestamp = opts.get(b"timestamp", False)
        try:
            return dkim.sign(
                message.to_bytes(),
                _str(selector),
                _str(domain),
                self._key(key, None if opts.get(b"id") is None else truthy(opts.get(b"id"))),
                algorithm=_str(opts.get(b"algorithm", b"rsa-sha256")),
                canonicalization_header=_str(opts.get(b"canonicalization_header", b"relaxed")),
                canonicalization_body=_str(opts.get(b"canonicalization_body", b"relaxed")),
                headers=_names(opts.get(b"headers")),
                additional_headers=_names(opts.get(b"additional_headers")) or (),
                oversign_headers=_names(opts.get(b"oversign_headers")) if opts.has(b"oversign_headers") else ("from",),
                timestamp=timestamp if isinstance(timestamp, bool) else to_number(timestamp),
                expiration=None if opts.get(b"expiration") is None else to_number(opts.get(b"expiration")),
                expiration_relative=None if opts.get(b"expiration_relative") is None else to_number(opts.get(b"expiration_relative")),
                identity=None if opts.get(b"identity") is None else _str(opts.get(b"identity")),
                arc_instance=int(to_number(opts.get(b"arc_instance", 1.0))) if truthy(opts.get(b"arc")) else None,
            )
        except (dkim.DKIMError, DKIMException):
            return None

    def verify(self, message, headerfield, options=None):
        opts = options if isinstance(options, HSLArray) else HSLArray()
        timeout = to_number(opts.get(b"timeout", self._timeout)) or self._timeout
        dns_function = opts.get(b"dns_function")

        def fetch(name):
            if dns_function is not None and is_function(dns_function):
                answer = dns_function(name.encode())
                if isinstance(answer, HSLArray) and answer.get(b"result") is not None:
                    return to_bytes(answer.get(b"result"))
                error = _str(answer.get(b"error", b"permerror")) if isinstance(answer, HSLArray) else "permerror"
                raise dkim.KeyUnavailable("DNS function: %s" % (error,), temporary=error == "temperror")
            answer = self._lookup(name, "txt", timeout)
            if answer.error is not None and answer.error != "NXDOMAIN":
                raise dkim.KeyUnavailable("DNS %s for %s" % (answer.error, name), temporary=True)
            records = [r for r in answer.records if b"p=" in r]
            if len(records) != 1:
                raise dkim.KeyUnavailable("no key record at %s" % (name,), temporary=False)
            return records[0]

        result = dkim.verify(message.to_bytes(), to_bytes(headerfield), fetch)
        out = HSLArray()
        out.set(b"result", result.result.encode())
        if result.error:
            out.set(b"error", result.error.encode())
        if result.tags is not None:
            tags = HSLArray()
            for k, v in result.tags.items():
                tags.set(k, v)
            out.set(b"tags", tags)
        return out


def script_services(reactor, resolver, pki=None, timeout=5.0):
    """
    The "resolver", "spf" and "dkim" services scripts call, on C{resolver}
    (anything with C{query(name, rrtype, timeout)} returning a Deferred: the
    process's cached resolver, so scripts and MX lookups share one cache);
    C{pki} as L{DKIMService} takes it.
    """
    lookup = BlockingLookup(reactor, resolver)
    return {
        "resolver": DNSFunctions(reactor, lookup),
        "spf": SPFService(lookup, timeout),
        "dkim": DKIMService(lookup, pki, timeout),
    }


def install(host, reactor, servers=None, pki=None, timeout=5.0):
    """Register the script services on C{host} with a resolver of their own (hsh, tests)."""
    for name, value in script_services(reactor, StubResolver(reactor, servers, timeout), pki, timeout).items():
        host.services.setdefault(name, value)
