"""
Modules scripts import as C{extras://name}, as Halon's extras plugins:

    import { dmarc } from "extras://dmarc";
    import { arc_validate, arc_seal } from "extras://arc";
    import { mta_sts } from "extras://mta-sts";

C{extras://a-b} is the module C{halon.extras.a_b}; importing it registers
its functions with L{halon.hsl.program.register_extra}.  They work on the
host's resolver (L{halon.mailauth.service.install}), so a script gets the
same answers in smtpd and in hsh.
"""

from email.parser import BytesHeaderParser
from email.policy import compat32

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLObject, to_bytes
from halon.mailauth import psl


def message_bytes(mail, fn):
    if not isinstance(mail, HSLObject) or not hasattr(mail, "to_bytes"):
        raise HSLRuntimeError("%s(): the first argument must be a MailMessage" % fn)
    return mail.to_bytes()


def text(value):
    return to_bytes(value).decode("utf-8", "surrogateescape")


def lookup(host, fn):
    return host.service("resolver", fn).lookup


def suffixes(host, fn):
    suffixes = psl.load(host.publicsuffix)
    if suffixes is None:
        raise HSLRuntimeError("%s(): no public suffix list (environment.publicsuffix)" % fn)
    return suffixes


def signature_fields(raw):
    """Every DKIM-Signature field of the message, as it stands (name and folded value)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    fields = []
    for name, value in headers.raw_items():
        if name.lower() == "dkim-signature":
            fields.append(("%s:%s" % (name, value)).encode("utf-8", "surrogateescape"))
    return headers.get_all("From") or [], fields
