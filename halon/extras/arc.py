"""extras://arc: arc_validate($mail) and arc_seal($mail, ...)."""

from halon.extras import lookup, message_bytes, text
from halon.hsl.errors import HSLRuntimeError
from halon.hsl.program import register_extra
from halon.hsl.values import HSLArray, to_bytes, truthy
from halon.mailauth import arc
from halon.mailauth.service import to_hsl


def arc_functions(host):
    def fetch_key(name):
        answer = lookup(host, "arc_validate")(name, "txt")
        records = [r for r in answer.records if b"p=" in r]
        return records[0] if records else None

    def arc_validate(mail):
        """The ARC chain's status (pass, fail or none), its instances and the oldest passing one."""
        result = arc.validate(message_bytes(mail, "arc_validate"), fetch_key)
        out = {"status": result.status, "instances": result.instances}
        if result.reason:
            out["reason"] = result.reason
        if result.oldest_pass is not None:
            out["oldest_pass"] = result.oldest_pass
        return to_hsl(out)

    def arc_seal(mail, selector, domain, key, authservid, results, chainstatus, options=None):
        """Add the next ARC set to C{mail}; false (and nothing added) when it cannot be made."""
        opts = options if isinstance(options, HSLArray) else HSLArray()
        headers = opts.get(b"headers")
        include = [text(h).encode() for h in headers.values()] if isinstance(headers, HSLArray) else None
        try:
            fields = arc.seal(
                message_bytes(mail, "arc_seal"),
                text(selector),
                text(domain),
                to_bytes(key),
                text(authservid),
                text(results),
                text(chainstatus),
                include_headers=include,
            )
        except (ValueError, TypeError) as e:
            if truthy(opts.get(b"raise", False)):
                raise HSLRuntimeError("arc_seal(): %s" % (e,))
            return False
        no_encoding = HSLArray({b"encode": False})
        for name, value in reversed(fields):
            mail.add_header(name, value, no_encoding)
        return True

    return {"arc_validate": arc_validate, "arc_seal": arc_seal}


register_extra("arc", ["arc_validate", "arc_seal"], arc_functions)
