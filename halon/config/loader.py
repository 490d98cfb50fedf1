"""
Loading a configuration file: parse, validate against its schema, check
what the schema cannot, then fill in defaults.  All problems of a file
are collected and raised together as one L{ConfigError}.
"""

import os

from halon.config import defaults, files, schema, semantic
from halon.config.errors import ConfigError

STARTUP = {
    "smtpd": "/etc/halon/smtpd.yaml",
    "rated": "/etc/halon/rated.yaml",
    "httprd": "/etc/halon/httprd.yaml",
    "dlpd": "/etc/halon/dlpd.yaml",
}

RUNNING = {
    "smtpd-app": "/etc/halon/smtpd-app.yaml",
    "smtpd-policy": "/etc/halon/smtpd-policy.yaml",
    "smtpd-suspend": "/etc/halon/smtpd-suspend.yaml",
    "smtpd-delivery": "/etc/halon/smtpd-delivery.yaml",
    "rated-app": "/etc/halon/rated-app.yaml",
    "dlpd-app": "/etc/halon/dlpd-app.yaml",
}

KINDS = tuple(STARTUP) + tuple(RUNNING)


def load_startup(program, path=None, schema_dir=None):
    """
    The startup configuration of C{program} ("smtpd", "rated", "httprd",
    "dlpd") from C{path} (default C{/etc/halon/<program>.yaml}), as a plain
    dict with defaults applied.  Raises L{ConfigError}.
    """
    if program not in STARTUP:
        raise ValueError("unknown program %r (expected one of %s)" % (program, ", ".join(STARTUP)))
    return _load(program, path or STARTUP[program], schema_dir=schema_dir)


def load_running(kind, path=None, startup=None, schema_dir=None, missing_ok=False, check_hsl=True):
    """
    A running configuration of C{kind} ("smtpd-app", "smtpd-policy",
    "smtpd-suspend", "smtpd-delivery", "rated-app", "dlpd-app") from
    C{path} (default C{/etc/halon/<kind>.yaml}), as a plain dict with
    defaults applied.  Raises L{ConfigError}.

    @param startup: the loaded smtpd.yaml, to check smtpd-app.yaml against
        it (servers it listens for, listener ids in C{tls.implicit}).
    @param missing_ok: a missing file is an empty one (for the policy,
        suspend and delivery files, which deployments often leave out).
    @param check_hsl: compile the hook scripts and C{.hsl} files.
    """
    if kind not in RUNNING:
        raise ValueError("unknown running configuration %r (expected one of %s)" % (kind, ", ".join(RUNNING)))
    path = path or RUNNING[kind]
    if missing_ok and not os.path.exists(path):
        document = files.parse(b"", path, os.path.dirname(os.path.abspath(path)))
        return _finish(kind, document, startup, schema_dir, check_hsl)
    return _load(kind, path, startup, schema_dir, check_hsl)


def parse_running(kind, text, name="<config>", base_dir=None, startup=None, schema_dir=None, check_hsl=True):
    """
    Like L{load_running}, for configuration text that is not in a file (a
    live-stage deployment); C{name} is the file name problems show and
    C{base_dir} the folder relative paths are taken from (default: the
    current directory).
    """
    if kind not in KINDS:
        raise ValueError("unknown configuration kind %r" % (kind,))
    document = files.parse(text, name, base_dir or os.getcwd())
    return _finish(kind, document, startup, schema_dir, check_hsl)


def check(kind, document, startup=None, schema_dir=None, check_hsl=True, local=True):
    """
    Every problem of a parsed document (schema and semantic), in file
    order.  C{local}: also check that files it names exist here.
    """
    problems = schema.problems(document, kind, schema_dir)
    problems += semantic.check(kind, document, startup, check_hsl, local)
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def _load(kind, path, startup=None, schema_dir=None, check_hsl=True):
    return _finish(kind, files.read(path), startup, schema_dir, check_hsl)


def _finish(kind, document, startup, schema_dir, check_hsl):
    problems = check(kind, document, startup, schema_dir, check_hsl)
    if problems:
        raise ConfigError(problems)
    return defaults.complete(document.data, schema.load(kind, schema_dir), document.base_dir)
