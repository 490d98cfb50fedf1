"""
`twistd halon-dlpd`: content scanning on its own.

Reads dlpd.yaml (startup) and the dlpd-app.yaml it names (the rules), and
binds the IPC socket (0600) the dlp() function scans through.
"""

from twisted.python import usage

DEFAULT_CONFIG = "/etc/halon/dlpd.yaml"
DEFAULT_APPCONF = "/etc/halon/dlpd-app.yaml"


class Options(usage.Options):
    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "The startup configuration (dlpd.yaml)."],
    ]

    def postOptions(self):
        from halon.rated.config import ConfigError, app_path, load_yaml

        try:
            self.startup = load_yaml(self["config"])
            self.app_path = app_path(self.startup, self["config"], DEFAULT_APPCONF)
            self.app = load_app(self.app_path)
        except ConfigError as e:
            raise usage.UsageError(str(e))


def makeService(options):
    from twisted.internet import reactor

    from halon.stats import Stats

    return build(reactor, options.startup, options.app, Stats(), lambda: load_app(options.app_path))


def load_app(path):
    """dlpd-app.yaml, its rules checked (errors name the file, the rule and the field)."""
    from halon.dlpd.rules import RuleError, compile_rules
    from halon.rated.config import ConfigError, load_yaml

    app = load_yaml(path, required=False)
    try:
        compile_rules(app.get("rules"), "%s: rules" % (path,))
    except RuleError as e:
        raise ConfigError(str(e))
    return app


def build(reactor, startup, app, stats, load_app=None):
    """The dlpd service for a loaded configuration (also used by `twistd halon`), with its control socket."""
    from halon.control import handlers
    from halon.control.service import configured
    from halon.dlpd.service import DlpdService

    dlpd = DlpdService(reactor, startup, app, stats, load_app)
    control = configured(
        reactor,
        "dlpd",
        startup.get("environment"),
        {"ProcessStats": handlers.process_stats(stats), "ConfigReload": handlers.reload("ConfigReload", dlpd.reload)},
    )
    if control is not None:
        control.setServiceParent(dlpd)
    return dlpd
