"""
DMARC evaluation (RFC 7489) with the answers Halon's dmarc() gives.

The policy is looked up at _dmarc.<From domain>, then at the organizational
domain (Public Suffix List). A message passes when SPF or DKIM passes for a
domain aligned with the From domain (relaxed: same organizational domain;
strict: equal). Otherwise the published policy applies (sp= for
subdomains), sampled by pct=. Results: pass, none, quarantine, reject,
policy_absent, temperror, permerror.

SPF and DKIM are done by the caller's functions, so this module is pure
policy and alignment and can be tested without DNS.
"""

import random
from email.utils import getaddresses


class Evaluation:
    """What dmarc() returns, as plain Python values (the HSL layer converts)."""

    def __init__(self, result, reason=None, **fields):
        self.result = result
        self.reason = reason
        self.fields = fields

    def as_dict(self):
        d = {"result": self.result}
        if self.reason is not None:
            d["reason"] = self.reason
        d.update((k, v) for k, v in self.fields.items() if v is not None)
        return d


def parse_record(txt):
    """The tags of a DMARC record (dict of str), or None if it is not one."""
    text = txt.decode("utf-8", "replace") if isinstance(txt, bytes) else txt
    tags = {}
    for part in text.split(";"):
        if "=" not in part:
            if part.strip():
                return None
            continue
        key, _, value = part.partition("=")
        tags[key.strip().lower()] = value.strip()
    if tags.get("v") != "DMARC1":
        return None
    return tags


def aligned(domain, from_domain, mode, psl):
    domain = (domain or "").lower().rstrip(".")
    if not domain:
        return False
    if mode == "s":
        return domain == from_domain
    return psl.organizational_domain(domain) == psl.organizational_domain(from_domain)


def fetch_policy(lookup_txt, from_domain, psl):
    """
    (policy domain, tags) following RFC 7489 6.6.3; (None, None) when no
    record exists. C{lookup_txt(name)} returns (records, temporary_error).
    Raises L{TemporaryFailure} when DNS did not answer.
    """
    candidates = [from_domain]
    org = psl.organizational_domain(from_domain)
    if org != from_domain:
        candidates.append(org)
    for domain in candidates:
        records, temporary = lookup_txt("_dmarc." + domain)
        if temporary:
            raise TemporaryFailure("DNS error looking up _dmarc.%s" % (domain,))
        parsed = [t for t in (parse_record(r) for r in records) if t is not None]
        if len(parsed) == 1:
            return domain, parsed[0]
    return None, None


class TemporaryFailure(Exception):
    pass


def evaluate(from_header_values, spf, spf_domain, dkim_results, lookup_txt, psl, rng=random.random):
    """
    Evaluate DMARC for a message whose From fields are C{from_header_values}
    (list of decoded header values), given the SPF result (a dict with
    "result") checked for C{spf_domain}, and the DKIM verification results
    (dicts with "result" and "tags" {"d": ...}).
    """
    from_domain, reason = _from_domain(from_header_values)
    if from_domain is None:
        return Evaluation("permerror", reason)
    try:
        pdomain, tags = fetch_policy(lookup_txt, from_domain, psl)
    except TemporaryFailure as e:
        return Evaluation("temperror", str(e), **{"from": from_domain})
    if tags is None:
        return Evaluation("policy_absent", "no DMARC record", **{"from": from_domain, "spf": spf, "dkim": dkim_results})
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        if "rua" in tags:
            policy = "none"
        else:
            return Evaluation("permerror", "invalid p= tag", **{"from": from_domain, "pdomain": pdomain, "dmarc": tags})
    if pdomain != from_domain and tags.get("sp", "").lower() in ("none", "quarantine", "reject"):
        policy = tags["sp"].lower()
    adkim = tags.get("adkim", "r").lower()
    aspf = tags.get("aspf", "r").lower()

    spf_align = "unaligned"
    if spf and spf.get("result") == "pass":
        spf_align = "pass" if aligned(spf_domain, from_domain, aspf, psl) else "unaligned"
    elif spf:
        spf_align = "fail"
    dkim_align = "unaligned"
    for result in dkim_results:
        d = (result.get("tags") or {}).get("d")
        if result.get("result") == "pass":
            if aligned(d, from_domain, adkim, psl):
                dkim_align = "pass"
                break
        elif dkim_align == "unaligned" and d and aligned(d, from_domain, adkim, psl):
            dkim_align = "fail"
    common = {
        "from": from_domain,
        "pdomain": pdomain,
        "spf": spf,
        "dkim": dkim_results,
        "dmarc": tags,
        "spf_align": spf_align,
        "dkim_align": dkim_align,
        "policy": policy,
    }
    if spf_align == "pass" or dkim_align == "pass":
        return Evaluation("pass", "aligned %s pass" % ("SPF" if spf_align == "pass" else "DKIM"), **common)
    try:
        pct = min(100, max(0, int(tags.get("pct", "100"))))
    except ValueError:
        pct = 100
    selected = rng() * 100 < pct
    result = policy
    if not selected:
        result = {"reject": "quarantine", "quarantine": "none"}.get(policy, policy)
    return Evaluation(result, "no aligned SPF or DKIM pass", **common, **{"pct-selected": selected})


def _from_domain(values):
    if len(values) != 1:
        return None, "the message has %d From fields" % (len(values),)
    addresses = [a for _, a in getaddresses([values[0]]) if a]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None, "the From field must hold exactly one address"
    return addresses[0].rsplit("@", 1)[1].lower().strip(), None
