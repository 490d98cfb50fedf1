"""
`twistd halon-httprd`: background http() requests on their own.

Reads httprd.yaml and binds the IPC socket smtpd queues requests on.
"""

from twisted.python import usage

DEFAULT_CONFIG = "/etc/halon/httprd.yaml"


class Options(usage.Options):
    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "The startup configuration (httprd.yaml)."],
    ]

    def postOptions(self):
        from halon.rated.config import ConfigError, load_yaml

        try:
            self.startup = load_yaml(self["config"])
        except ConfigError as e:
            raise usage.UsageError(str(e))


def makeService(options):
    from twisted.internet import reactor

    from halon.stats import Stats

    return build(reactor, options.startup, Stats())


def build(reactor, startup, stats):
    """The httprd service for a loaded configuration (also used by `twistd halon`)."""
    from halon.httprd.service import HttprdService

    return HttprdService(reactor, startup, stats)
