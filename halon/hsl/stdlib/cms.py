"""
S/MIME for scripts: pkcs7_sign and cms_sign, cms_verify, cms_encrypt and
cms_decrypt.

Signing and encryption use C{cryptography}'s PKCS#7 builders; the input is
signed and encrypted as given (binary mode: line endings untouched), the
output is DER.  The signer is C{["x509" => X509Resource, "privatekey" =>
key resource, "chain" => [X509Resource ...]]} or one PEM string holding the
certificate, any chain certificates and the private key.

cryptography has no CMS verification, so cms_verify reads the SignedData
itself (definite-length DER, as cms_sign, pkcs7_sign and
C{openssl cms -sign -outform DER} write it): it finds the signer's
certificate (in the signature or in C{certs}), checks the messageDigest
attribute against the content and the signature over the signed
attributes, then the certificate chain against C{store} with
L{halon.hsl.stdlib.x509.verify_chain}.  Without a C{store} the signer must
be one of C{certs} (pinned).

Results: cms_verify gives C{["result" => bool]} plus C{"error"} when false
and C{"data"} (the content) when it was inside the signature; cms_encrypt
and cms_decrypt give C{["data" => ...]} or C{["error" => ...]}; the
signing functions give the DER or C{none}.
"""

import base64
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.stdlib.crypto import load_pem_private_key, private_key_of
from halon.hsl.stdlib.x509 import X509, X509Resource, der_children, der_element, load_certificates, verify_chain
from halon.hsl.values import HSLArray, to_bytes, truthy

__all__ = ["sign", "verify"]

_DIGESTS = {
    "1.3.14.3.2.26": hashes.SHA1,
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
    "2.16.840.1.101.3.4.2.4": hashes.SHA224,
    "1.2.840.113549.2.5": hashes.MD5,
}
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_PEM_BODY = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.S)


def _options(options, function, allowed):
    if options is None:
        return {}
    if not isinstance(options, HSLArray):
        raise HSLRuntimeError("%s(): options must be an array" % function)
    out = {}
    for key, value in options.items():
        name = to_bytes(key).decode("utf-8", "replace")
        if name not in allowed:
            raise HSLRuntimeError("%s(): unknown option %r" % (function, name))
        out[name] = value
    return out


def _cert(value):
    if isinstance(value, X509Resource):
        return value.cert
    if isinstance(value, X509):
        return value.resource.cert
    return None


def _cert_list(value, function, what):
    if value is None:
        return []
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("%s(): %s must be an array of X509Resources" % (function, what))
    certs = [_cert(v) for v in value.values()]
    if None in certs:
        raise HSLRuntimeError("%s(): %s must be an array of X509Resources" % (function, what))
    return certs


def _credentials(certificate, function):
    """(certificate, private key, chain) from an array or a PEM string; None when unusable."""
    if isinstance(certificate, HSLArray):
        cert = _cert(certificate.get(b"x509"))
        key = private_key_of(certificate.get(b"privatekey"))
        if key is None and isinstance(certificate.get(b"privatekey"), bytes):
            key = load_pem_private_key(certificate.get(b"privatekey"))
        chain = _cert_list(certificate.get(b"chain"), function, "chain")
    elif isinstance(certificate, bytes):
        certs = load_certificates(certificate)
        cert, chain = (certs[0], certs[1:]) if certs else (None, [])
        key = None
        for block in re.finditer(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", certificate, re.S):
            key = load_pem_private_key(block.group(0))
    else:
        raise HSLRuntimeError("%s(): certificate must be an array or a string" % function)
    if cert is None or key is None:
        return None
    return cert, key, chain


def sign(message, certificate, options, function):
    """The DER SignedData for pkcs7_sign()/cms_sign(), or None."""
    opts = _options(options, function, {"id", "detached"})
    if truthy(opts.get("id", False)):
        return None
    credentials = _credentials(certificate, function)
    if credentials is None:
        return None
    cert, key, chain = credentials
    builder = pkcs7.PKCS7SignatureBuilder().set_data(to_bytes(message)).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    flags = [pkcs7.PKCS7Options.Binary]
    if truthy(opts.get("detached", True)):
        flags.append(pkcs7.PKCS7Options.DetachedSignature)
    try:
        return builder.sign(serialization.Encoding.DER, flags)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return None


@core.function()
def pkcs7_sign(message, certificate, options=None):
    return sign(message, certificate, options, "pkcs7_sign")


@core.function()
def cms_sign(message, certificate, options=None):
    return sign(message, certificate, options, "cms_sign")


def _der_input(data):
    """DER from DER, PEM, or bare base64 (as in an S/MIME part)."""
    m = _PEM_BODY.search(data)
    if m:
        return base64.b64decode(re.sub(rb"\s+", b"", m.group(1)))
    if data[:1] == b"\x30":
        return data
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", data), validate=True)
    except ValueError:
        return data


def _dotted(raw):
    parts, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return ".".join(str(n) for n in [first, parts[0] - 40 * first] + parts[1:])


def _elements(data, start, end):
    return list(der_children(data, start, end))


class _Signer:
    __slots__ = ("issuer", "serial", "ski", "digest", "signed_attrs", "signature")


def _signed_data(der):
    """(content or None, embedded certificates, signers) of a ContentInfo; ValueError when malformed."""
    _, start, end = der_element(der)
    content_info = _elements(der, start, end)
    if _dotted(der[content_info[0][2] : content_info[0][3]]) != _SIGNED_DATA:
        raise ValueError("not a SignedData")
    _, sd_start, sd_end = der_element(der, content_info[1][2])
    fields = _elements(der, sd_start, sd_end)
    encap = _elements(der, fields[2][2], fields[2][3])
    content = None
    if len(encap) > 1:
        _, c_start, c_end = der_element(der, encap[1][2])
        content = der[c_start:c_end]
    certs, signer_set = [], fields[-1]
    for tag, _, c_start, c_end in fields[3:-1]:
        if tag == 0xA0:
            for _, cpos, _, cstop in _elements(der, c_start, c_end):
                try:
                    certs.append(x509.load_der_x509_certificate(der[cpos:cstop]))
                except ValueError:
                    pass
    signers = []
    for _, _, s_start, s_end in _elements(der, signer_set[2], signer_set[3]):
        items = _elements(der, s_start, s_end)
        signer = _Signer()
        sid = items[1]
        signer.ski = signer.issuer = signer.serial = None
        if sid[0] == 0x30:
            name, serial = _elements(der, sid[2], sid[3])[:2]
            signer.issuer = der[name[1] : name[3]]
            signer.serial = int.from_bytes(der[serial[2] : serial[3]], "big", signed=True)
        else:
            signer.ski = der[sid[2] : sid[3]]
        algorithm = _elements(der, items[2][2], items[2][3])[0]
        signer.digest = _DIGESTS.get(_dotted(der[algorithm[2] : algorithm[3]]))
        rest = items[3:]
        signer.signed_attrs = None
        if rest and rest[0][0] == 0xA0:
            signer.signed_attrs = rest[0]
            rest = rest[1:]
        signer.signature = der[rest[1][2] : rest[1][3]]
        signer.signed_attrs = None if signer.signed_attrs is None else _attributes(der, signer.signed_attrs)
        signers.append(signer)
    return content, certs, signers


def _attributes(der, element):
    """(DER to sign: the attributes as a SET, {oid: first value bytes})."""
    tag, pos, start, end = element
    values = {}
    for _, _, a_start, a_end in _elements(der, start, end):
        oid_el, set_el = _elements(der, a_start, a_end)[:2]
        first = _elements(der, set_el[2], set_el[3])[0]
        values[_dotted(der[oid_el[2] : oid_el[3]])] = der[first[2] : first[3]]
    return b"\x31" + der[pos + 1 : end], values


def _matches(cert, signer):
    if signer.ski is not None:
        try:
            return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == signer.ski
        except (x509.ExtensionNotFound, ValueError):
            return False
    return cert.serial_number == signer.serial and cert.issuer.public_bytes() == signer.issuer


def _check_signature(cert, signer, data):
    key = cert.public_key()
    algorithm = signer.digest()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signer.signature, data, asym_padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signer.signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signer.signature, data)
    else:
        raise UnsupportedAlgorithm("signer key type")


def verify(signature, message, certs, store):
    """(ok, error, content) for one SignedData; C{message} is None when attached."""
    try:
        content, embedded, signers = _signed_data(_der_input(signature))
    except (ValueError, IndexError):
        return False, "invalid signature structure", None
    if message is not None:
        content = message
    if content is None:
        return False, "no content to verify", None
    if not signers:
        return False, "no signers", None
    for signer in signers:
        cert = next((c for c in embedded + certs if _matches(c, signer)), None)
        if cert is None:
            return False, "signer certificate not found", None
        if signer.digest is None:
            return False, "unsupported digest algorithm", None
        data = content
        if signer.signed_attrs is not None:
            data, attributes = signer.signed_attrs
            digest = hashes.Hash(signer.digest())
            digest.update(content)
            wanted = attributes.get(_MESSAGE_DIGEST)
            if wanted is None or wanted != digest.finalize():
                return False, "content verify error", None
        try:
            _check_signature(cert, signer, data)
        except InvalidSignature:
            return False, "signature failure", None
        except (UnsupportedAlgorithm, ValueError, TypeError):
            return False, "unsupported signature algorithm", None
        if store:
            ok, error = verify_chain(cert, store, embedded + certs)
            if not ok:
                return False, error, None
        elif cert not in certs:
            return False, "signer certificate not trusted", None
    return True, None, content


@core.function()
def cms_verify(signature, message, certificates, options=None):
    _options(options, "cms_verify", set())
    if not isinstance(certificates, HSLArray):
        raise HSLRuntimeError("cms_verify(): certificates must be an array")
    certs = _cert_list(certificates.get(b"certs"), "cms_verify", "certs")
    store = _cert_list(certificates.get(b"store"), "cms_verify", "store")
    ok, error, content = verify(to_bytes(signature), None if message is None else to_bytes(message), certs, store)
    result = HSLArray({b"result": ok})
    if error:
        result.set(b"error", error.encode())
    if ok and message is None:
        result.set(b"data", content)
    return result


def _error(text):
    return HSLArray({b"error": text.encode()})


@core.function()
def cms_encrypt(message, certificates, options=None):
    opts = _options(options, "cms_encrypt", {"cipher"})
    if not isinstance(certificates, HSLArray):
        raise HSLRuntimeError("cms_encrypt(): certificates must be an array")
    recipients = _cert_list(certificates.get(b"certs"), "cms_encrypt", "certs")
    if not recipients:
        return _error("no recipient certificates")
    cipher = to_bytes(opts.get("cipher", b"aes-128-cbc")).lower()
    ciphers = {b"aes-128-cbc": algorithms.AES128, b"aes-256-cbc": algorithms.AES256}
    if cipher not in ciphers:
        return _error("unsupported cipher")
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(to_bytes(message))
    builder = builder.set_content_encryption_algorithm(ciphers[cipher])
    try:
        for cert in recipients:
            builder = builder.add_recipient(cert)
        return HSLArray({b"data": builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])})
    except (TypeError, ValueError, UnsupportedAlgorithm) as e:
        return _error(str(e))


@core.function()
def cms_decrypt(message, options=None):
    opts = _options(options, "cms_decrypt", {"certificate", "id"})
    if truthy(opts.get("id", False)):
        return _error("key ids are not available here")
    credentials = _credentials(opts.get("certificate"), "cms_decrypt")
    if credentials is None:
        return _error("no usable certificate and private key")
    cert, key, _ = credentials
    try:
        data = pkcs7.pkcs7_decrypt_der(_der_input(to_bytes(message)), cert, key, [])
    except (TypeError, ValueError, UnsupportedAlgorithm) as e:
        return _error(str(e) or "decryption failed")
    return HSLArray({b"data": data})
