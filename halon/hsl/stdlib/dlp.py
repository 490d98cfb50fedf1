"""
dlp(): scan a message with dlpd, as Halon's dlp client plugin exposes it.

    dlp(fp [, options])

C{fp} is the message: a File (e.g. C{$arguments["mail"]->toFile()} in the
EOD hook), a MailMessage, or a string.  Options: C{id} (for the log),
C{short_circuit} (stop at the first match), C{time_limit} (seconds),
C{recursion_limit} (archive depth, 9), C{rules} (configured rule ids and/or
custom rules as arrays with C{name} and the fields of dlpd-app.yaml rules)
and C{timeout} (seconds to wait for dlpd).  The result is
C{["result" => [["partid" => ..., "name" => ...], ...]]}, with C{"filename"}
for files inside archives, and C{"error" => ...} when something went wrong.

The host's "dlp" service (a L{halon.dlpd.protocol.DLPClient}) carries the
scan to dlpd's socket from the script's own thread.
"""

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.values import HSLArray, HSLObject, to_bytes, to_number, truthy
from halon.rated.ipc import IPCError

_OPTIONS = {"id", "short_circuit", "time_limit", "recursion_limit", "rules", "timeout"}
_LIST_FIELDS = {"regex", "keywords", "filename", "mimetype", "md5hash", "sha1hash", "sha2hash"}
_FLAG_FIELDS = {"cards", "iban"}
_NUMBER_FIELDS = {"count"}


@core.function("dlp", host=True)
def dlp(host, fp, options=None):
    service = host.service("dlp", "dlp")
    data = message_bytes(fp)
    request = _options(options)
    timeout = request.pop("timeout", None)
    try:
        reply = service.scan(data, request, timeout)
    except IPCError as e:
        return HSLArray({b"error": str(e).encode("utf-8", "replace")})
    result = HSLArray()
    result.set(b"result", HSLArray.from_list([_match(m) for m in reply.get("result", [])]))
    if reply.get("error"):
        result.set(b"error", reply["error"].encode("utf-8", "replace"))
    return result


def message_bytes(fp):
    """The bytes of what dlp() was given: a string, or an object that can render itself."""
    if isinstance(fp, bytes):
        return fp
    if isinstance(fp, HSLObject):
        for method in ("to_bytes", "read_all"):
            render = getattr(fp, method, None)
            if render is not None:
                return render()
    raise HSLRuntimeError("dlp(): the message must be a File, a MailMessage or a string")


def _options(options):
    if options is None:
        return {}
    if not isinstance(options, HSLArray):
        raise HSLRuntimeError("dlp(): options must be an array")
    out = {}
    for key, value in options.items():
        name = _name(key)
        if name not in _OPTIONS:
            raise HSLRuntimeError("dlp(): unknown option %r" % (name,))
        if name == "id":
            out[name] = to_bytes(value).decode("utf-8", "replace")
        elif name == "short_circuit":
            out[name] = truthy(value)
        elif name in ("time_limit", "timeout"):
            out[name] = max(0.0, to_number(value))
        elif name == "recursion_limit":
            out[name] = int(max(0, to_number(value)))
        else:
            out[name] = _rules(value)
    return out


def _rules(value):
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("dlp(): rules must be an array")
    rules = []
    for entry in value.values():
        if isinstance(entry, bytes):
            rules.append(entry.decode("utf-8", "replace"))
        elif isinstance(entry, HSLArray):
            rules.append(_custom_rule(entry))
        else:
            raise HSLRuntimeError("dlp(): a rule is a rule id (string) or a rule (array)")
    return rules


def _custom_rule(entry):
    """A script's rule array as dlpd-app.yaml would write it; dlpd checks it."""
    rule = {}
    for key, value in entry.items():
        field = _name(key)
        if field in _LIST_FIELDS:
            items = value.values() if isinstance(value, HSLArray) else [value]
            rule[field] = [to_bytes(v).decode("utf-8", "replace") for v in items]
        elif field in _FLAG_FIELDS:
            rule[field] = truthy(value)
        elif field in _NUMBER_FIELDS:
            rule[field] = int(to_number(value))
        elif field == "size" and isinstance(value, HSLArray):
            rule[field] = {_name(k): to_number(v) for k, v in value.items()}
        else:
            rule[field] = to_bytes(value).decode("utf-8", "replace")
    return rule


def _match(match):
    out = HSLArray()
    for key in ("partid", "name", "filename"):
        if key in match:
            out.set(key.encode(), str(match[key]).encode("utf-8", "replace"))
    return out


def _name(key):
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
