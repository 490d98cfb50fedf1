"""
Reloading a running configuration without ever running a broken one.

C{halonctl config reload} (and the queue's policy/suspend/delivery reloads)
go through L{Reloadable.reload}: the new file is loaded and checked
completely, then prepared by the daemon (hooks compiled, certificates
read), and only when all of that succeeded does it replace the current
one.  A bad file changes nothing and its problems go back to the caller.
"""

from halon.config.errors import ConfigError
from halon.config.loader import load_running


class Reloadable:
    """
    The current configuration of one file, replaced in one step.

    @param load: called with no arguments, returns a configuration dict or
        raises L{ConfigError}.
    @param prepare: optional, called with a loaded configuration, returns
        what the daemon works from (compiled hooks, TLS contexts ...) or
        raises L{ConfigError} to refuse it.  Without it, the configuration
        dict itself is what is prepared.
    @param on_change: optional, called as C{on_change(new, old)} with the
        prepared values after a successful swap (to release old resources).

    The first load happens in the constructor and raises L{ConfigError}: a
    program does not start with a configuration it cannot use.
    """

    def __init__(self, load, prepare=None, on_change=None):
        self._load = load
        self._prepare = prepare or (lambda config: config)
        self._on_change = on_change
        config = load()
        self._state = (config, self._prepare(config), 0)

    @classmethod
    def from_file(cls, kind, path, startup=None, schema_dir=None, missing_ok=False, prepare=None, on_change=None):
        """A L{Reloadable} that loads C{path} as a running configuration of C{kind}."""

        def load():
            return load_running(kind, path, startup=startup, schema_dir=schema_dir, missing_ok=missing_ok)

        return cls(load, prepare, on_change)

    @property
    def config(self):
        """The current configuration dict."""
        return self._state[0]

    @property
    def prepared(self):
        """What C{prepare} made of the current configuration."""
        return self._state[1]

    @property
    def generation(self):
        """0 for the configuration loaded at start, +1 for each successful reload."""
        return self._state[2]

    def reload(self):
        """
        Load, check and prepare the file again; swap it in when all of that
        succeeded.  Returns the problems that kept it out (a list of
        L{halon.config.errors.Problem}), empty when the new configuration is
        now current.
        """
        try:
            config = self._load()
            prepared = self._prepare(config)
        except ConfigError as e:
            return e.problems
        old = self._state[1]
        self._state = (config, prepared, self._state[2] + 1)
        if self._on_change is not None:
            self._on_change(prepared, old)
        return []
