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
        from halon.rated.config import ConfigError, app_path, load_yaml

        try:
            self.startup = load_yaml(self["config"])
            self.app_path = app_path(self.startup, self["config"], DEFAULT_APPCONF)
            self.app = load_yaml(self.app_path, required=False)
        except ConfigError as e:
            raise usage.UsageError(str(e))


def makeService(options):
    from twisted.internet import reactor

    from halon.rated.config import load_yaml
    from halon.stats import Stats

    return build(reactor, options.startup, options.app, Stats(), lambda: load_yaml(options.app_path, required=False))


def build(reactor, startup, app, stats, load_app=None):
    """The rated service for a loaded configuration (also used by `twistd halon`)."""
    from halon.rated.service import RatedService

    return RatedService(reactor, startup, app, stats, load_app)
