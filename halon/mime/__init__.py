"""
The message model: a message parsed into a tree of parts by byte offsets,
with the changes scripts make kept as patches and applied on output.

An unmodified message serialises to exactly the bytes it was parsed from
(DKIM signatures depend on that), and a change rewrites only the bytes it
must.  See L{halon.mime.message} for how changes combine and
L{halon.mime.parser} for the limits that keep hostile input harmless.

Entry points for the SMTP server, the queue and content scanning:

    from halon import mime

    message = mime.parse(data)              # bytes
    message = mime.parse_file(path)         # mapped read-only, for large messages
    message.root                            # the top-level Part
    for part in message.root.walk(): ...    # every part, depth first
    part.id, part.content_type, part.filename, part.body(), part.get_header("subject")
    message.to_bytes()                      # with the changes applied
    message.write_file(path, fsync=True)    # streamed in 1 MiB chunks
    message.write_to(fileobj)
    message.close()                         # release the mapping of parse_file

    from halon.hsl.stdlib.mime import MailMessage
    hsl_object = MailMessage.from_model(message, host)   # what scripts see
    hsl_object.message                                    # and back to the model

A subclass of MailMessage (the EOD hook's EODMailMessage) is made the same
way: C{EODMailMessage.from_model(message, host)}.

Building a message from scratch (DSN bounces, MIME() in scripts):

    builder = mime.MIMEBuilder()
    builder.add_header("Subject", "Hello")
    builder.set_body(b"Hi")
    data = builder.render(top=True)         # CRLF line endings

A part whose body must go in unencoded (the message/rfc822 part of a DSN)
gets its own Content-Type and Content-Transfer-Encoding fields with
C{add_header}; the builder then leaves the body exactly as given.
Attachment helpers: C{part.filename}, C{part.content_type},
C{part.disposition}, C{part.type_param(name)}, and
C{content_disposition(type, filename)} for writing one.
"""

from halon.mime.builder import MIMEBuilder, content_disposition
from halon.mime.message import Message, parse, parse_file
from halon.mime.parser import MAX_DEPTH, MAX_FIELDS, MAX_PARTS
from halon.mime.part import Part

__all__ = [
    "Message",
    "Part",
    "MIMEBuilder",
    "parse",
    "parse_file",
    "content_disposition",
    "MAX_DEPTH",
    "MAX_PARTS",
    "MAX_FIELDS",
]
