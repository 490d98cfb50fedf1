"""
DKIM signing and verification (RFC 6376, RFC 8463) on dkimpy.

dkimpy does the canonicalisation, header selection and signature-field
parsing. Two things are ours: the signature fields follow Halon's signDKIM()
options (no t= or i= unless asked, x= expiration, over-signed From), and RSA
signatures are made with the cryptography package, because dkimpy's
pure-Python RSA takes longer than the rest of the signing together.

This module knows nothing of HSL: L{sign} and L{verify} take and return
Python values; the "dkim" service in L{halon.mailauth.service} converts.
"""

import base64
import re
import time

import dkim as dkimpy
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim import canonicalization, util

ALGORITHMS = {
    "rsa-sha256": (b"rsa-sha256", hashes.SHA256),
    "rsa-sha1": (b"rsa-sha1", hashes.SHA1),
    "ed25519-sha256": (b"ed25519-sha256", None),
}

# RFC 6376 section 5.4.1: the fields a signature should cover when present.
DEFAULT_HEADERS = (
    "from", "reply-to", "subject", "date", "to", "cc", "resent-date", "resent-from",
    "resent-to", "resent-cc", "in-reply-to", "references", "list-id", "list-help",
    "list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive",
    "message-id", "mime-version", "content-type", "content-transfer-encoding",
    "content-id", "content-description",
)


_TRAILING_WSP = re.compile(rb"[\t ]+(?=\r\n)")
_WSP_RUN = re.compile(rb"\t[\t ]*| [\t ]+")


def _relaxed_body(body):
    """
    RFC 6376 3.4.4, as dkimpy computes it but without its regular
    expressions when a body has no whitespace to fix (most bodies).
    """
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        body = _WSP_RUN.sub(b" ", _TRAILING_WSP.sub(b"", body))
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


class DKIMError(Exception):
    """A signing request that cannot be carried out (bad key, bad option)."""


def load_private_key(key):
    """A cryptography private key from PEM bytes or an already loaded key."""
    if isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        return key
    try:
        return serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as e:
        raise DKIMError("invalid private key: %s" % (e,))


class _Signer(dkimpy.DKIM):
    """dkimpy's DKIM with the signature fields and the RSA step replaced."""

    def sign_fields(self, fields, include_headers, canon_policy, header_name, key, hasher, crypto_hash):
        header_value = b"; ".join(b"=".join(f) for f in fields)
        header_value = dkimpy.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkimpy.RE_BTAG.sub(b"\\1", header_value)
        digest = dkimpy.HashThrough(hasher(), False)
        headers = canon_policy.canonicalize_headers(self.headers)
        dkimpy.hash_headers(digest, canon_policy, headers, include_headers, (header_name, b" " + header_value), dict(fields))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            signature = key.sign(digest.digest())
        else:
            signature = key.sign(digest.digest(), padding.PKCS1v15(), utils.Prehashed(crypto_hash()))
        index = [i for i, f in enumerate(fields) if f[0] == b"b"][0]
        fields[index] = (b"b", base64.b64encode(signature))
        value = b"; ".join(b"=".join(f) for f in fields)
        return dkimpy.fold(value, namelen=len(header_name), linesep=b"\r\n")


def sign(
    message,
    selector,
    domain,
    key,
    algorithm="rsa-sha256",
    canonicalization_header="relaxed",
    canonicalization_body="relaxed",
    headers=None,
    additional_headers=(),
    oversign_headers=("from",),
    timestamp=False,
    expiration=None,
    expiration_relative=None,
    identity=None,
    arc_instance=None,
    now=None,
):
    """
    The DKIM-Signature (or, with C{arc_instance}, ARC-Message-Signature) for
    C{message} (bytes) as (header name, folded value), both bytes.
    C{timestamp} is False, True (now) or a unix time.
    """
    if algorithm not in ALGORITHMS:
        raise DKIMError("unsupported algorithm %s" % (algorithm,))
    tag, crypto_hash = ALGORITHMS[algorithm]
    key = load_private_key(key)
    if algorithm.startswith("rsa") != isinstance(key, rsa.RSAPrivateKey):
        raise DKIMError("the key does not match algorithm %s" % (algorithm,))
    for c in (canonicalization_header, canonicalization_body):
        if c not in ("simple", "relaxed"):
            raise DKIMError("unknown canonicalization %s" % (c,))
    signer = _Signer(message, signature_algorithm=tag)
    policy = canonicalization.CanonicalizationPolicy.from_c_value(
        ("%s/%s" % (canonicalization_header, canonicalization_body)).encode()
    )
    present = [name.lower() for name, _ in signer.headers]
    if headers:
        names = [h.lower() for h in headers]
    else:
        names = [h for h in DEFAULT_HEADERS if h.encode() in present]
        names += [h.lower() for h in additional_headers if h.lower() not in names]
    if "from" not in names:
        raise DKIMError("the From header must be signed")
    # Each listed name covers one instance, bottom up (RFC 6376 5.4.2); a
    # name listed once more than it occurs ("over-signing") forbids additions.
    include = []
    for name in names:
        include += [name] * max(1, present.count(name.encode()))
    for name in oversign_headers:
        include.append(name.lower())
    include_b = tuple(n.encode() for n in include)

    hasher = dkimpy.HASH_ALGORITHMS[tag]
    if canonicalization_body == "relaxed":
        body = _relaxed_body(signer.body)
    else:
        body = policy.canonicalize_body(signer.body)
    bodyhash = base64.b64encode(hasher(body).digest())
    now = time.time() if now is None else now
    fields = [(b"v", b"1")] if arc_instance is None else [(b"i", str(arc_instance).encode())]
    fields += [(b"a", tag), (b"c", policy.to_c_value()), (b"d", domain.encode())]
    if identity:
        if not identity.endswith(domain):
            raise DKIMError("identity must end with the signing domain")
        fields.append((b"i", identity.encode()))
    fields += [(b"q", b"dns/txt"), (b"s", selector.encode())]
    signed_at = None
    if timestamp is True:
        signed_at = int(now)
    elif timestamp not in (False, None):
        signed_at = int(timestamp)
    if signed_at is not None:
        fields.append((b"t", str(signed_at).encode()))
    if expiration is None and expiration_relative is not None:
        expiration = (signed_at if signed_at is not None else int(now)) + int(expiration_relative)
    if expiration is not None:
        fields.append((b"x", str(int(expiration)).encode()))
    fields += [(b"h", b":".join(include_b)), (b"bh", bodyhash), (b"b", b"0" * 60)]
    header_name = b"DKIM-Signature" if arc_instance is None else b"ARC-Message-Signature"
    value = signer.sign_fields(fields, include_b, policy, header_name, key, hasher, crypto_hash)
    return header_name, value.rstrip(b"\r\n")


class Result:
    """pass, permerror or temperror, with the reason and the parsed tags."""

    def __init__(self, result, error=None, tags=None):
        self.result = result
        self.error = error
        self.tags = tags


def verify(message, headerfield, fetch_key, now=None):
    """
    Verify the signature in C{headerfield} (the whole field as it stands in
    C{message}, name and value). C{fetch_key(name)} returns the TXT record
    (bytes), or raises L{KeyUnavailable} saying whether the failure is
    temporary. Returns a L{Result}.
    """
    name, sep, value = headerfield.partition(b":")
    if not sep:
        return Result("permerror", "not a header field")
    name = name.strip()
    kind = name.lower()
    if kind not in (b"dkim-signature", b"arc-message-signature"):
        return Result("permerror", "not a DKIM-Signature or ARC-Message-Signature header")
    try:
        tags = util.parse_tag_value(value)
    except util.InvalidTagValueList as e:
        return Result("permerror", "malformed signature: %s" % (e,))
    arc = kind == b"arc-message-signature"
    verifier = dkimpy.DKIM(message) if not arc else dkimpy.ARC(message)
    verifier.timeout = 5
    field = _find_field(verifier.headers, name, value)
    if field is None:
        return Result("permerror", "the header is not in the message", tags)
    try:
        dkimpy.validate_signature_fields(tags, arc=arc, **({} if not arc else {"mandatory_fields": [b"i", b"a", b"b", b"bh", b"d", b"h", b"s"]}))
    except dkimpy.ValidationError as e:
        return Result("permerror", str(e), tags)
    if now is not None and b"x" in tags and int(tags[b"x"]) < now:
        return Result("permerror", "signature expired", tags)
    record_name = b"%s._domainkey.%s." % (tags[b"s"], tags[b"d"])
    try:
        record = fetch_key(record_name.decode("ascii", "replace"))
    except KeyUnavailable as e:
        return Result("temperror" if e.temporary else "permerror", str(e), tags)
    include = [h.strip() for h in tags[b"h"].split(b":")]
    try:
        ok = verifier.verify_sig(tags, include, field, lambda _name, timeout=5: record)
    except dkimpy.DKIMException as e:
        return Result("permerror", str(e), tags)
    if not ok:
        return Result("permerror", "signature did not verify", tags)
    return Result("pass", None, tags)


class KeyUnavailable(Exception):
    def __init__(self, message, temporary):
        Exception.__init__(self, message)
        self.temporary = temporary


def _find_field(headers, name, value):
    wanted = (name.lower(), _unfold(value))
    for hname, hvalue in headers:
        if (hname.lower(), _unfold(hvalue)) == wanted:
            return (hname, hvalue)
    return None


def _unfold(value):
    return b" ".join(value.split())
