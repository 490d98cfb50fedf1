"""
The field reference of every configuration file, written from the JSON
Schemas that validate them, so the manual cannot drift from what is
checked:

    python -m halon.config.reference > docs/reference.md

tests/config/test_reference.py fails when the committed page differs.
"""

import json
import os
import sys

from halon.config.schema import default_schema_dir

ORDER = [
    "smtpd",
    "smtpd-app",
    "smtpd-policy",
    "smtpd-suspend",
    "smtpd-delivery",
    "rated",
    "rated-app",
    "httprd",
    "dlpd",
    "dlpd-app",
]


def _resolve(schema, root, seen=()):
    """C{schema} with its C{$ref} followed (the referring schema's own keys win)."""
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            break
        seen = seen + (ref,)
        target = root
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        schema = dict(target, **{k: v for k, v in schema.items() if k != "$ref"})
    return schema


def _type(schema, root):
    schema = _resolve(schema, root)
    if "x-expected" in schema:
        return schema["x-expected"]
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        items = schema.get("items")
        return "list of " + (_type(items, root) if items else "values")
    if kind:
        return kind
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s, root) for s in schema[key])
    return "any"


def _rows(schema, root, path, out, depth=0):
    schema = _resolve(schema, root)
    if depth > 8:
        return
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    for name, sub in properties.items():
        sub_resolved = _resolve(sub, root)
        here = "%s.%s" % (path, name) if path else name
        notes = []
        if name in required:
            notes.append("required")
        if "default" in sub_resolved and sub_resolved["default"] not in ({}, []):
            notes.append("default %s" % json.dumps(sub_resolved["default"]))
        description = sub_resolved.get("description", "")
        out.append((here, _type(sub, root), "; ".join(notes), description))
        _rows(sub_resolved, root, here, out, depth + 1)
        items = sub_resolved.get("items")
        if sub_resolved.get("type") == "array" and isinstance(items, dict):
            _rows(items, root, here + "[]", out, depth + 1)


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(schema_dir=None):
    lines = [
        "# Configuration reference",
        "",
        "Every field of every configuration file, as the JSON Schemas in `schemas/` define",
        "and check them (this page is generated from them: `python -m halon.config.reference`).",
        "How the files are loaded, reloaded and reported on is in [config.md](config.md).",
    ]
    for name in ORDER:
        path = os.path.join(schema_dir or default_schema_dir(), name + ".schema.json")
        with open(path) as f:
            schema = json.load(f)
        lines += ["", "## %s.yaml" % (name,), ""]
        if schema.get("description"):
            lines += [schema["description"], ""]
        rows = []
        _rows(schema, schema, "", rows)
        lines.append("| field | type | | description |")
        lines.append("|-------|------|-|-------------|")
        for field, kind, notes, description in rows:
            lines.append("| `%s` | %s | %s | %s |" % (field, _cell(kind), _cell(notes), _cell(description)))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
