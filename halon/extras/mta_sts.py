"""extras://mta-sts: mta_sts($domain), the domain's MTA-STS policy."""

from halon.extras import lookup, text
from halon.hsl.program import register_extra
from halon.mailauth import mtasts
from halon.mailauth.service import to_hsl


def mta_sts_functions(host):
    def discovery():
        resolver = lookup(host, "mta_sts").resolver
        return mtasts.MTASTS(host.reactor, lambda name: resolver.query(name, "txt"))

    def mta_sts(domain):
        """The domain's MTA-STS policy (mode, mx, max_age, id), or none; cached for its max_age."""
        sts = host.shared_state("mta-sts", discovery)
        policy, error = host.run_io(sts.policy, text(domain))
        if policy is None:
            return None if error is None else to_hsl({"error": error})
        out = dict(policy.as_dict())
        if error is not None:
            out["error"] = error
        return to_hsl(out)

    return {"mta_sts": mta_sts}


register_extra("mta-sts", ["mta_sts"], mta_sts_functions)
