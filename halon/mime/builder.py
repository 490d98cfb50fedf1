"""
The MIME builder behind HSL's C{MIME()}: a part described by its headers,
type, body and children, rendered to bytes on demand.

Rendering follows the HSL manual: the type defaults to text/plain and text
types always say charset utf-8; a body is sent quoted-printable or base64
(whichever reads better) unless the script added its own
Content-Transfer-Encoding, in which case it goes in as given; a multipart
gets a UUID boundary unless one was set; a body given to a multipart is
its preamble.  The top-level entity (toString, toFile, queue, send) also
gets MIME-Version: 1.0.
"""

import email.utils
import time
import uuid

from halon.mime.encoding import choose_encoding, encode_body
from halon.mime.headers import ContentParams, make_field

__all__ = ["MIMEBuilder", "content_disposition"]


def _quote(value):
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def content_disposition(disposition, filename):
    """
    A Content-Disposition value: ASCII names quoted, other names in RFC 2231
    form (C{filename*=utf-8''...}), which mail clients read back exactly.
    """
    if filename is None:
        return disposition
    if filename.isascii() and all(32 <= ord(c) < 127 for c in filename):
        return "%s; filename=%s" % (disposition, _quote(filename))
    return "%s; filename*=%s" % (disposition, email.utils.encode_rfc2231(filename, "utf-8"))


class MIMEBuilder:
    """One part under construction; children are MIMEBuilders too."""

    def __init__(self):
        self.headers = []
        self.type = "text/plain"
        self.boundary = None
        self.body = b""
        self.filename = None
        self.disposition = None
        self.date = None
        self.children = []

    def add_header(self, name, value, encode=True):
        self.headers.append((name, value, encode))

    def append_part(self, child):
        self.children.append(child)

    def set_body(self, body):
        self.body = body

    def set_type(self, content_type):
        self.type = content_type

    def set_boundary(self, boundary):
        self.boundary = boundary

    def set_date(self, timestamp=None):
        self.date = time.time() if timestamp is None else timestamp

    def set_filename(self, filename):
        self.filename = filename

    def set_disposition(self, disposition):
        self.disposition = disposition

    def _has(self, lname):
        return any(name.lower() == lname for name, _, _ in self.headers)

    def _boundary(self):
        if self.boundary is None:
            self.boundary = str(uuid.uuid4())
        return self.boundary

    def _declared_type(self):
        """The type and boundary of a Content-Type the script added itself, if any."""
        for name, value, _ in self.headers:
            if name.lower() == "content-type":
                params = ContentParams(value)
                return params.type, params.param("boundary")
        return None, None

    def render(self, eol=b"\r\n", top=False):
        """The entity's bytes: header fields, a blank line, the body."""
        fields = [make_field(name, value, encode, eol) for name, value, encode in self.headers]
        declared, boundary = self._declared_type()
        if boundary:
            self.boundary = boundary
        if self.date is not None and not self._has("date"):
            fields.append(b"Date: " + email.utils.formatdate(self.date, localtime=True).encode("ascii") + eol)
        if top and not self._has("mime-version"):
            fields.append(b"MIME-Version: 1.0" + eol)
        multipart = bool(self.children) or (declared or self.type).lower().startswith("multipart/")
        if not self._has("content-type"):
            value = self.type
            if multipart:
                value += '; boundary="%s"' % self._boundary()
            elif self.type.lower().startswith("text/"):
                value += '; charset="utf-8"'
            fields.append(make_field("Content-Type", value, False, eol))
        if self.filename is not None or self.disposition is not None:
            if not self._has("content-disposition"):
                value = content_disposition(self.disposition or "attachment", self.filename)
                fields.append(make_field("Content-Disposition", value, False, eol))
        if multipart:
            body = self._multipart_body(eol)
        elif self._has("content-transfer-encoding"):
            body = self.body
        else:
            encoding = choose_encoding(self.body, allow_7bit=False)
            fields.append(make_field("Content-Transfer-Encoding", encoding, False, eol))
            body = encode_body(self.body, encoding, eol)
        return b"".join(fields) + eol + body

    def _multipart_body(self, eol):
        dash = b"--" + self._boundary().encode("utf-8")
        out = []
        if self.body:
            out.append(self.body.replace(b"\r\n", b"\n").replace(b"\n", eol))
            if not self.body.endswith(b"\n"):
                out.append(eol)
        for child in self.children:
            rendered = child.render(eol)
            if rendered.endswith(eol):
                rendered = rendered[: -len(eol)]
            out.append(dash + eol + rendered + eol)
        out.append(dash + b"--" + eol)
        return b"".join(out)
