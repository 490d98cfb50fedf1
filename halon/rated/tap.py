"""
`twistd halon-rated`: the rate() daemon on its own.

Reads rated.yaml (startup) and the rated-app.yaml it names (running, the
cluster peers), binds the IPC socket rate() uses and the UDP sync socket.
"""

from twisted.python import usage

DEFAULT_CONFIG = "/etc/halon/rated.yaml"
DEFAULT_APPCONF = "/etc/halon/rated-app.yaml"


class Options(usage.Options):
    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "The startup configuration (rated.yaml)."],
    ]

    def postOptions(self):
        from halon.config import ConfigError as SchemaError
        from halon.rated.config import ConfigError, app_path, load_yaml

        try:
            self.startup = load_yaml(self["config"])
            self.app_path = app_path(self.startup, self["config"], DEFAULT_APPCONF)
            self.app = load_app(self.app_path)
        except (ConfigError, SchemaError) as e:
            raise usage.UsageError(str(e))


def makeService(options):
    from twisted.internet import reactor

    from halon.stats import Stats

    return build(reactor, options.startup, options.app, Stats(), lambda: load_app(options.app_path))


def load_app(path):
    """rated-app.yaml checked against its schema (a bad peer is refused with file, path and reason); {} when absent."""
    from halon.config import load_running

    return load_running("rated-app", path, missing_ok=True)


def build(reactor, startup, app, stats, load_app=None):
    """The rated service for a loaded configuration (also used by `twistd halon`), with its control socket."""
    from halon.control import handlers
    from halon.control.service import configured
    from halon.rated.service import RatedService

    rated = RatedService(reactor, startup, app, stats, load_app)
    control = configured(
        reactor,
        "rated",
        startup.get("environment"),
        {
            "ProcessStats": handlers.process_stats(stats),
            "ConfigReload": handlers.reload("ConfigReload", rated.reload),
            "HSLRateList": handlers.rates_list(rated.rates_list),
            "HSLRateClear": handlers.rates_clear(rated.rates_clear),
        },
    )
    if control is not None:
        control.setServiceParent(rated)
    return rated
