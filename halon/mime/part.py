"""
A part of a parsed message: what scripts read (headers, type, file name,
body, children) and the header changes they make.

Reads always see the message as received (Halon's rule: changes show up
when the message is serialised, not in later get calls).  Header changes
become patches on the owning L{halon.mime.message.Message}; changes to
bodies and to the part structure live in L{halon.mime.structure}.

Part ids are dotted paths fixed at parse time: the message is "1", its
parts "1.1", "1.2", a part of "1.2" is "1.2.1", and the message inside a
message/rfc822 part "1.2" is "1.2.1".  They are the ids dlp() reports.
"""

import email.utils
import time

from halon.mime import structure
from halon.mime.encoding import decode_body
from halon.mime.headers import ContentParams, decode_text, field_value, make_field, unfold

__all__ = ["Part"]


class Part:
    """
    One MIME entity: offsets into the message buffer plus its children.

    @ivar fields: the L{halon.mime.parser.Field}s of the header block.
    @ivar boundary: bytes when this is a multipart that was split, else None.
    @ivar delimiters: offsets of the delimiter lines (the close one last).
    @ivar close_end: end of the close delimiter line, None when unclosed.
    @ivar encapsulated: a message/rfc822 part whose message is C{children[0]}.
    """

    __slots__ = (
        "message",
        "id",
        "parent",
        "start",
        "end",
        "fields",
        "header_end",
        "body_start",
        "body_end",
        "children",
        "boundary",
        "delimiters",
        "preamble_end",
        "close_end",
        "encapsulated",
        "errors",
        "_ctype",
    )

    def __init__(self, message, pid, parent, start, end):
        self.message = message
        self.id = pid
        self.parent = parent
        self.start = start
        self.end = self.body_end = end
        self.fields = []
        self.header_end = self.body_start = end
        self.children = []
        self.boundary = None
        self.delimiters = []
        self.preamble_end = None
        self.close_end = None
        self.encapsulated = False
        self.errors = []
        self._ctype = False

    def __repr__(self):
        return "<Part %s %s>" % (self.id, self.content_type)

    # -- raw access ---------------------------------------------------------

    def _raw(self, lo, hi):
        return bytes(self.message.buffer[lo:hi])

    def raw_field(self, field):
        """A field as received, without its final line break."""
        return self._raw(field.start, field.end).rstrip(b"\r\n")

    def header_value(self, lname):
        """The unfolded raw value of the first field named C{lname} (lower-case bytes)."""
        name = lname.decode("ascii")
        for f in self.fields:
            if f.lname == name:
                return unfold(self._raw(f.colon, f.end))
        return None

    def fields_named(self, name):
        lname = name.lower()
        return [f for f in self.fields if f.lname == lname]

    def raw_bytes(self):
        """The part as received (headers and body)."""
        return self._raw(self.start, self.end)

    def to_bytes(self):
        """The part with the changes inside it applied."""
        return self.message.render(self.start, self.end)

    # -- headers --------------------------------------------------------------

    def _params(self):
        if self._ctype is False:
            raw = self.header_value(b"content-type")
            self._ctype = None if raw is None else ContentParams(decode_text(raw))
        return self._ctype

    @property
    def charset(self):
        params = self._params()
        return params.param("charset") if params else None

    def _decoded(self, field):
        return field_value(self._raw(field.colon, field.end), self.charset)

    def get_header(self, name, index=0):
        """The decoded value (str) of the C{index}th field named C{name}, or None."""
        matching = self.fields_named(name)
        if not 0 <= index < len(matching):
            return None
        return self._decoded(matching[index])

    def get_field(self, name, index=0):
        """The C{index}th field named C{name} as received (bytes), or None."""
        matching = self.fields_named(name)
        if not 0 <= index < len(matching):
            return None
        return self.raw_field(matching[index])

    def get_headers(self, name):
        return [self._decoded(f) for f in self.fields_named(name)]

    def get_fields(self, name):
        return [self.raw_field(f) for f in self.fields_named(name)]

    def header_names(self):
        """Every field name from the top, lower case."""
        return [f.lname for f in self.fields]

    # -- content description ----------------------------------------------------

    @property
    def content_type(self):
        """The type/subtype (lower case) of the Content-Type header, or None."""
        params = self._params()
        if params is None:
            return None
        return params.type or None

    def type_param(self, name):
        params = self._params()
        return params.param(name) if params else None

    @property
    def filename(self):
        """
        The attachment's file name: Content-Disposition's filename, else
        Content-Type's name (RFC 2231 and encoded words decoded), or None.
        """
        disposition = self.header_value(b"content-disposition")
        if disposition is not None:
            name = ContentParams(decode_text(disposition, self.charset)).param("filename")
            if name:
                return name
        name = self.type_param("name")
        return name or None

    @property
    def disposition(self):
        """The Content-Disposition type (attachment, inline ...), lower case, or None."""
        raw = self.header_value(b"content-disposition")
        if raw is None:
            return None
        return ContentParams(decode_text(raw)).type or None

    @property
    def size(self):
        return self.end - self.start

    @property
    def is_multipart(self):
        return self.boundary is not None

    def body(self, decode=True):
        """The body, transfer encoding undone when C{decode}; None for a multipart."""
        if self.is_multipart:
            return None
        raw = self._raw(self.body_start, self.body_end)
        if not decode:
            return raw
        return decode_body(raw, self.header_value(b"content-transfer-encoding"))

    @property
    def preamble(self):
        if not self.is_multipart:
            return None
        return self._raw(self.body_start, self.preamble_end)

    @property
    def epilogue(self):
        if not self.is_multipart:
            return None
        if self.close_end is None:
            return b""
        return self._raw(self.close_end, self.body_end)

    # -- the tree ---------------------------------------------------------------

    def walk(self):
        """This part and all below it, depth first in message order."""
        stack = [self]
        while stack:
            part = stack.pop()
            yield part
            stack.extend(reversed(part.children))

    def descendants(self):
        walker = self.walk()
        next(walker)
        return walker

    def find_by_type(self, pattern):
        """Descendants whose type matches C{pattern} (anything with C{search(str)})."""
        return [p for p in self.descendants() if p.content_type is not None and pattern.search(p.content_type)]

    def find_by_filename(self, pattern):
        return [p for p in self.descendants() if p.filename is not None and pattern.search(p.filename)]

    def get_by_id(self, pid):
        for part in self.walk():
            if part.id == pid:
                return part
        return None

    # -- header changes ---------------------------------------------------------

    def _field_bytes(self, name, value, encode):
        return make_field(name, value, encode, self.message.eol)

    def add_header(self, name, value, encode=True):
        """Add a field at the top of this part's header block."""
        self.message.change([(self.start, 0, self._field_bytes(name, value, encode), "stack")])

    def set_header(self, name, value, index=None, encode=True):
        """
        Give every field named C{name} (or only the C{index}th) the value;
        with none to give it to and no index, add one at the top.  Returns
        the number of fields written.
        """
        matching = self.fields_named(name)
        if index is not None:
            matching = matching[index : index + 1] if index >= 0 else []
        data = self._field_bytes(name, value, encode)
        if not matching:
            if index is not None:
                return 0
            self.add_header(name, value, encode)
            return 1
        self.message.change([(f.start, f.end - f.start, data) for f in matching])
        return len(matching)

    def del_header(self, name, index=None):
        """Delete the fields named C{name} (or only the C{index}th); returns how many."""
        matching = self.fields_named(name)
        if index is not None:
            matching = matching[index : index + 1] if index >= 0 else []
        return self.message.change([(f.start, f.end - f.start, b"") for f in matching])

    def rename_header(self, name, newname):
        """Rename the fields named C{name}, values untouched; returns how many."""
        new = newname.encode("ascii", "replace") if isinstance(newname, str) else newname
        matching = self.fields_named(name)
        return self.message.change([(f.start, f.colon - f.start, new + b":") for f in matching])

    def set_date_later(self):
        """Set (or add) a Date field stamped when the message is serialised."""
        eol = self.message.eol

        def date_field():
            return b"Date: " + email.utils.formatdate(time.time(), localtime=True).encode("ascii") + eol

        dates = self.fields_named("date")
        if dates:
            f = dates[0]
            self.message.change([(f.start, f.end - f.start, date_field)])
        else:
            self.message.change([(self.start, 0, date_field, "stack")])
        return 1

    # -- body and structure changes (see halon.mime.structure) ------------------

    def set_body(self, data, encode=True):
        return structure.set_body(self, data, encode)

    def set_preamble(self, data):
        return structure.set_preamble(self, data)

    def set_epilogue(self, data):
        return structure.set_epilogue(self, data)

    def prepend_part(self, entity, multipart_type="multipart/mixed"):
        return structure.add_part(self, entity, multipart_type, prepend=True)

    def append_part(self, entity, multipart_type="multipart/mixed"):
        return structure.add_part(self, entity, multipart_type, prepend=False)

    def replace_part(self, entity):
        return structure.replace_part(self, entity)

    def remove(self):
        return structure.remove(self)
