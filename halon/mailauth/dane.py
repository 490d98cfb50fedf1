"""
DANE for SMTP (RFC 7672): matching a server's certificate chain against the
TLSA records of its MX host.

Only records from DNSSEC-validated answers count; without them the caller
falls back to its ordinary TLS policy. Usage 3 (DANE-EE) matches the end
entity certificate (no name or expiry checks, RFC 7672 3.1.1); usage 2
(DANE-TA) matches any certificate of the presented chain as the trust
anchor, after which the name must match as for PKIX. Usages 0 and 1 are
not for SMTP (RFC 7672 3.1.3) and are ignored.
"""

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization


def tlsa_name(host, port=25):
    return "_%d._tcp.%s" % (port, host.rstrip("."))


def _selected(cert, selector):
    if selector == 0:
        return cert.public_bytes(serialization.Encoding.DER)
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _matches(cert, selector, mtype, data):
    content = _selected(cert, selector)
    if mtype == 0:
        return content == data
    if mtype == 1:
        return hashlib.sha256(content).digest() == data
    if mtype == 2:
        return hashlib.sha512(content).digest() == data
    return False


class Verdict:
    """ok: whether the chain matched; usable: whether any record could apply."""

    def __init__(self, ok, usable, reason):
        self.ok = ok
        self.usable = usable
        self.reason = reason


def verify(records, chain_der, hostname=None):
    """
    Match C{chain_der} (the peer's certificates, end entity first, DER)
    against C{records} [(usage, selector, mtype, data)].
    """
    usable = [r for r in records if r[0] in (2, 3) and r[1] in (0, 1) and r[2] in (0, 1, 2)]
    if not usable:
        return Verdict(False, False, "no usable TLSA records")
    if not chain_der:
        return Verdict(False, True, "no certificate presented")
    chain = [x509.load_der_x509_certificate(der) for der in chain_der]
    for usage, selector, mtype, data in usable:
        if usage == 3 and _matches(chain[0], selector, mtype, data):
            return Verdict(True, True, "DANE-EE match")
    for usage, selector, mtype, data in usable:
        if usage != 2:
            continue
        for depth in range(1, len(chain)):
            if _matches(chain[depth], selector, mtype, data) and _issued_along(chain[: depth + 1]):
                if hostname is None or _name_matches(chain[0], hostname):
                    return Verdict(True, True, "DANE-TA match")
                return Verdict(False, True, "DANE-TA matched but the name %s did not" % (hostname,))
    return Verdict(False, True, "no TLSA record matched the certificate chain")


def _issued_along(chain):
    """Each certificate is signed by the next one: the end entity chains to the anchor."""
    try:
        for cert, issuer in zip(chain, chain[1:]):
            cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _name_matches(cert, hostname):
    hostname = hostname.lower().rstrip(".")
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    for name in names:
        name = name.lower().rstrip(".")
        if name == hostname:
            return True
        if name.startswith("*.") and hostname.count(".") == name.count(".") and hostname.endswith(name[1:]):
            return True
    return False
