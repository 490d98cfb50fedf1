"""
The queue as smtpd runs it, built from the startup and running
configuration:

    smtpd = halon.smtpd.tap.build(reactor, startup, load_app, stats)
    queue = daemon.attach(reactor, smtpd, startup, stats)

L{attach} makes the queue the SMTP server's sink (what it commits accepted
messages to), answers the queue's halonctl calls on the server's control
socket, follows the server's configuration reloads, and starts with it,
after the server has loaded the spool into it.

Scripts reach the queue through the "queue" service
(L{halon.queue.scripting}: queue_quota(), queue_suspend() ...), set in
the delivery hooks' services, which smtpd's hooks share.

The resolver follows C{resolver} of smtpd-app.yaml as it was at start;
transports, limits and the pre- and post-delivery hooks of
C{scripting.hooks} follow every reload (the scripts are compiled again
when the configuration is a new one).  The policy, suspend and delivery
files (environment.policyconf, suspendconf, deliveryconf) are read at
start and by their halonctl reload commands.
"""

from halon.config.defaults import duration
from halon.queue.core import Queue, QueueConfig
from halon.resolver import Resolver


def _nameservers(servers):
    if not servers:
        return None
    out = []
    for server in servers:
        host, port = server, 53
        if server.startswith("["):
            host, _, rest = server[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif server.count(":") == 1:
            host, port = server.split(":")
            port = int(port)
        out.append((host, port))
    return out


def resolver_of(reactor, app, stats):
    conf = app.get("resolver") or {}
    cache = conf.get("cache") or {}
    ttl = cache.get("ttl") or {}
    return Resolver(
        reactor,
        _nameservers(conf.get("servers")),
        cache_size=int(cache.get("size", 10000)),
        ttl_min=float(duration(ttl.get("min", 0))),
        ttl_max=float(duration(ttl.get("max", 86400))),
        timeout=float(duration(conf.get("timeout", 5))),
        concurrency=int(conf.get("concurrency", 100)),
        stats=stats,
    )


def build(reactor, startup, app, stats, control=None, hooks=None):
    """The L{Queue} of a daemon; a bad policy, suspend or delivery file raises (ConfigError or ValueError)."""
    environment = startup.get("environment") or {}
    spool_path = (environment.get("spool") or {}).get("path", "/var/spool/halon/queue")
    if hooks is None:
        from halon.queue import hsl

        hooks = hsl.build(reactor, app, startup, stats)
    queue = Queue(reactor, spool_path, stats, resolver_of(reactor, app, stats), QueueConfig(app, startup), hooks=hooks)
    services = getattr(hooks, "services", None)
    if services is not None:
        from halon.queue.scripting import QueueScriptService

        # smtpd's hooks share this mapping (halon.smtpd.tap), so their
        # scripts reach the queue too.
        services["queue"] = QueueScriptService(queue, reactor)
    for kind in ("policy", "suspend", "delivery"):
        queue.reload_file(kind)
    if control is not None:
        from halon.queue.control import register

        register(control, queue)
    return queue


def attach(reactor, smtpd, startup, stats, hooks=None):
    """Build the queue for C{smtpd} (a L{halon.smtpd.service.SMTPDService}) and plug it in."""
    queue = build(reactor, startup, smtpd.app.prepared.app, stats, getattr(smtpd, "control", None), hooks)
    queue.follow(lambda: smtpd.app.prepared.app, startup)
    smtpd.sink = smtpd.committer.sink = queue
    queue.setServiceParent(smtpd)
    return queue


def reconfigure(queue, startup, app):
    """A reloaded smtpd-app.yaml: new transports, limits and delivery scripts; queued state, policies and suspends stay."""
    queue.configure(QueueConfig(app, startup))
