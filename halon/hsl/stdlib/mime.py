"""
MIME, MIMEPart and MailMessage: the HSL classes over L{halon.mime}.

C{MIMEPart} wraps one part of a parsed message and C{MailMessage} (a
MIMEPart) the message itself; every MIMEPart of one message shares that
message's changes, and asking twice for the same part gives the same
object.  C{MIME()} is the builder (L{halon.mime.MIMEBuilder}).

Sending, queueing and DKIM go to the host's services, called on the
script's thread with a L{halon.mime.Message} (see docs/internals.md):
C{host.service("smtp", ...).send(message, sender, recipients, server)},
C{host.service("queue", ...).queue(message, sender, recipient,
transportid, options)}, C{host.service("dkim", ...).sign(message,
selector, domain, key, options)} -> C{(name, value)} or None, and
C{.verify(message, headerfield, options)} -> array.
"""

import re

from halon import mime
from halon.hsl.errors import HSLNotAvailable, HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.values import HSLArray, HSLObject, to_bytes, to_number, truthy

__all__ = ["MIME", "MIMEPart", "MailMessage"]

_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")


def _str(value):
    return to_bytes(value).decode("utf-8", "surrogateescape")


def _field_name(value, method):
    """A header name a script gave, checked: printable ASCII without colon or space."""
    name = to_bytes(value)
    if not _NAME.fullmatch(name):
        raise HSLRuntimeError("%s(): invalid header name %r" % (method, name.decode("utf-8", "replace")))
    return name.decode("ascii")


def _out(text):
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _options(options, method, allowed):
    """An options array as {name: value}; unknown names are an error, as in Halon."""
    if options is None:
        return {}
    if not isinstance(options, HSLArray):
        raise HSLRuntimeError("%s(): options must be an array" % method)
    out = {}
    for key, value in options.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if name not in allowed:
            raise HSLRuntimeError("%s(): unknown option %r" % (method, name))
        out[name] = value
    return out


def _index(opts):
    if "index" not in opts:
        return None
    return int(to_number(opts["index"]))


def _pattern(value, method):
    """A regex from a string (/value/i) or a Regex object (anything with search)."""
    if isinstance(value, (bytes, float, bool)):
        try:
            return re.compile(_str(value), re.IGNORECASE)
        except re.error as e:
            raise HSLRuntimeError("%s(): invalid regex: %s" % (method, e))
    for attr in ("regex", "compiled", "pattern", "_regex", "_pattern"):
        inner = getattr(value, attr, None)
        if hasattr(inner, "search"):
            return _Either(inner)
    if hasattr(value, "search"):
        return _Either(value)
    raise HSLRuntimeError("%s(): expected a string or a Regex" % method)


class _Either:
    """A compiled pattern that may be a bytes or a str pattern."""

    def __init__(self, compiled):
        self._compiled = compiled

    def search(self, text):
        try:
            return self._compiled.search(text)
        except TypeError:
            return self._compiled.search(text.encode("utf-8", "surrogateescape"))


def _host_of(obj, method):
    host = getattr(obj, "hsl_host", None)
    if host is None:
        raise HSLNotAvailable(method)
    return host


def _make_file(host, data):
    """A File object holding C{data}, from the File class of the stdlib."""
    namespace = host.namespace() if host is not None else core.classes
    file_class = namespace.get("File")
    if file_class is None:
        raise HSLNotAvailable("toFile")
    return getattr(file_class, file_class.hsl_statics["String"])(data)


def _read_file(file):
    """All bytes of a File object (from its start)."""
    read_all = getattr(file, "read_all", None)
    if read_all is not None:
        return read_all()
    methods = getattr(file, "hsl_methods", {})
    if "read" not in methods:
        raise HSLRuntimeError("MailMessage::File(): expected a File")
    if "seek" in methods:
        getattr(file, methods["seek"])(0.0)
    chunks = []
    read = getattr(file, methods["read"])
    while True:
        chunk = read(1048576.0)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@core.cls("MIME")
class MIME(HSLObject):
    """The MIME() builder; most methods return the object for chaining."""

    hsl_class_name = "MIME"
    hsl_needs_host = True
    hsl_host = None
    hsl_methods = {
        "addHeader": "add_header",
        "appendPart": "append_part",
        "setBody": "set_body",
        "setType": "set_type",
        "setBoundary": "set_boundary",
        "setDate": "set_date",
        "setFileName": "set_filename",
        "setDisposition": "set_disposition",
        "signDKIM": "sign_dkim",
        "toString": "to_string",
        "toFile": "to_file",
        "queue": "queue",
        "send": "send",
    }

    def __init__(self):
        self.builder = mime.MIMEBuilder()
        self._signatures = []

    def add_header(self, name, value, options=None):
        opts = _options(options, "addHeader", {"encode"})
        self.builder.add_header(_field_name(name, "addHeader"), _str(value), truthy(opts.get("encode", True)))
        return self

    def append_part(self, part):
        if isinstance(part, MIME):
            self.builder.append_part(part.builder)
        elif isinstance(part, MIMEPart):
            self.builder.append_part(_RawEntity(part.part))
        else:
            raise HSLRuntimeError("appendPart(): expected a MIME object")
        return self

    def set_body(self, body):
        self.builder.set_body(to_bytes(body))
        return self

    def set_type(self, content_type):
        self.builder.set_type(_str(content_type))
        return self

    def set_boundary(self, boundary):
        self.builder.set_boundary(_str(boundary))
        return self

    def set_date(self, timestamp=None):
        self.builder.set_date(None if timestamp is None else to_number(timestamp))
        return self

    def set_filename(self, filename):
        self.builder.set_filename(_str(filename))
        return self

    def set_disposition(self, disposition):
        self.builder.set_disposition(_str(disposition))
        return self

    def to_bytes(self):
        data = self.builder.render(top=True)
        for name, value in self._signatures:
            data = name + b": " + value + b"\r\n" + data
        return data

    def to_string(self):
        return self.to_bytes()

    def to_file(self):
        return _make_file(self.hsl_host, self.to_bytes())

    def model(self):
        """The rendered message as a L{halon.mime.Message}, for services."""
        return mime.parse(self.to_bytes())

    def sign_dkim(self, selector, domain, key, options=None):
        service = _host_of(self, "signDKIM").service("dkim", "signDKIM")
        signature = service.sign(self.model(), selector, domain, key, options)
        if signature is not None:
            self._signatures.append(signature)
        return self

    def queue(self, sender, recipient, transportid, options=None):
        service = _host_of(self, "queue").service("queue", "queue")
        return service.queue(self.model(), sender, recipient, transportid, options)

    def send(self, sender, recipients, server):
        service = _host_of(self, "send").service("smtp", "send")
        return service.send(self.model(), sender, recipients, server)


class _RawEntity:
    """A parsed part appended to a MIME builder: rendered as it is now."""

    def __init__(self, part):
        self._part = part

    def render(self, eol=b"\r\n"):
        from halon.mime.structure import to_eol

        return to_eol(self._part.to_bytes(), eol)


def _entity(value, method):
    if isinstance(value, MIME):
        return value.builder
    if isinstance(value, MIMEPart):
        return value.part
    raise HSLRuntimeError("%s(): expected a MIME or MIMEPart object" % method)


@core.cls("MIMEPart")
class MIMEPart(HSLObject):
    """One part of a MailMessage (only made by MailMessage and its methods)."""

    hsl_class_name = "MIMEPart"
    hsl_methods = {
        "getID": "get_id",
        "getSize": "get_size",
        "getFileName": "get_filename",
        "getType": "get_type",
        "getTypeParameter": "get_type_parameter",
        "getHeader": "get_header",
        "getHeaders": "get_headers",
        "getHeaderNames": "get_header_names",
        "setHeader": "set_header",
        "addHeader": "add_header",
        "delHeader": "del_header",
        "renameHeader": "rename_header",
        "setDateLater": "set_date_later",
        "remove": "remove",
        "getBody": "get_body",
        "setBody": "set_body",
        "getPreamble": "get_preamble",
        "setPreamble": "set_preamble",
        "getEpilogue": "get_epilogue",
        "setEpilogue": "set_epilogue",
        "prependPart": "prepend_part",
        "appendPart": "append_part",
        "replacePart": "replace_part",
        "findByType": "find_by_type",
        "findByFileName": "find_by_filename",
        "getByID": "get_by_id",
        "getParts": "get_parts",
        "getErrors": "get_errors",
    }

    def __init__(self, part=None, owner=None):
        if part is None:
            raise HSLRuntimeError("MIMEPart objects come from a MailMessage")
        self.part = part
        self._owner = owner if owner is not None else self

    def _wrap(self, part):
        return self._owner._wrapper(part)

    def get_id(self):
        return self.part.id.encode("ascii")

    def get_size(self):
        return float(self.part.size)

    def get_filename(self):
        return _out(self.part.filename)

    def get_type(self):
        return _out(self.part.content_type)

    def get_type_parameter(self, name):
        return _out(self.part.type_param(_str(name)))

    def get_header(self, name, options=None):
        opts = _options(options, "getHeader", {"index", "field"})
        index = _index(opts) or 0
        if truthy(opts.get("field", False)):
            return self.part.get_field(_str(name), index)
        return _out(self.part.get_header(_str(name), index))

    def get_headers(self, name, options=None):
        opts = _options(options, "getHeaders", {"field"})
        if truthy(opts.get("field", False)):
            return HSLArray.from_list(self.part.get_fields(_str(name)))
        return HSLArray.from_list([_out(v) for v in self.part.get_headers(_str(name))])

    def get_header_names(self):
        return HSLArray.from_list([n.encode("ascii") for n in self.part.header_names()])

    def set_header(self, name, value, options=None):
        opts = _options(options, "setHeader", {"index", "encode"})
        encode = truthy(opts.get("encode", True))
        return float(self.part.set_header(_field_name(name, "setHeader"), _str(value), _index(opts), encode))

    def add_header(self, name, value, options=None):
        opts = _options(options, "addHeader", {"encode"})
        self.part.add_header(_field_name(name, "addHeader"), _str(value), truthy(opts.get("encode", True)))
        return None

    def del_header(self, name, options=None):
        opts = _options(options, "delHeader", {"index"})
        return float(self.part.del_header(_str(name), _index(opts)))

    def rename_header(self, name, newname):
        return float(self.part.rename_header(_str(name), _field_name(newname, "renameHeader")))

    def set_date_later(self):
        return float(self.part.set_date_later())

    def remove(self):
        self.part.remove()
        return None

    def get_body(self, options=None):
        opts = _options(options, "getBody", {"decode"})
        return self.part.body(truthy(opts.get("decode", True)))

    def set_body(self, data, options=None):
        opts = _options(options, "setBody", {"encode"})
        if not self.part.set_body(to_bytes(data), truthy(opts.get("encode", True))):
            return None
        return self

    def get_preamble(self):
        return self.part.preamble

    def set_preamble(self, data):
        return self if self.part.set_preamble(to_bytes(data)) else None

    def get_epilogue(self):
        return self.part.epilogue

    def set_epilogue(self, data):
        return self if self.part.set_epilogue(to_bytes(data)) else None

    def _add(self, part, options, method, prepend):
        opts = _options(options, method, {"type"})
        mtype = _str(opts["type"]) if "type" in opts else "multipart/mixed"
        entity = _entity(part, method)
        if prepend:
            done = self.part.prepend_part(entity, mtype)
        else:
            done = self.part.append_part(entity, mtype)
        return self if done else None

    def prepend_part(self, part, options=None):
        return self._add(part, options, "prependPart", True)

    def append_part(self, part, options=None):
        return self._add(part, options, "appendPart", False)

    def replace_part(self, part):
        self.part.replace_part(_entity(part, "replacePart"))
        return None

    def find_by_type(self, pattern):
        found = self.part.find_by_type(_pattern(pattern, "findByType"))
        return HSLArray.from_list([self._wrap(p) for p in found])

    def find_by_filename(self, pattern):
        found = self.part.find_by_filename(_pattern(pattern, "findByFileName"))
        return HSLArray.from_list([self._wrap(p) for p in found])

    def get_by_id(self, pid):
        part = self.part.get_by_id(_str(pid))
        return None if part is None else self._wrap(part)

    def get_parts(self):
        return HSLArray.from_list([self._wrap(p) for p in self.part.children])

    def get_errors(self):
        return HSLArray.from_list([e.encode("ascii") for e in self.part.errors])


@core.cls("MailMessage")
class MailMessage(MIMEPart):
    """
    A whole message.  Python code makes one with L{from_model} (the EOD
    hook's EODMailMessage, the queue's $message["file"]); scripts with
    MailMessage::String() and MailMessage::File().
    """

    hsl_class_name = "MailMessage"
    hsl_needs_host = True
    hsl_host = None
    hsl_methods = dict(
        MIMEPart.hsl_methods,
        reset="reset",
        snapshot="snapshot",
        restore="restore",
        modifyContent="modify_content",
        toFile="to_file",
        toString="to_string",
        signDKIM="sign_dkim",
        verifyDKIM="verify_dkim",
        send="send",
        queue="queue",
    )
    hsl_statics = {"String": "from_string", "File": "from_file"}

    def __init__(self, message=None, host=None):
        if message is None:
            message = mime.parse(b"")
        elif not isinstance(message, mime.Message):
            raise HSLRuntimeError("MailMessage(): use MailMessage::String() or MailMessage::File()")
        self.message = message
        self._parts = {}
        if host is not None:
            self.hsl_host = host
        MIMEPart.__init__(self, message.root, self)
        self._parts[message.root] = self

    @classmethod
    def from_model(cls, message, host=None):
        """The HSL object for a parsed L{halon.mime.Message}."""
        return cls(message, host)

    @classmethod
    def from_string(cls, data):
        return cls(mime.parse(to_bytes(data)))

    @classmethod
    def from_file(cls, file):
        if not isinstance(file, HSLObject):
            raise HSLRuntimeError("MailMessage::File(): expected a File")
        return cls(mime.parse(_read_file(file)))

    def _wrapper(self, part):
        wrapper = self._parts.get(part)
        if wrapper is None:
            wrapper = self._parts[part] = MIMEPart(part, self)
        return wrapper

    def to_bytes(self):
        return self.message.to_bytes()

    def reset(self):
        return float(self.message.reset())

    def snapshot(self):
        return float(self.message.snapshot())

    def restore(self, sid):
        return self.message.restore(int(to_number(sid)))

    def modify_content(self, start, count, data):
        self.message.modify_content(int(to_number(start)), int(to_number(count)), to_bytes(data))
        return self

    def to_string(self):
        return self.message.to_bytes()

    def to_file(self):
        return _make_file(self.hsl_host, self.message.to_bytes())

    def sign_dkim(self, selector, domain, key, options=None):
        service = _host_of(self, "signDKIM").service("dkim", "signDKIM")
        opts = options if isinstance(options, HSLArray) else HSLArray()
        signature = service.sign(self.message, selector, domain, key, options)
        if signature is None:
            return None
        name, value = signature
        if truthy(opts.get(b"return_header", False)):
            return value
        self.message.root.add_header(name, value, encode=False)
        return self

    def verify_dkim(self, headerfield, options=None):
        service = _host_of(self, "verifyDKIM").service("dkim", "verifyDKIM")
        return service.verify(self.message, to_bytes(headerfield), options)

    def send(self, sender, recipients, server):
        service = _host_of(self, "send").service("smtp", "send")
        return service.send(self.message, sender, recipients, server)

    def queue(self, sender, recipient, transportid, options=None):
        service = _host_of(self, "queue").service("queue", "queue")
        return service.queue(self.message, sender, recipient, transportid, options)
