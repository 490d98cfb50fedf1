"""
Reading the helper daemons' YAML files (rated, httprd, dlpd): startup and
running configuration, with errors that name the file and the reason.

Relative paths inside a startup file (environment.appconf) are taken from
the file's own folder, so a configuration folder can be moved as a whole.
"""

import os

import yaml


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says which and why."""


def load_yaml(path, required=True):
    """The mapping in C{path}; {} for a missing optional file."""
    try:
        with open(path, "rb") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        if not required:
            return {}
        raise ConfigError("%s: no such file" % (path,))
    except OSError as e:
        raise ConfigError("%s: %s" % (path, e.strerror))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = "" if mark is None else ":%d:%d" % (mark.line + 1, mark.column + 1)
        raise ConfigError("%s%s: not valid YAML: %s" % (path, where, getattr(e, "problem", None) or e))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("%s: the top level must be a mapping" % (path,))
    return data


def app_path(startup, startup_path, default):
    """environment.appconf of a startup file, relative to its folder."""
    path = (startup.get("environment") or {}).get("appconf", default)
    return os.path.join(os.path.dirname(os.path.abspath(startup_path)), path)
