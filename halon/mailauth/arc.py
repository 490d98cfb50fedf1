"""
ARC (RFC 8617): validating the chain a message arrives with, and sealing it
with our own set, on dkimpy's ARC implementation.

dkimpy takes the chain validation status it seals from an
Authentication-Results field of our authserv-id carrying an "arc=" result,
and signs the AAR from that field's results. L{seal} hands it the results a
script built (as Halon's ARC::seal does) by placing them in such a field on
a copy of the message; the message itself only gets the three ARC headers.
"""

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization

from halon.mailauth.dkim import load_private_key


class ChainResult:
    """status: pass, fail or none; oldest_pass: see L{validate}."""

    def __init__(self, status, reason=None, instances=0, oldest_pass=None):
        self.status = status
        self.reason = reason
        self.instances = instances
        self.oldest_pass = oldest_pass


def validate(message, dnsfunc):
    """
    Validate the ARC chain of C{message} (bytes). C{dnsfunc(name)} returns
    the TXT record of a key (bytes) or None. C{oldest_pass} is 0 when every
    ARC-Message-Signature validates, else the lowest instance whose AMS does
    (RFC 8617 7.2's arc.oldest-pass).
    """
    cv, results, reason = dkimpy.arc_verify(message, dnsfunc=lambda name, timeout=5: dnsfunc(name.decode() if isinstance(name, bytes) else name))
    status = cv.decode() if isinstance(cv, bytes) else cv
    if status not in ("pass", "fail", "none"):
        status = "fail"
    oldest = None
    if results:
        valid = sorted(r["instance"] for r in results if r.get("ams-valid"))
        oldest = 0 if len(valid) == len(results) else (valid[0] if valid else None)
    return ChainResult(status, reason if isinstance(reason, str) else None, len(results), oldest)


def seal(message, selector, domain, key, authserv_id, results, chain_status, include_headers=None, timestamp=None):
    """
    The ARC set for the next instance: a list of (name, value) pairs, to
    be added at the top of the message in that order. C{results} is the
    Authentication-Results value to record (without the authserv-id), and
    C{chain_status} the validated chain status (pass/fail/none).
    """
    pem = load_private_key(key).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    results = results.strip().rstrip(";")
    if chain_status and "arc=" not in results:
        results = (results + "; " if results else "") + "arc=" + chain_status
    field = ("Authentication-Results: %s; %s\r\n" % (authserv_id, results)).encode()
    arc = dkimpy.ARC(field + message)
    headers = include_headers or arc.default_sign_headers()
    lines = arc.sign(selector.encode(), domain.encode(), pem, authserv_id.encode(), include_headers=headers, timestamp=timestamp)
    out = []
    for line in lines:
        name, _, value = line.partition(b":")
        out.append((name, value.strip(b" ").rstrip(b"\r\n")))
    return out
