"""
X509 and X509CRL: reading certificates and revocation lists, and checking
a certificate chain, on the C{cryptography} package.

C{X509->verify(calist [, intermediates [, revokelist]])} builds the path
from the certificate through the intermediates to one of the trusted
certificates, checking each signature, each validity period, that issuers
are CAs, and the revocation lists given; it returns C{["result" => true]}
or C{["result" => false, "error" => reason]} with OpenSSL's wording for
the reason.  L{verify_chain} is the same check for Python callers (CMS).
"""

import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from halon.hsl.errors import HSLNotAvailable, HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.values import HSLArray, HSLObject, HSLResource, to_bytes, truthy

__all__ = ["X509Resource", "X509CRLResource", "X509", "X509CRL", "verify_chain", "load_certificates", "der_element", "der_children"]

_MAX_CHAIN = 10
_SHORT_NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber"}


def der_element(data, pos=0):
    """(tag, content start, content end) of the DER element at C{pos}; ValueError when malformed."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def der_children(data, start, end):
    """(tag, element start, content start, content end) of each element in C{start}..C{end}."""
    pos = start
    while pos < end:
        tag, content, stop = der_element(data, pos)
        yield tag, pos, content, stop
        pos = stop


class X509Resource(HSLResource):
    __slots__ = ("cert",)
    hsl_resource_name = "X509Resource"

    def __init__(self, cert):
        self.cert = cert


class X509CRLResource(HSLResource):
    __slots__ = ("crl",)
    hsl_resource_name = "X509CRLResource"

    def __init__(self, crl):
        self.crl = crl


def load_certificates(data):
    """Every certificate in C{data} (PEM, possibly several, or one DER)."""
    data = to_bytes(data)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, UnsupportedAlgorithm):
        return []


def _pem(options):
    if options is None:
        return False
    if not isinstance(options, HSLArray):
        raise HSLRuntimeError("options must be an array")
    return truthy(options.get(b"pem", False))


def _name(name):
    pairs = []
    for attr in name:
        short = _SHORT_NAMES.get(attr.oid) or attr.rfc4514_attribute_name
        value = attr.value if isinstance(attr.value, str) else attr.value.hex()
        pairs.append(HSLArray.from_list([short.encode(), value.encode("utf-8")]))
    return HSLArray.from_list(pairs)


def _unix(moment):
    return moment.timestamp()


def _extensions(extensions):
    out = []
    for ext in extensions:
        entry = HSLArray()
        entry.set(b"oid", ext.oid.dotted_string.encode())
        entry.set(b"name", (getattr(ext.oid, "_name", None) or ext.oid.dotted_string).encode())
        entry.set(b"critical", ext.critical)
        try:
            entry.set(b"value", ext.value.public_bytes())
        except (AttributeError, NotImplementedError, ValueError):
            entry.set(b"value", b"")
        out.append(entry)
    return HSLArray.from_list(out)


def _certs_of(values, what):
    if values is None:
        return []
    if not isinstance(values, HSLArray):
        raise HSLRuntimeError("verify(): %s must be an array" % what)
    out = []
    for value in values.values():
        if isinstance(value, X509Resource):
            out.append(value.cert)
        elif isinstance(value, X509):
            out.append(value.resource.cert)
        elif isinstance(value, bytes):
            out.extend(load_certificates(value))
        else:
            raise HSLRuntimeError("verify(): %s must hold X509Resources" % what)
    return out


def _issued_by(cert, issuer):
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1
    except ValueError:
        return False


def verify_chain(cert, anchors, intermediates=(), crls=(), now=None):
    """
    (True, None) when C{cert} chains to one of C{anchors}, else (False,
    reason).  C{now} (an aware datetime) defaults to the current time.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    chain = [cert]
    trusted = None
    while trusted is None:
        current = chain[-1]
        trusted = next((a for a in anchors if a == current or _issued_by(current, a)), None)
        if trusted is not None:
            break
        if len(chain) > _MAX_CHAIN:
            return False, "certificate chain too long"
        issuer = next((i for i in intermediates if i not in chain and _issued_by(current, i)), None)
        if issuer is None:
            if current.issuer == current.subject:
                return False, "self-signed certificate" if len(chain) == 1 else "self-signed certificate in certificate chain"
            return False, "unable to get local issuer certificate"
        if not _is_ca(issuer):
            return False, "invalid CA certificate"
        chain.append(issuer)
    for c in chain + ([trusted] if trusted is not cert else []):
        if now < c.not_valid_before_utc:
            return False, "certificate is not yet valid"
        if now > c.not_valid_after_utc:
            return False, "certificate has expired"
    issuers = chain[1:] + [trusted]
    for c, issuer in zip(chain, issuers):
        if c is issuer:
            continue
        for crl in crls:
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
                continue
            if crl.get_revoked_certificate_by_serial_number(c.serial_number) is not None:
                return False, "certificate revoked"
    return True, None


@core.cls("X509")
class X509(HSLObject):
    """A certificate (X509(resource), X509::String(pem or der))."""

    hsl_class_name = "X509"
    hsl_methods = {
        name: name
        for name in (
            "subject",
            "issuer",
            "subject_alt_name",
            "version",
            "serial_number",
            "not_valid_before",
            "not_valid_after",
            "public_key",
            "verify",
            "export",
            "extensions",
        )
    }
    hsl_methods.update({"toResource": "to_resource", "toFFIValue": "to_ffi_value"})
    hsl_statics = {"String": "from_string"}

    def __init__(self, resource):
        if not isinstance(resource, X509Resource):
            raise HSLRuntimeError("X509(): expected an X509Resource")
        self.resource = resource

    @classmethod
    def from_string(cls, data, options=None):
        certs = load_certificates(data)
        if not certs:
            raise HSLRuntimeError("X509::String(): no certificate in the data")
        return cls(X509Resource(certs[0]))

    @property
    def cert(self):
        return self.resource.cert

    def subject(self):
        return _name(self.cert.subject)

    def issuer(self):
        return _name(self.cert.issuer)

    def subject_alt_name(self):
        try:
            san = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (x509.ExtensionNotFound, ValueError):
            return HSLArray()
        return HSLArray.from_list([n.encode("utf-8") for n in san.get_values_for_type(x509.DNSName)])

    def version(self):
        return float(self.cert.version.value + 1)

    def serial_number(self):
        return b"%X" % self.cert.serial_number

    def not_valid_before(self):
        return _unix(self.cert.not_valid_before_utc)

    def not_valid_after(self):
        return _unix(self.cert.not_valid_after_utc)

    def public_key(self, options=None):
        encoding = serialization.Encoding.PEM if _pem(options) else serialization.Encoding.DER
        return self.cert.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, calist, intermediates=None, revokelist=None):
        anchors = _certs_of(calist, "calist")
        crls = []
        if revokelist is not None:
            if not isinstance(revokelist, HSLArray):
                raise HSLRuntimeError("verify(): revokelist must be an array")
            for value in revokelist.values():
                if isinstance(value, X509CRLResource):
                    crls.append(value.crl)
                elif isinstance(value, X509CRL):
                    crls.append(value.resource.crl)
                else:
                    raise HSLRuntimeError("verify(): revokelist must hold X509CRLResources")
        ok, error = verify_chain(self.cert, anchors, _certs_of(intermediates, "intermediates"), crls)
        result = HSLArray({b"result": ok})
        if error:
            result.set(b"error", error.encode())
        return result

    def export(self, options=None):
        return self.cert.public_bytes(serialization.Encoding.PEM if _pem(options) else serialization.Encoding.DER)

    def extensions(self, options=None):
        return _extensions(self.cert.extensions)

    def to_resource(self):
        return self.resource

    def to_ffi_value(self):
        raise HSLNotAvailable("X509->toFFIValue")


@core.cls("X509CRL")
class X509CRL(HSLObject):
    """A certificate revocation list (X509CRL(resource), X509CRL::String(pem or der))."""

    hsl_class_name = "X509CRL"
    hsl_methods = {
        "issuer": "issuer",
        "revoked": "revoked",
        "version": "version",
        "last_update": "last_update",
        "next_update": "next_update",
        "export": "export",
        "extensions": "extensions",
        "toResource": "to_resource",
    }
    hsl_statics = {"String": "from_string"}

    def __init__(self, resource):
        if not isinstance(resource, X509CRLResource):
            raise HSLRuntimeError("X509CRL(): expected an X509CRLResource")
        self.resource = resource

    @classmethod
    def from_string(cls, data, options=None):
        data = to_bytes(data)
        try:
            if b"-----BEGIN" in data:
                crl = x509.load_pem_x509_crl(data)
            else:
                crl = x509.load_der_x509_crl(data)
        except (ValueError, UnsupportedAlgorithm):
            raise HSLRuntimeError("X509CRL::String(): no revocation list in the data")
        return cls(X509CRLResource(crl))

    @property
    def crl(self):
        return self.resource.crl

    def issuer(self):
        return _name(self.crl.issuer)

    def revoked(self):
        out = []
        for entry in self.crl:
            item = HSLArray()
            item.set(b"serial_number", b"%X" % entry.serial_number)
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
            except (x509.ExtensionNotFound, ValueError):
                reason = None
            item.set(b"reason", None if reason is None else reason.encode())
            item.set(b"revocation_date", _unix(entry.revocation_date_utc))
            out.append(item)
        return HSLArray.from_list(out)

    def version(self):
        tbs = self.crl.tbs_certlist_bytes
        _, start, end = der_element(tbs)
        tag, _, content, stop = next(der_children(tbs, start, end))
        return float(int.from_bytes(tbs[content:stop], "big") + 1) if tag == 0x02 else 1.0

    def last_update(self):
        return _unix(self.crl.last_update_utc)

    def next_update(self):
        moment = self.crl.next_update_utc
        return None if moment is None else _unix(moment)

    def export(self, options=None):
        return self.crl.public_bytes(serialization.Encoding.PEM if _pem(options) else serialization.Encoding.DER)

    def extensions(self, options=None):
        return _extensions(self.crl.extensions)

    def to_resource(self):
        return self.resource
