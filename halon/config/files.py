"""
Reading YAML configuration files with positions.

The document is composed into nodes first, so that each value's line and
column are known: problems found later (schema, cross-references) are
ordered as they appear in the file, and duplicate keys, which YAML loaders
silently collapse, are reported.  C{!Env "${NAME:default}"} values are
replaced from the environment, as Halon does.
"""

import os
import re

import yaml

from halon.config.errors import ConfigError, Problem, format_path

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class _Loader(yaml.SafeLoader):
    """SafeLoader plus the !Env tag."""


def _construct_env(loader, node):
    text = loader.construct_scalar(node)
    missing = []

    def replace(match):
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            missing.append(name)
            return ""
        return default

    value = _ENV.sub(replace, text)
    if missing:
        raise yaml.constructor.ConstructorError(
            None, None, "environment variable %s is not set and has no default" % (missing[0],), node.start_mark
        )
    # A whole-value replacement may be a number or boolean ("${PORT:25}").
    if _ENV.fullmatch(text):
        resolved = yaml.safe_load(value) if value else value
        if isinstance(resolved, (int, float, bool)):
            return resolved
    return value


_Loader.add_constructor("!Env", _construct_env)


class Document:
    """
    A parsed file: C{data} (plain Python values), C{positions} (a map from
    path tuples to 1-based (line, column) of each value) and C{base_dir},
    the folder relative paths in it are taken from (C{None}: not a file).
    """

    def __init__(self, file, data, positions, base_dir=None):
        self.file = file
        self.data = data
        self.positions = positions
        self.base_dir = base_dir

    def position(self, path):
        """The position of C{path}, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (None, None))

    def problem(self, path, reason):
        line, column = self.position(path)
        return Problem(self.file, format_path(path), reason, line, column)


def parse(text, file, base_dir=None):
    """A L{Document} from YAML text; L{ConfigError} on syntax errors and duplicate keys."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError([Problem(file, None, "not valid UTF-8 (byte %d)" % (e.start,))])
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        positions, problems = {}, []
        if node is not None:
            _index(node, (), positions, problems, file)
        if problems:
            raise ConfigError(problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        reason = "not valid YAML: %s" % (getattr(e, "problem", None) or e,)
        if mark is None:
            raise ConfigError([Problem(file, None, reason)])
        raise ConfigError([Problem(file, None, reason, mark.line + 1, mark.column + 1)])
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, "(top)", "expected a mapping of settings, got %s" % (_kind(data),), 1, 1)])
    return Document(file, data, positions, base_dir)


def read(path, display=None):
    """The L{Document} in file C{path}; C{display} is the name problems use (default C{path})."""
    display = path if display is None else display
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError([Problem(display, None, "no such file")])
    except OSError as e:
        raise ConfigError([Problem(display, None, e.strerror or str(e))])
    return parse(text, display, os.path.dirname(os.path.abspath(path)))


def _index(node, path, positions, problems, file):
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(
                        file,
                        format_path(path + (key,)),
                        "duplicate key (first on line %d)" % (seen[key],),
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                )
                continue
            seen[key] = key_node.start_mark.line + 1
            _index(value_node, path + (key,), positions, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), positions, problems, file)


def _kind(value):
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def dump(data):
    """YAML text for a configuration, keys in the order given, long strings as blocks."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (scripts) as literal blocks, so dist/ files stay readable."""


def _represent_str(dumper, value):
    # The emitter falls back to a quoted style when a block cannot carry
    # the value exactly (trailing spaces, control characters).
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
