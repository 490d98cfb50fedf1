"""
The PROXY protocol, version 1 (the text header HAProxy puts in front of a
connection), and the list of peers allowed to send it.

Only peers in C{servers[].proxyprotocol} may send a header; from them it is
required, from everybody else it is an ordinary (unknown) SMTP command.
"""

import ipaddress

__all__ = ["MAX_HEADER", "ProxyHeader", "ProxyError", "parse_header", "Networks"]

# "PROXY TCP6 " + 2 * 39 + 2 * 5 + spaces + CRLF
MAX_HEADER = 107


class ProxyError(ValueError):
    """A PROXY header that is not valid version 1."""


class ProxyHeader:
    """The client's real address (None for PROXY UNKNOWN)."""

    __slots__ = ("family", "source_ip", "dest_ip", "source_port", "dest_port")

    def __init__(self, family, source_ip=None, dest_ip=None, source_port=None, dest_port=None):
        self.family = family
        self.source_ip = source_ip
        self.dest_ip = dest_ip
        self.source_port = source_port
        self.dest_port = dest_port


def parse_header(line):
    """
    A header line without its CRLF, e.g. C{b"PROXY TCP4 1.2.3.4 5.6.7.8 1000 25"}.
    Raises L{ProxyError}.
    """
    words = line.split(b" ")
    if len(words) < 2 or words[0] != b"PROXY":
        raise ProxyError("not a PROXY header")
    family = words[1]
    if family == b"UNKNOWN":
        return ProxyHeader("UNKNOWN")
    if family not in (b"TCP4", b"TCP6") or len(words) != 6:
        raise ProxyError("bad PROXY header")
    try:
        src = ipaddress.ip_address(words[2].decode("ascii"))
        dst = ipaddress.ip_address(words[3].decode("ascii"))
        sport, dport = _port(words[4]), _port(words[5])
    except (ValueError, UnicodeDecodeError):
        raise ProxyError("bad address or port in PROXY header")
    want = 4 if family == b"TCP4" else 6
    if src.version != want or dst.version != want:
        raise ProxyError("address family mismatch in PROXY header")
    return ProxyHeader(family.decode(), str(src), str(dst), sport, dport)


def _port(word):
    if not word.isdigit() or (len(word) > 1 and word[:1] == b"0"):
        raise ValueError(word)
    port = int(word)
    if port > 65535:
        raise ValueError(word)
    return port


class Networks:
    """A list of IPs/networks (strings such as "10.0.0.0/8" or "::1") to test peers against."""

    def __init__(self, entries=()):
        self._networks = [ipaddress.ip_network(str(e), strict=False) for e in entries]

    def __bool__(self):
        return bool(self._networks)

    def __contains__(self, ip):
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)
