"""
Configuration files: loading, validating against schemas/, defaults.

Programs read their YAML only through this package::

    from halon.config import ConfigError, load_startup, load_running

    startup = load_startup("smtpd", "/etc/halon/smtpd.yaml")
    app = load_running("smtpd-app", startup["environment"]["appconf"], startup=startup)
    policy = load_running("smtpd-policy", startup["environment"]["policyconf"], missing_ok=True)

What comes back is a plain dict (lists, str, int, float, bool) with the
shape of the file, after three steps:

1. the file is valid YAML, valid against C{schemas/<kind>.schema.json},
   and passes the checks a schema cannot express (unique ids; hooks,
   transports, certificates and listeners that are referenced exist; regexes
   and networks parse; every hook script and C{.hsl} file compiles);
2. every field with a default in the schema is present: a missing
   C{environment.spool.path} is C{"/var/spool/halon/queue"}, a missing
   C{servers[].phases} is C{{}}, a transport group without C{retry} gets
   count 30 and intervals 60/900/3600(notify)/7200/10800;
3. values are in one form: durations (C{timeout.idle: 5m}) are seconds,
   sizes (C{phases.data.maxsize: 50MiB}) are bytes, and relative paths
   are absolute, taken from the folder of the file that holds them.

Fields without a default stay absent when the file leaves them out (for
example C{environment.privdrop}: no privilege drop).  docs/config.md
lists every field and its default.

Problems are raised together as one L{ConfigError}: C{.problems} is a list
of L{Problem} (C{file}, C{path} such as C{servers[0].listeners[1].port},
C{reason}) and C{str()} is one line per problem, C{file: path: reason}
(C{file:line:column: reason} for YAML syntax errors).

Daemons reload their running configuration through L{Reloadable}, which
keeps the current configuration when the new one has problems.
L{embedded.write_default} writes the configuration `twistd halon` starts
with when there is none.
"""

from halon.config.errors import ConfigError, Problem, format_path
from halon.config.loader import KINDS, RUNNING, STARTUP, check, load_running, load_startup, parse_running
from halon.config.reload import Reloadable
from halon.config.schema import default_schema_dir

__all__ = [
    "ConfigError",
    "KINDS",
    "Problem",
    "RUNNING",
    "Reloadable",
    "STARTUP",
    "check",
    "default_schema_dir",
    "format_path",
    "load_running",
    "load_startup",
    "parse_running",
]
