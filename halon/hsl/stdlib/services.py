"""
Functions whose work is done by a daemon's service: each hands its HSL
arguments, as the script gave them, to the method of the same name on
C{host.service(name, function)}, on the script's thread, and returns what
the method returns (docs/internals.md).  Where the host lacks the service
the call is a positioned "not available here" error, so a script that
never calls it runs anywhere.

    service    functions
    resolver   dns_query
    http       http
    spf        spf_query
    smtp       smtp_lookup_rcpt, smtp_lookup_auth
    smtpd      server_concurrency
    queue      queue_suspend, queue_policy, queue_policy_delete, queue_quota
    metrics    metrics_increment, metrics_decrement, metrics_set, metrics_get
"""

import inspect

from halon.hsl.stdlib import core

__all__ = ["DELEGATED"]

# name: (service, required parameters, optional parameters), from functions.json.
DELEGATED = {
    "dns_query": ("resolver", ["host"], ["options"]),
    "http": ("http", ["url"], ["options", "get", "post"]),
    "spf_query": ("spf", ["ip", "helo", "sender"], []),
    "smtp_lookup_rcpt": ("smtp", ["server", "sender", "recipient"], ["options"]),
    "smtp_lookup_auth": ("smtp", ["server", "username", "password"], []),
    "server_concurrency": ("smtpd", ["serverid"], ["address"]),
    "queue_suspend": ("queue", ["fields", "ttl"], ["options"]),
    "queue_policy": ("queue", ["fields", "condition", "policy", "ttl"], ["options"]),
    "queue_policy_delete": ("queue", ["id"], []),
    "queue_quota": ("queue", ["name"], []),
    "metrics_increment": ("metrics", ["name", "labels"], ["value"]),
    "metrics_decrement": ("metrics", ["name", "labels"], ["value"]),
    "metrics_set": ("metrics", ["name", "labels", "value"], []),
    "metrics_get": ("metrics", ["name", "labels"], []),
}


def _delegator(name, service, required, optional):
    def call(host, *args):
        return getattr(host.service(service, name), name)(*args)

    P = inspect.Parameter
    params = [P("host_", P.POSITIONAL_ONLY)]
    params += [P(p, P.POSITIONAL_ONLY) for p in required]
    params += [P(p, P.POSITIONAL_ONLY, default=None) for p in optional]
    call.__signature__ = inspect.Signature(params)
    call.__name__ = call.__qualname__ = name
    call.__doc__ = "%s(): delegated to the %r service." % (name, service)
    return call


for _name, (_service, _required, _optional) in DELEGATED.items():
    globals()[_name] = core.function(_name, host=True)(_delegator(_name, _service, _required, _optional))
