"""
Data formats: JSON, CSV and YAML.

JSON goes straight between HSL values and bytes in the C accelerator
halon/hsl/_jsonspeedups.c when it is built (a 1 MB document takes 10 to
20 ms each way, as Python's own codec does); without it, or for values
it does not know, through Python's codec with a conversion pass on either
side, which is the reference for what the accelerator must give.  Arrays
keyed 0, 1, ... n-1 encode as JSON arrays, other arrays as objects (number
keys become strings); JSON strings must be UTF-8.
Anything that cannot be represented (nan, objects, functions, bytes that
are not UTF-8) makes json_encode() return none, as does malformed input to
the decoders.
"""

import contextlib
import csv
import datetime
import gc
import io
import json
import re

import yaml

from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import array, fail, options, string
from halon.hsl.values import HSLArray, INDEXES, format_number, norm_key, to_bytes, truthy

__all__ = ["to_python", "from_python"]

try:
    from halon.hsl import _jsonspeedups as accelerator
except ImportError:  # built without a C compiler
    accelerator = None

_COMMENTS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
_NUMBER = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*\Z")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# -- JSON ----------------------------------------------------------------------


def to_python(value):
    """
    An HSL value as JSON-ready Python (str, int, float, list, dict, bool,
    None).  ValueError when it has no JSON form.
    """
    t = value.__class__
    if t is HSLArray:
        return _array_to_python(value)
    if t is bytes:
        return value.decode("utf-8")
    if t is float:
        if value.is_integer():
            return int(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("%s has no JSON form" % value)
        return value
    if value is None or t is bool or t is int or t is str:
        return value
    raise ValueError("a %s has no JSON form" % type(value).__name__)


def _array_to_python(a):
    # Strings and integral numbers, nearly all of a document, are converted
    # inline; a non-finite float is left for json.dumps (allow_nan=False) to
    # refuse.
    if a.is_list():
        return [
            v.decode("utf-8")
            if (t := v.__class__) is bytes
            else (int(v) if v.is_integer() else v)
            if t is float
            else to_python(v)
            for v in a._d.values()
        ]
    return {
        (k.decode("utf-8") if k.__class__ is bytes else format_number(k).decode("ascii")): (
            v.decode("utf-8")
            if (t := v.__class__) is bytes
            else (int(v) if v.is_integer() else v)
            if t is float
            else to_python(v)
        )
        for k, v in a._d.items()
    }


def from_python(value):
    """Decoded JSON/YAML (Python values) as HSL values."""
    t = type(value)
    if t is str:
        return value.encode("utf-8", "surrogatepass")
    if t is float or t is bool or value is None:
        return value
    if t is int:
        return float(value)
    if t is list or t is tuple:
        return HSLArray.from_list([v.encode("utf-8", "surrogatepass") if type(v) is str else from_python(v) for v in value])
    if t is dict:
        return HSLArray.from_pairs(
            [
                (
                    k.encode("utf-8", "surrogatepass") if type(k) is str and k[:1] not in _NUMERIC_START else norm_key(_key(k)),
                    v.encode("utf-8", "surrogatepass") if type(v) is str else from_python(v),
                )
                for k, v in value.items()
            ]
        )
    if t is bytes:
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat().encode("ascii")
    if t is set:
        return HSLArray.from_list([from_python(v) for v in value])
    raise ValueError("cannot represent %s" % t.__name__)


# A JSON key that may be a canonical integer ("12", "-3") starts with one of these.
_NUMERIC_START = frozenset("-0123456789") | {""}


def _key(k):
    t = type(k)
    if t is str:
        return k.encode("utf-8", "surrogatepass")
    if t is int or t is float or t is bool:
        return float(k) if t is not bool else k
    if k is None:
        return b""
    return to_bytes(from_python(k))


def _no_constants(name):
    raise ValueError("%s is not JSON" % name)


@core.function()
def json_encode(value, options_=None):
    opts = options("json_encode", options_, {"ensure_ascii", "pretty_print"})
    ensure_ascii = truthy(opts.get("ensure_ascii", True))
    pretty = truthy(opts.get("pretty_print", False))
    try:
        if accelerator is not None:
            text = accelerator.encode(value, ensure_ascii, pretty)
            if text is not NotImplemented:
                return text
        with _no_cyclic_gc():
            data = to_python(value)
        text = json.dumps(
            data,
            ensure_ascii=ensure_ascii,
            allow_nan=False,
            indent=4 if pretty else None,
            separators=(",", ": ") if pretty else (",", ":"),
        )
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return text.encode("utf-8", "surrogatepass")


@contextlib.contextmanager
def _no_cyclic_gc():
    """
    The conversions make one container per array, and trees have no cycles:
    the cyclic collector, woken by the count of new containers, would walk
    every live object again and again for nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def strip_comments(text):
    """JSON text with // and /* */ comments blanked out (strings untouched)."""

    def blank(m):
        s = m.group(0)
        return s if s[0] == '"' else " "

    return _COMMENTS.sub(blank, text)


@core.function()
def json_decode(string_, options_=None):
    opts = options("json_decode", options_, {"allow_comments"})
    data = string("json_decode", string_)
    comments = truthy(opts.get("allow_comments", False))
    try:
        if accelerator is not None:
            if comments:
                data = strip_comments(data.decode("utf-8")).encode("utf-8")
            with _no_cyclic_gc():
                return accelerator.decode(data)
        text = data.decode("utf-8")
        if comments:
            text = strip_comments(text)
        with _no_cyclic_gc():
            return _from_json(_DECODER.decode(text))
    except (ValueError, RecursionError):
        return None


# JSON objects become arrays as the C scanner finishes each one (the hook
# sees its members already converted, except strings and lists); only lists
# need a pass of their own.  Object keys repeat throughout a document, so
# their HSL form is remembered (up to a bound).
_JSON_KEYS = {}
_JSON_KEYS_MAX = 4096


def _json_object(pairs):
    keys = _JSON_KEYS
    d = {}
    nxt = 0.0
    for k, v in pairs:
        key = keys.get(k)
        if key is None:
            key = k.encode("utf-8", "surrogatepass") if k[:1] not in _NUMERIC_START else norm_key(_key(k))
            if key.__class__ is float:
                if key >= nxt:
                    nxt = key + 1.0
            elif len(keys) < _JSON_KEYS_MAX:
                keys[k] = key
        t = v.__class__
        if t is str:
            v = v.encode("utf-8", "surrogatepass")
        elif t is list:
            v = _json_list(v)
        d[key] = v
    return HSLArray.from_dict(d, nxt)


def _json_list(values):
    return HSLArray.from_list(
        [
            v.encode("utf-8", "surrogatepass") if (t := v.__class__) is str else _json_list(v) if t is list else v
            for v in values
        ]
    )


def _from_json(value):
    t = value.__class__
    if t is str:
        return value.encode("utf-8", "surrogatepass")
    if t is list:
        return _json_list(value)
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_json_object, parse_int=float, parse_constant=_no_constants)

if accelerator is not None:
    accelerator.setup(HSLArray, INDEXES, format_number)


# -- CSV -----------------------------------------------------------------------

_CSV_OPTIONS = {"delimiter", "header", "schema"}
_NEEDS_QUOTES = b'"\r\n \t'


def _delimiter(fn, opts):
    d = opts.get("delimiter", b",")
    if type(d) is not bytes or len(d) != 1 or d in b'"\r\n':
        fail(fn, "delimiter must be one character (not a quote or line break)")
    return d


def _csv_field(value, delimiter):
    s = value if type(value) is bytes else to_bytes(value)
    if delimiter in s or any(c in s for c in _NEEDS_QUOTES):
        return b'"' + s.replace(b'"', b'""') + b'"'
    return s


@core.function()
def csv_encode(values, options_=None):
    """
    One CSV line from an array of values (quoted when they hold the
    delimiter, a quote, whitespace or a line break); an array of arrays
    gives one CRLF-separated line per row.
    """
    rows = array("csv_encode", values, "values")
    opts = options("csv_encode", options_, {"delimiter"})
    d = _delimiter("csv_encode", opts)
    items = rows.to_list()
    if items and all(type(r) is HSLArray for r in items):
        return b"\r\n".join(d.join(_csv_field(v, d) for v in r.values()) for r in items)
    return d.join(_csv_field(v, d) for v in items)


class _SchemaError(ValueError):
    pass


def _column_converter(spec):
    """A function converting one field per a schema entry (bytes -> HSL value)."""
    if type(spec) is not HSLArray:
        raise _SchemaError("a schema entry must be an array")
    kind = spec.get(b"type", b"string")
    if kind not in (b"string", b"number", b"boolean"):
        raise _SchemaError("unknown schema type %r" % kind)
    nullable = spec.get(b"nullable", False)
    if type(nullable) is HSLArray:
        nulls = set(nullable.values())
    elif truthy(nullable):
        nulls = {b""}
    else:
        nulls = set()
    trues = set(spec.get(b"true").values()) if type(spec.get(b"true")) is HSLArray else {b"true"}
    falses = set(spec.get(b"false").values()) if type(spec.get(b"false")) is HSLArray else {b"false"}

    def convert(field):
        if field in nulls:
            return None
        if kind == b"number":
            if not _NUMBER.match(field.decode("latin-1")):
                raise _SchemaError("%r is not a number" % field)
            return float(field)
        if kind == b"boolean":
            if field in trues:
                return True
            if field in falses:
                return False
            raise _SchemaError("%r is not a boolean" % field)
        return field

    return convert


def decode_csv(data, delimiter=b",", header=True, schema=None):
    """CSV bytes as an HSL array of rows; ValueError (or csv.Error) when malformed."""
    text = data.decode("latin-1")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter.decode("latin-1"), strict=True)
    rows = [[f.encode("latin-1") for f in row] for row in reader if row]
    converters = {}
    if schema is not None:
        for name, spec in schema.items():
            converters[name] = _column_converter(spec)
    result = []
    if header:
        if not rows:
            return HSLArray()
        names = [norm_key(n) for n in rows[0]]
        for row in rows[1:]:
            record = HSLArray()
            for name, field in zip(names, row):
                convert = converters.get(name)
                record.set(name, convert(field) if convert else field)
            result.append(record)
    else:
        for row in rows:
            values = []
            for i, field in enumerate(row):
                convert = converters.get(float(i))
                values.append(convert(field) if convert else field)
            result.append(HSLArray.from_list(values))
    return HSLArray.from_list(result)


@core.function()
def csv_decode(string_, options_=None):
    """
    Rows of a CSV text: with a header (the default) as arrays keyed on the
    column names, else as lists; C{schema} converts columns to types.
    """
    data = string("csv_decode", string_)
    opts = options("csv_decode", options_, _CSV_OPTIONS)
    d = _delimiter("csv_decode", opts)
    schema = opts.get("schema")
    if schema is not None and type(schema) is not HSLArray:
        fail("csv_decode", "schema must be an array")
    try:
        return decode_csv(data, d, truthy(opts.get("header", True)), schema)
    except (ValueError, csv.Error):
        return None


# -- YAML ----------------------------------------------------------------------


@core.function()
def yaml_decode(string_, options_=None):
    """The first YAML document as HSL values (timestamps as ISO strings); none when malformed."""
    options("yaml_decode", options_, set())
    data = string("yaml_decode", string_)
    try:
        return from_python(yaml.load(data, Loader=_YAML_LOADER))
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
