"""
SPF (RFC 7208) on pyspf, with its DNS answered by our resolver.

pyspf looks records up through a module-level function. That function is
replaced once, at import, by one that sends the lookup to the resolver of
the SPF check running on the current thread; checks on other threads (or
other programs using pyspf without us) keep pyspf's own lookups.
"""

import ipaddress
import threading

import spf as pyspf

_current = threading.local()
_original_lookup = pyspf.DNSLookup

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")


def _lookup(name, qtype, strict=True, timeout=20):
    lookup = getattr(_current, "lookup", None)
    if lookup is None:
        return _original_lookup(name, qtype, strict, timeout)
    rrtype = qtype.lower()
    if rrtype == "spf":
        return []  # type 99 is obsolete (RFC 7208 section 3.1); TXT is asked instead
    answer = lookup(name, rrtype, min(timeout, _current.timeout))
    if answer.error == "NXDOMAIN":
        return []
    if answer.error is not None:
        raise pyspf.TempError("DNS %s for %s %s" % (answer.error, name, qtype))
    key = (name, qtype)
    if rrtype == "txt":
        return [(key, [value]) for value in answer.records]
    return [(key, value) for value in answer.records]


pyspf.DNSLookup = _lookup


def check(lookup, ip, helo, sender, timeout=5.0, querytime=20.0):
    """
    Evaluate SPF for a client C{ip} that said HELO C{helo} and MAIL FROM
    C{sender} (an address, or a bare domain). Returns (result, explanation)
    with result one of L{RESULTS}, or "invalid" for arguments that cannot
    be checked. C{lookup} is a L{halon.dns.blocking.BlockingLookup}.
    """
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return "invalid", "not an IP address: %s" % (ip,)
    if sender and "@" not in sender:
        sender = "postmaster@" + sender
    if not sender:
        sender = "postmaster@" + helo if helo else ""
    _current.lookup = lookup
    _current.timeout = timeout
    try:
        query = pyspf.query(i=ip, s=sender, h=helo or "", timeout=timeout, querytime=querytime)
        result, _code, explanation = query.check()
    finally:
        _current.lookup = None
    if result not in RESULTS:
        result = {"error": "temperror", "unknown": "permerror", "ambiguous": "permerror"}.get(result, "permerror")
    return result, explanation
