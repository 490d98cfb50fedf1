"""
The JSON Schemas of the configuration files, and their errors in words.

Schemas live in C{schemas/} of the source tree (editable installs, tests)
or in C{<prefix>/share/halon/schemas} (installed); C{halonconfig
--schema-dir} and the loaders' C{schema_dir} argument pick another folder.
Each kind of file has one schema, named C{<kind>.schema.json}.

jsonschema's own messages describe the schema ("is not valid under any of
the given schemas"); L{problems} rewrites each error to name the place in
the document and say what was expected there.  A schema may carry the
annotation C{x-expected} ("seconds, or a duration such as 1h30m") to name
what a composite value should look like.
"""

import difflib
import json
import os
import sys
import threading

import jsonschema

_lock = threading.Lock()
_cache = {}


def default_schema_dir():
    """The schemas of this installation: the source tree's, else the installed copy."""
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "schemas")
    for folder in (source, os.path.join(sys.prefix, "share", "halon", "schemas")):
        if os.path.isfile(os.path.join(folder, "smtpd.schema.json")):
            return folder
    return source


def load(kind, schema_dir=None):
    """The schema (a dict) for files of C{kind}, e.g. C{"smtpd-app"}; cached."""
    return _validator(kind, schema_dir).schema


def _validator(kind, schema_dir):
    path = os.path.join(schema_dir or default_schema_dir(), kind + ".schema.json")
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        raise LookupError("no schema for %s files: %s is missing" % (kind, path))
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    validator = cls(schema)
    with _lock:
        _cache[path] = (mtime, validator)
    return validator


def problems(document, kind, schema_dir=None):
    """Every schema violation of C{document} (a L{halon.config.files.Document}) as L{Problem}s."""
    validator = _validator(kind, schema_dir)
    out = []
    for error in validator.iter_errors(document.data):
        out.extend(_explain(document, error, validator.schema))
    return out


def _explain(document, error, root):
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    validator = error.validator
    if validator == "required":
        missing = _quoted_name(error.message)
        return [document.problem(path + (missing,), "required field is missing")]
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((schema.get("properties") or {}).keys())
        out = []
        for key in error.instance:
            if key in known:
                continue
            reason = "unknown field"
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.7)
            if close:
                reason += "; did you mean %s?" % (close[0],)
            elif known:
                reason += " (expected one of: %s)" % (", ".join(sorted(known)),)
            out.append(document.problem(path + (key,), reason))
        return out
    if validator in ("anyOf", "oneOf"):
        branch = _matching_branch(error, root)
        scalar = not isinstance(error.instance, (dict, list))
        if branch is not None and "x-expected" in schema and scalar and all(e.absolute_path == error.absolute_path for e in branch):
            branch = None
        if branch is not None:
            out = []
            for sub in branch:
                out.extend(_explain(document, sub, root))
            return out
        return [document.problem(path, _expected(schema, error.instance))]
    if "propertyNames" in error.relative_schema_path and validator == "enum":
        # The name itself is the instance; jsonschema reports it at the parent's path.
        return [document.problem(path + (error.instance,), "unknown name; %s" % (_enum_text(error.validator_value),))]
    if "x-expected" in schema and validator in ("type", "pattern", "minProperties", "maxProperties"):
        return [document.problem(path, _expected(schema, error.instance))]
    return [document.problem(path, _reason(error))]


def _matching_branch(error, root):
    """
    The errors of the one alternative whose type fits the value (a mapping
    given where "a hook id or {id, recipientdomains}" is allowed is
    explained by the mapping form's errors), or C{None}.
    """
    kind = _json_type(error.instance)
    by_branch = {}
    for sub in error.context or ():
        by_branch.setdefault(sub.schema_path[0], []).append(sub)
    fitting = []
    for index, branch in enumerate(error.validator_value):
        types = _branch_types(resolve(root, branch))
        if kind in types or (kind == "integer" and "number" in types):
            fitting.append(index)
    if len(fitting) == 1 and fitting[0] in by_branch:
        subs = [e for e in by_branch[fitting[0]] if e.validator != "type" or e.absolute_path != error.absolute_path]
        return subs or None
    return None


def _branch_types(branch):
    types = branch.get("type", ())
    return {types} if isinstance(types, str) else set(types)


def resolve(root, schema):
    """
    C{schema} with a local C{$ref} ("#/$defs/name") followed; keywords next
    to the C{$ref} (a default, a description) win over the target's.
    """
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#"):
        target = root
        for part in schema["$ref"][1:].split("/")[1:]:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        merged = dict(target)
        merged.update((k, v) for k, v in schema.items() if k != "$ref")
        if "$ref" not in target:
            merged.pop("$ref", None)
        else:
            merged["$ref"] = target["$ref"]
        schema = merged
        seen += 1
        if seen > 32:
            raise ValueError("$ref loop in schema")
    return schema


def _json_type(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _expected(schema, instance):
    what = schema.get("x-expected") or "a value of another form"
    return "expected %s, got %s" % (what, describe(instance))


def _reason(error):
    v, value, instance = error.validator, error.validator_value, error.instance
    if v == "type":
        types = [value] if isinstance(value, str) else list(value)
        return "expected %s, got %s" % (" or ".join(_TYPE_WORDS.get(t, t) for t in types), describe(instance))
    if v == "enum":
        return "%s, got %s" % (_enum_text(value), describe(instance))
    if v == "const":
        return "expected %s, got %s" % (json.dumps(value), describe(instance))
    if v == "minimum":
        return "must be at least %s, got %s" % (_num(value), describe(instance))
    if v == "maximum":
        return "must be at most %s, got %s" % (_num(value), describe(instance))
    if v == "exclusiveMinimum":
        return "must be more than %s, got %s" % (_num(value), describe(instance))
    if v == "exclusiveMaximum":
        return "must be less than %s, got %s" % (_num(value), describe(instance))
    if v == "minLength":
        return "must not be empty" if value == 1 else "must be at least %d characters long" % (value,)
    if v == "maxLength":
        return "must be at most %d characters long, got %d" % (value, len(instance))
    if v == "minItems":
        return "must have at least %d item%s" % (value, "" if value == 1 else "s")
    if v == "maxItems":
        return "must have at most %d item%s" % (value, "" if value == 1 else "s")
    if v == "uniqueItems":
        return "items must be unique"
    if v == "pattern":
        return "%s does not match the pattern %s" % (describe(instance), value)
    if v == "minProperties":
        return "must not be empty"
    if v == "maxProperties":
        return "must have at most %d field%s" % (value, "" if value == 1 else "s")
    return error.message


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def _enum_text(values):
    return "expected one of %s" % (", ".join(json.dumps(v) for v in values or ()),)


def _num(value):
    return "%d" % value if float(value).is_integer() else "%s" % value


def describe(value):
    """A value as a reason shows it: its kind and, when short, itself."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "the number %s" % (_num(value),)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return "the string %s" % (json.dumps(shown),)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quoted_name(message):
    # jsonschema: "'port' is a required property"
    if message.startswith("'"):
        return message[1 : message.index("'", 1)]
    return message.split(" ", 1)[0]
