"""
Turning a valid document into what programs read: defaults filled in and
values in one form.

The schema is the single source of defaults: a property with a C{default}
keyword that the file leaves out gets a copy of it (objects with
C{"default": {}} are created, so their own defaults apply too).  Values
whose schema has a C{format} are normalised:

- C{duration}: C{90}, C{"90"}, C{"1h30m"}, C{"2d"} -> seconds (int, or
  float for fractions);
- C{size}: C{1048576}, C{"1MiB"}, C{"50MiB"} -> bytes (int);
- C{path}: relative paths are taken from the folder of the file they are
  written in, so a configuration folder can be moved as a whole.

Only called on documents the schema accepted.
"""

import copy
import os
import re

from halon.config.schema import resolve

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")
_SIZE = re.compile(r"^(\d+)(TiB|GiB|MiB|KiB|B)?$")
_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def complete(data, schema, base_dir):
    """A deep copy of C{data} with defaults and normalised values (see the module docstring)."""
    return _walk(schema, copy.deepcopy(data), schema, base_dir)


def _walk(schema, value, root, base_dir):
    schema = resolve(root, schema)
    if not isinstance(schema, dict):
        return value
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            branch = _branch_for(schema[keyword], value, root)
            if branch is not None:
                value = _walk(branch, value, root, base_dir)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name, sub in properties.items():
            sub_resolved = resolve(root, sub)
            if name not in value:
                if isinstance(sub_resolved, dict) and "default" in sub_resolved:
                    value[name] = copy.deepcopy(sub_resolved["default"])
                else:
                    continue
            value[name] = _walk(sub, value[name], root, base_dir)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in value:
                if name not in properties:
                    value[name] = _walk(extra, value[name], root, base_dir)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [_walk(schema["items"], item, root, base_dir) for item in value]
    return _format(schema.get("format"), value, base_dir)


def _branch_for(branches, value, root):
    for branch in branches:
        types = resolve(root, branch).get("type", ())
        types = {types} if isinstance(types, str) else set(types)
        if _fits(value, types):
            return branch
    return None


def _fits(value, types):
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return "integer" in types or "number" in types
    if isinstance(value, float):
        return "number" in types
    if isinstance(value, str):
        return "string" in types
    if isinstance(value, list):
        return "array" in types
    if isinstance(value, dict):
        return "object" in types
    return "null" in types


def _format(name, value, base_dir):
    if name == "duration":
        return duration(value)
    if name == "size":
        return size(value)
    if name == "path" and isinstance(value, str) and value and base_dir is not None:
        return os.path.normpath(os.path.join(base_dir, value))
    return value


def duration(value):
    """Seconds from a number or a C{?d?h?m?s} string (the schema already checked the form)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    match = _DURATION.match(str(value))
    if not match:
        return value
    days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
    if seconds:
        total += float(seconds) if "." in seconds else int(seconds)
    return total


def size(value):
    """Bytes from a number or a C{?(TiB|GiB|MiB|KiB|B)} string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        return value
    return int(match.group(1)) * _UNITS[match.group(2)]
