"""
`twistd halon-smtpd`: the SMTP server on its own.

    twistd -n halon-smtpd --config /etc/halon/smtpd.yaml

Reads smtpd.yaml (startup) and the smtpd-app.yaml it names (running);
a configuration with problems stops the start with every problem listed
and exit status 1, as Halon's "Could not load configuration" does.
"""

import sys

from twisted.python import usage

import halon

DEFAULT_CONFIG = "/etc/halon/smtpd.yaml"


class Options(usage.Options):
    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "The startup configuration (smtpd.yaml)."],
    ]


def fail(message, out=None):
    """Say why the configuration cannot be used, Halon's way, and stop."""
    out = out or sys.stderr
    out.write("smtpd: Starting Halon (%s)\n" % (halon.__version__,))
    lines = str(message).splitlines() or [""]
    for line in lines:
        out.write("smtpd: Could not load configuration: %s\n" % (line,))
    out.flush()
    raise SystemExit(1)


def load(config_path):
    """(startup dict, loader of the running configuration) or L{fail}."""
    from halon.config import ConfigError, load_running, load_startup

    try:
        startup = load_startup("smtpd", config_path)
    except ConfigError as e:
        fail(e)
    appconf = startup["environment"]["appconf"]

    def load_app():
        return load_running("smtpd-app", appconf, startup=startup)

    return startup, load_app


def build(reactor, startup, load_app, stats, sink=None, config_path=None):
    """
    The smtpd service for a loaded startup configuration (also used by
    `twistd halon`); with C{config_path} (smtpd.yaml), also the worker
    processes of C{environment.workers}.
    """
    from halon.smtpd.control import control_service

    smtpd, hooks = _service(reactor, startup, load_app, stats, sink=sink)
    control = control_service(reactor, startup, smtpd, stats)
    if control is not None:
        control.setServiceParent(smtpd)
    if sink is None:
        from halon.queue import daemon

        queue_hooks = None
        if hooks is not None:
            from halon.queue import hsl as queue_hsl

            # The delivery hooks see the same services as smtpd's (rate, http, dns ...).
            queue_hooks = queue_hsl.build(reactor, smtpd.app.prepared.app, startup, stats, services=hooks.services)
        queue = daemon.attach(reactor, smtpd, startup, stats, hooks=queue_hooks)
        if hooks is not None:
            hooks.services.update(_mailauth_services(reactor, queue.resolver, smtpd))
        count = startup.get("environment", {}).get("workers", 0)
        if count and config_path is not None:
            from halon.smtpd.workers import Workers

            def known(uuid):
                return uuid in queue.index.messages

            services = hooks.services if hooks is not None else None
            workers = Workers(reactor, smtpd, config_path, count, known, stats, services)
            smtpd.reload_listeners.append(workers.reload)
            workers.setServiceParent(smtpd)
    if hooks is not None and control is not None:
        _script_state_handlers(control, hooks, smtpd)
    return smtpd


def build_worker(reactor, startup, load_app, stats, link, fds, queue_service):
    """
    smtpd in a worker process (L{halon.smtpd.worker}): the SMTP servers on
    inherited sockets, spooling to C{link}; scripts reach the main
    process's queue through C{queue_service}.
    """
    from halon.queue.daemon import resolver_of

    smtpd, hooks = _service(reactor, startup, load_app, stats, sink=link, inherited=fds)
    if hooks is not None:
        hooks.services["queue"] = queue_service
        resolver = resolver_of(reactor, smtpd.app.prepared.app, stats)
        hooks.services.update(_mailauth_services(reactor, resolver, smtpd))
    return smtpd


def _service(reactor, startup, load_app, stats, **options):
    """
    (smtpd service, its HSL hooks or None), the hooks reaching the server,
    metrics, rated, httprd and dlpd; a configuration with problems is
    L{fail}ed.
    """
    from halon.clients import script_services
    from halon.config import ConfigError
    from halon.metrics import script_metrics
    from halon.smtpd.service import SMTPDService

    hooks = hooks_factory(reactor)
    if hooks is not None:
        hooks.startup_scripting = startup.get("scripting", {})
    try:
        smtpd = SMTPDService(reactor, startup, load_app, stats, hooks_factory=hooks, **options)
    except ConfigError as e:
        fail(e)
    if hooks is not None:
        hooks.services["smtpd"] = smtpd
        hooks.services["metrics"] = script_metrics(stats)
        hooks.services.update(script_services(reactor, startup))
    return smtpd, hooks


def _mailauth_services(reactor, resolver, smtpd):
    """dns_query, spf_query and DKIM for hooks, on the given cached resolver; DKIM keys from the running pki.private."""
    from halon.mailauth.service import script_services

    return script_services(reactor, resolver, lambda: smtpd.app.prepared.keys)


def _script_state_handlers(control, hooks, smtpd):
    """halonctl hsl memory and hsl cache on the running configuration's script host."""
    from halon.control import handlers
    from halon.hsl.stdlib.memory import memory_of

    def host():
        return hooks.host_for(smtpd.app.prepared.app)

    for name, handler in dict(handlers.memory(lambda: memory_of(host())), **handlers.cache(host)).items():
        control.register(name, handler)


def hooks_factory(reactor):
    """The HSL hooks when the language is installed, else None (the built-in policy)."""
    import halon.hsl

    if not hasattr(halon.hsl, "compile_program"):
        return None
    from halon.smtpd.hsl import HSLHooksFactory

    return HSLHooksFactory(reactor)


def makeService(options):
    from twisted.internet import reactor

    from halon.stats import Stats

    startup, load_app = load(options["config"])
    return build(reactor, startup, load_app, Stats(), config_path=options["config"])
