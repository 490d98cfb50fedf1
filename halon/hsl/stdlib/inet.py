"""
Addresses and names: IP helpers, domain matching, the public suffix list,
IDNA, URL parsing, host identity, UUIDs and syslog.

The public suffix list is read from the file the host names
(C{host.publicsuffix}, Halon's C{environment.publicsuffix}), else from the
system's copy (/usr/share/publicsuffix/public_suffix_list.dat, Debian's
"publicsuffix" package).  Without either, the suffix of a name is its last
label when that looks like a TLD (letters, or an xn-- label).
"""

import hashlib
import ipaddress
import socket
import urllib.parse
import uuid as _uuid

import idna

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, integer, options, string
from halon.hsl.values import HSLArray
from halon.mailauth import psl

_PRIORITIES = {b"emerg": 0, b"alert": 1, b"crit": 2, b"err": 3, b"warning": 4, b"notice": 5, b"info": 6, b"debug": 7}


def _address(value):
    try:
        return ipaddress.ip_address(value.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


@core.function()
def inet_includes(ip, network):
    """Whether C{ip} is in C{network}: an address, a CIDR subnet or a first-last range."""
    addr = _address(string("inet_includes", ip, "ip"))
    net = string("inet_includes", network, "network")
    if addr is None:
        return None
    try:
        text = net.decode("ascii").strip()
        if "/" in text:
            subnet = ipaddress.ip_network(text, strict=False)
            return subnet.version == addr.version and addr in subnet
        if "-" in text:
            first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            if first.version != last.version:
                return None
            return first.version == addr.version and first <= addr <= last
        other = ipaddress.ip_address(text)
        return other.version == addr.version and other == addr
    except (ValueError, UnicodeDecodeError):
        return None


@core.function()
def inet_ntop(ip):
    data = string("inet_ntop", ip, "ip")
    if len(data) == 4:
        return socket.inet_ntop(socket.AF_INET, data).encode("ascii")
    if len(data) == 16:
        return socket.inet_ntop(socket.AF_INET6, data).encode("ascii")
    return None


@core.function()
def inet_pton(ip):
    addr = _address(string("inet_pton", ip, "ip"))
    return None if addr is None else addr.packed


@core.function()
def inet_reverse(ip, zone=None):
    """The PTR name of C{ip}, or the DNSxL name under C{zone}."""
    addr = _address(string("inet_reverse", ip, "ip"))
    if addr is None:
        return None
    if addr.version == 4:
        labels = reversed(str(addr).split("."))
        default = "in-addr.arpa"
    else:
        labels = reversed(addr.exploded.replace(":", ""))
        default = "ip6.arpa"
    suffix = default.encode() if zone is None else string("inet_reverse", zone, "zone").strip(b".")
    return ".".join(labels).encode("ascii") + (b"." + suffix if suffix else b"")


def _labels(name):
    return name.lower().rstrip(b".").split(b".")


@core.function()
def domain_includes(subdomain, domain, options_=None):
    """
    Whether C{subdomain} is C{domain} or below it (case-insensitive); a
    domain given as ".example.com" matches only names below it.
    """
    options("domain_includes", options_, set())
    sub = string("domain_includes", subdomain, "subdomain").lower().rstrip(b".")
    dom = string("domain_includes", domain, "domain").lower().rstrip(b".")
    if dom.startswith(b"."):
        return sub.endswith(dom) and len(sub) > len(dom)
    return sub == dom or sub.endswith(b"." + dom)


@core.function("domain_publicsuffix", host=True)
def domain_publicsuffix(host, domain):
    name = string("domain_publicsuffix", domain, "domain").lower().strip(b".")
    ascii_name = _to_ascii(name)
    if not ascii_name or b".." in ascii_name:
        return None
    rules = psl.load(getattr(host, "publicsuffix", None))
    if rules is None:
        tld = ascii_name.rsplit(b".", 1)[-1]
        if (tld.isalpha() and len(tld) >= 2) or tld.startswith(b"xn--"):
            return tld
        return None
    text = ascii_name.decode("ascii")
    if text.rsplit(".", 1)[-1] not in rules.tlds:
        return None
    suffix = rules.public_suffix(text)
    return None if suffix is None else suffix.encode("ascii")


def _to_ascii(name):
    try:
        name.decode("ascii")
        return name
    except UnicodeDecodeError:
        try:
            return idna.encode(name.decode("utf-8"), uts46=True)
        except (idna.IDNAError, UnicodeError):
            return None


@core.function()
def idna_encode(domain):
    """A Unicode (UTF-8) domain as its ASCII (punycode) form, IDNA 2008 with UTS 46 mapping."""
    name = string("idna_encode", domain, "domain")
    try:
        return idna.encode(name.decode("utf-8"), uts46=True)
    except (idna.IDNAError, UnicodeError):
        return None


@core.function()
def idna_decode(domain):
    name = string("idna_decode", domain, "domain")
    try:
        return idna.decode(name.decode("ascii")).encode("utf-8")
    except (idna.IDNAError, UnicodeError):
        return None


@core.function()
def url_parse(url, options_=None):
    """
    scheme, username, password, hostname, port, path, query and fragment
    of an absolute URL; missing parts are left out; none when it is not a URL.
    """
    options("url_parse", options_, set())
    text = string("url_parse", url, "url").decode("utf-8", "surrogateescape")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not text[len(parts.scheme) :].startswith(":"):
        return None
    out = HSLArray()

    def put(key, value):
        if value is not None and value != "":
            out.set(key, value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value)

    put(b"scheme", parts.scheme)
    put(b"username", parts.username)
    put(b"password", parts.password)
    put(b"hostname", parts.hostname if parts.netloc else None)
    put(b"port", None if port is None else float(port))
    put(b"path", parts.path)
    put(b"query", parts.query)
    put(b"fragment", parts.fragment)
    return out


@core.function()
def gethostname():
    return socket.gethostname().encode("utf-8")


@core.function("uuid")
def uuid_():
    return str(_uuid.uuid4()).encode("ascii")


@core.function()
def uuidv5(uuidnamespace, value):
    ns = string("uuidv5", uuidnamespace, "uuidnamespace")
    try:
        namespace = _uuid.UUID(ns.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        fail("uuidv5", "%r is not a UUID", ns.decode("utf-8", "replace"))
    name = string("uuidv5", value, "value")
    digest = hashlib.sha1(namespace.bytes + name).digest()
    return str(_uuid.UUID(bytes=digest[:16], version=5)).encode("ascii")


@core.function("syslog", host=True)
def syslog(host, priority, message):
    """Log C{message}; C{priority} is a name (emerg ... debug) or a number (facility << 3 | level)."""
    if type(priority) is bytes:
        level = _PRIORITIES.get(priority.lower())
        if level is None:
            fail("syslog", "unknown priority %r", priority.decode("utf-8", "replace"))
    else:
        level = integer("syslog", priority, "priority")
        if level < 0:
            fail("syslog", "priority must not be negative")
    host.syslog(level, string("syslog", message, "message"))
    return None
