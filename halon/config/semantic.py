"""
Checks a JSON Schema cannot express: ids that must be unique, references
that must resolve (hooks, transports, certificates, listeners), regular
expressions and networks that must parse, and scripts that must compile.

Each check reads the raw document defensively (the schema may have found
problems too; everything is reported together) and returns L{Problem}s.
"""

import base64
import binascii
import ipaddress
import os
import re

from halon.config import hsl
from halon.config.errors import format_path

HOOK_TYPES = ("connect", "disconnect", "proxy", "helo", "auth", "mailfrom", "rcptto", "eod")
CONDITION_FIELDS = ("tenantid", "jobid", "transportid", "localip", "grouping", "remoteip", "remotemx", "recipientdomain")
_NETWORK_FIELDS = ("localip", "remoteip")


def check(kind, document, startup=None, lint=True, local=True):
    """
    The semantic problems of C{document}, a file of C{kind}.  C{lint}
    compiles the scripts it carries; C{local} checks that files it names
    (certificates) exist on this machine, which is right where the
    configuration runs and wrong where it is only packed.
    """
    checker = _CHECKS.get(kind)
    if checker is None:
        return []
    return checker(document, startup, lint, local)


def _items(value):
    """(index, item) of a list that may not be a list (the schema reports that)."""
    return list(enumerate(value)) if isinstance(value, list) else []


def _dict(value):
    return value if isinstance(value, dict) else {}


def _unique(document, entries, what, key="id"):
    """Problems for repeated ids among (path, item) pairs."""
    out, seen = [], {}
    for path, item in entries:
        ident = _dict(item).get(key)
        if not isinstance(ident, str):
            continue
        if ident in seen:
            out.append(document.problem(path + (key,), "duplicate %s id %s (also at %s)" % (what, _q(ident), seen[ident])))
        else:
            seen[ident] = format_path(path)
    return out


def _q(text):
    return '"%s"' % (text,)


# -- smtpd.yaml ---------------------------------------------------------------


def _smtpd(document, startup, lint, local):
    data = document.data
    servers = _items(data.get("servers"))
    out = _unique(document, [(("servers", i), s) for i, s in servers], "server")
    for i, server in servers:
        listeners = _items(_dict(server).get("listeners"))
        out += _unique(document, [(("servers", i, "listeners", j), item) for j, item in listeners], "listener")
        if _dict(server).get("type", "smtp") in ("smtp", "http", "https") and "listeners" in _dict(server):
            if not listeners:
                out.append(document.problem(("servers", i, "listeners"), "a server of this type needs a listener"))
        for j, listener in listeners:
            address = _dict(listener).get("address")
            if isinstance(address, str) and not _is_ip(address):
                out.append(document.problem(("servers", i, "listeners", j, "address"), "not an IP address: %s" % (_q(address),)))
        for j, network in _items(_dict(server).get("proxyprotocol")):
            if isinstance(network, str) and not _is_network(network):
                out.append(document.problem(("servers", i, "proxyprotocol", j), "not an IP address or network: %s" % (_q(network),)))
    control = _dict(_dict(data.get("environment")).get("controlsocket"))
    if "path" in control and "port" in control:
        out.append(document.problem(("environment", "controlsocket"), "path and port cannot both be set"))
    return out


# -- smtpd-app.yaml -----------------------------------------------------------


def _smtpd_app(document, startup, lint, local):
    data = document.data
    scripting = _dict(data.get("scripting"))
    hooks = _dict(scripting.get("hooks"))
    out = []

    servers = _items(data.get("servers"))
    out += _unique(document, [(("servers", i), s) for i, s in servers], "server")

    groups = _items(data.get("transportgroups"))
    out += _unique(document, [(("transportgroups", i), g) for i, g in groups], "transport group")
    transports = [
        (("transportgroups", i, "transports", j), t) for i, g in groups for j, t in _items(_dict(g).get("transports"))
    ]
    out += _unique(document, transports, "transport")
    transport_ids = {_dict(t).get("id") for _, t in transports}

    pki = [(("pki", "private", i), p) for i, p in _items(_dict(data.get("pki")).get("private"))]
    out += _unique(document, pki, "certificate")
    pki_ids = {_dict(p).get("id") for _, p in pki}
    for path, entry in pki:
        for part in ("certificate", "privatekey"):
            where = _dict(_dict(entry).get(part)).get("path")
            if local and isinstance(where, str) and document.base_dir is not None:
                full = os.path.join(document.base_dir, where)
                if not os.path.isfile(full):
                    out.append(document.problem(path + (part, "path"), "no such file: %s" % (full,)))

    hook_ids = {}
    for kind in HOOK_TYPES:
        entries = [(("scripting", "hooks", kind, i), h) for i, h in _items(hooks.get(kind))]
        out += _unique(document, entries, kind + " hook")
        hook_ids[kind] = {_dict(h).get("id") for _, h in entries}
    files = [(("scripting", "files", i), f) for i, f in _items(scripting.get("files"))]
    out += _unique(document, files, "file")
    out += _unique(document, [(("plugins", i), p) for i, p in _items(data.get("plugins"))], "plugin")
    groupings = _dict(_dict(data.get("queues")).get("grouping")).get("groupings")
    out += _unique(document, [(("queues", "grouping", "groupings", i), g) for i, g in _items(groupings)], "grouping")
    lists = _dict(data.get("lists"))
    for i, grouping in _items(groupings):
        path = ("queues", "grouping", "groupings", i)
        out += _conditions(document, path, grouping)
        for field, values in _dict(grouping).items():
            for j, item in _items(values):
                if isinstance(item, str) and item.startswith("@") and item[1:] not in lists:
                    out.append(document.problem(path + (field, j), "no list %s in lists" % (_q(item[1:]),)))

    for i, server in servers:
        server = _dict(server)
        base = ("servers", i)
        if isinstance(server.get("transport"), str) and server["transport"] not in transport_ids:
            out.append(document.problem(base + ("transport",), "no transport with id %s in transportgroups" % (_q(server["transport"]),)))
        phases = _dict(server.get("phases"))
        for kind in HOOK_TYPES:
            for path, ident in hook_refs(base + ("phases", kind, "hook"), _dict(phases.get(kind)).get("hook")):
                if ident not in hook_ids[kind]:
                    out.append(document.problem(path, "no %s hook with id %s in scripting.hooks.%s" % (kind, _q(ident), kind)))
        tls = _dict(server.get("tls"))
        for j, cert in _items(tls.get("certs")):
            ident = _dict(cert).get("cert")
            if isinstance(ident, str) and ident not in pki_ids:
                out.append(document.problem(base + ("tls", "certs", j, "cert"), "no certificate with id %s in pki.private" % (_q(ident),)))
    for i, group in groups:
        dsn = _dict(_dict(group).get("dsn")).get("transport")
        if isinstance(dsn, str) and dsn not in transport_ids:
            out.append(document.problem(("transportgroups", i, "dsn", "transport"), "no transport with id %s in transportgroups" % (_q(dsn),)))
    for path, transport in transports:
        clientcert = _dict(_dict(_dict(transport).get("session")).get("tls")).get("clientcert")
        if isinstance(clientcert, str) and clientcert not in pki_ids:
            out.append(document.problem(path + ("session", "tls", "clientcert"), "no certificate with id %s in pki.private" % (_q(clientcert),)))

    for path, entry in files:
        entry = _dict(entry)
        if entry.get("binary") is True and isinstance(entry.get("data"), str):
            try:
                base64.b64decode(entry["data"], validate=True)
            except (binascii.Error, ValueError):
                out.append(document.problem(path + ("data",), "binary is true but data is not base64"))

    if startup is not None:
        out += _against_startup(document, servers, startup)
    if lint:
        out += _scripts(document, hooks, files)
    return out


def hook_refs(path, hook):
    """(path, hook id) of every hook a phase names (rcptto may name one per recipient domain)."""
    if isinstance(hook, str):
        return [(path, hook)]
    refs = []
    if isinstance(hook, dict):
        if isinstance(hook.get("id"), str):
            refs.append((path + ("id",), hook["id"]))
        for domain, ident in _dict(hook.get("recipientdomains")).items():
            if isinstance(ident, str):
                refs.append((path + ("recipientdomains", domain), ident))
    return refs


def _against_startup(document, servers, startup):
    """smtpd.yaml and smtpd-app.yaml must agree on servers and listener ids."""
    out = []
    app_ids = {_dict(s).get("id") for _, s in servers}
    listeners = {}
    for server in _items(startup.get("servers")):
        server = _dict(server[1])
        listeners[server.get("id")] = {_dict(item).get("id") for _, item in _items(server.get("listeners"))}
        if server.get("id") not in app_ids:
            out.append(document.problem(("servers",), "no server with id %s, which smtpd.yaml listens for" % (_q(server.get("id")),)))
    for i, server in servers:
        implicit = _dict(_dict(server).get("tls")).get("implicit")
        for j, ident in _items(implicit):
            if isinstance(ident, str) and ident not in listeners.get(_dict(server).get("id"), set()):
                out.append(
                    document.problem(
                        ("servers", i, "tls", "implicit", j),
                        "no listener with id %s for this server in smtpd.yaml" % (_q(ident),),
                    )
                )
    return out


def _scripts(document, hooks, files):
    """Every hook script, and every .hsl file, must compile."""
    out = []
    for kind in HOOK_TYPES:
        for i, entry in _items(hooks.get(kind)):
            entry = _dict(entry)
            if isinstance(entry.get("data"), str) and isinstance(entry.get("id"), str):
                name = "hooks/%s/%s.hsl" % (kind, entry["id"])
                for message in hsl.syntax_errors(entry["data"], name):
                    out.append(document.problem(("scripting", "hooks", kind, i, "data"), message))
    for kind in ("predelivery", "postdelivery"):
        if isinstance(hooks.get(kind), str):
            for message in hsl.syntax_errors(hooks[kind], "hooks/queue/%s.hsl" % (kind,)):
                out.append(document.problem(("scripting", "hooks", kind), message))
    for path, entry in files:
        entry = _dict(entry)
        ident = entry.get("id")
        if isinstance(ident, str) and ident.endswith(".hsl") and not entry.get("binary") and isinstance(entry.get("data"), str):
            for message in hsl.syntax_errors(entry["data"], ident):
                out.append(document.problem(path + ("data",), message))
    return out


# -- smtpd-policy.yaml, smtpd-suspend.yaml, smtpd-delivery.yaml ----------------


def _conditions(document, path, condition):
    """Values of a condition (if:, a suspend item) must be valid regexes and networks."""
    out = []
    for field, value in _dict(condition).items():
        if field not in CONDITION_FIELDS:
            continue
        values = value if isinstance(value, list) else [value]
        for j, item in enumerate(values):
            where = path + (field,) + ((j,) if isinstance(value, list) else ())
            if not isinstance(item, str) or item.startswith("@"):
                continue
            if item.startswith("/"):
                problem = _regex_problem(item)
                if problem:
                    out.append(document.problem(where, problem))
            elif field in _NETWORK_FIELDS and not _is_network(item):
                out.append(document.problem(where, "not an IP address or network: %s" % (_q(item),)))
    return out


def _policy(document, startup, lint, local):
    out = []
    for i, policy in _items(document.data.get("policies")):
        for j, condition in _items(_dict(policy).get("conditions")):
            out += _conditions(document, ("policies", i, "conditions", j, "if"), _dict(condition).get("if"))
    return out


def _suspend(document, startup, lint, local):
    out = []
    for i, item in _items(document.data.get("suspends")):
        out += _conditions(document, ("suspends", i), item)
    return out


def _delivery(document, startup, lint, local):
    out = []
    for i, condition in _items(_dict(document.data.get("delivery")).get("conditions")):
        out += _conditions(document, ("delivery", "conditions", i, "if"), _dict(condition).get("if"))
    return out


def _regex_problem(text):
    end = text.rfind("/")
    if end <= 0:
        return "a /regex/ needs its closing slash"
    flags = 0
    for letter in text[end + 1 :]:
        if letter not in "imsx":
            return "unknown regex flag %s" % (_q(letter),)
        flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    try:
        re.compile(text[1:end], flags)
    except re.error as e:
        return "bad regular expression: %s" % (e,)
    return None


# -- rated-app.yaml, dlpd-app.yaml ------------------------------------------


def _rated_app(document, startup, lint, local):
    out = []
    for i, peer in _items(document.data.get("peers")):
        if isinstance(peer, str):
            port = None
            if peer.startswith("["):
                host, _, rest = peer[1:].partition("]")
                port = rest[1:] if rest.startswith(":") else None
            elif peer.count(":") == 1:
                port = peer.split(":")[1]
            if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
                out.append(document.problem(("peers", i), "bad port in %s" % (_q(peer),)))
    return out


def _dlpd_app(document, startup, lint, local):
    rules = _items(document.data.get("rules"))
    out, seen = [], {}
    for i, rule in rules:
        rule = _dict(rule)
        ident = rule.get("id", rule.get("name"))
        if isinstance(ident, str):
            if ident in seen:
                out.append(document.problem(("rules", i, "id" if "id" in rule else "name"), "duplicate rule id %s (also at %s)" % (_q(ident), seen[ident])))
            seen.setdefault(ident, format_path(("rules", i)))
        elif "id" not in rule and "name" not in rule:
            out.append(document.problem(("rules", i, "id"), "required field is missing"))
        for field in ("regex", "filename", "mimetype"):
            value = rule.get(field)
            entries = [(None, value)] if isinstance(value, str) else _items(value)
            for j, pattern in entries:
                if isinstance(pattern, str):
                    problem = _dlp_pattern_problem(pattern)
                    if problem:
                        where = ("rules", i, field) + (() if j is None else (j,))
                        out.append(document.problem(where, problem))
        conditions = ("regex", "keywords", "cards", "iban", "filename", "mimetype", "size", "md5hash", "sha1hash", "sha2hash")
        if not any(rule.get(c) for c in conditions):
            out.append(document.problem(("rules", i), "the rule has no condition"))
    return out


def _dlp_pattern_problem(text):
    if len(text) >= 2 and text.startswith("/") and text.rfind("/") > 0 and all(c in "imsx" for c in text[text.rfind("/") + 1 :]):
        return _regex_problem(text)
    try:
        re.compile(text, re.I)
    except re.error as e:
        return "bad regular expression: %s" % (e,)
    return None


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _is_network(text):
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


_CHECKS = {
    "smtpd": _smtpd,
    "smtpd-app": _smtpd_app,
    "smtpd-policy": _policy,
    "smtpd-suspend": _suspend,
    "smtpd-delivery": _delivery,
    "rated-app": _rated_app,
    "dlpd-app": _dlpd_app,
}
