"""extras://dmarc: dmarc($mail, $senderip, $senderhelo, $senderdomain)."""

from halon.extras import lookup, message_bytes, signature_fields, suffixes, text
from halon.hsl.program import register_extra
from halon.hsl.values import HSLArray
from halon.mailauth import dmarc
from halon.mailauth.service import to_hsl


def dmarc_functions(host):
    def dmarc_(mail, senderip, senderhelo, senderdomain, options=None):
        """
        DMARC for a message: SPF for the envelope domain, every DKIM
        signature verified, and the From domain's policy; the result is
        pass, none, quarantine, reject, policy_absent, temperror or permerror.
        """
        raw = message_bytes(mail, "dmarc")
        resolve = lookup(host, "dmarc")
        domain = text(senderdomain)
        spf = host.service("spf", "dmarc").spf_query(senderip, senderhelo, ("postmaster@" + domain).encode() if domain else b"")
        spf_result = {"result": text(spf.get(b"result"))}
        from_values, fields = signature_fields(raw)
        verifier = host.service("dkim", "dmarc")
        results = []
        for field in fields:
            verified = verifier.verify(mail, field)
            tags = verified.get(b"tags")
            results.append(
                {
                    "result": text(verified.get(b"result")),
                    "tags": {text(k): text(v) for k, v in tags.items()} if isinstance(tags, HSLArray) else {},
                }
            )

        def lookup_txt(name):
            answer = resolve(name, "txt")
            return answer.records, answer.error not in (None, "NXDOMAIN")

        evaluation = dmarc.evaluate(from_values, spf_result, domain, results, lookup_txt, suffixes(host, "dmarc"))
        return to_hsl(evaluation.as_dict())

    return {"dmarc": dmarc_}


register_extra("dmarc", ["dmarc"], dmarc_functions)
