"""MIME, MIMEPart and MailMessage as scripts call them: HSL values in, HSL values out."""

import email
import email.policy
import re

from twisted.trial import unittest

from halon import mime
from halon.hsl.errors import HSLNotAvailable, HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.stdlib import core
from halon.hsl.stdlib.mime import MIMEPart
from halon.hsl.values import HSLArray, HSLObject
from tests.mime import corpus


def _opts(**kw):
    return HSLArray({k.encode(): v for k, v in kw.items()})


def _call(obj, name, *args):
    """Call an HSL method by its HSL name, as the runtime does."""
    return getattr(obj, type(obj).hsl_methods[name])(*args)


def _static(cls, name, *args):
    return getattr(cls, cls.hsl_statics[name])(*args)


class _Recorder:
    """A service as a daemon would register it; remembers what it was asked."""

    def __init__(self, answer):
        self.calls = []
        self.answer = answer

    def __getattr__(self, name):
        def method(*args):
            self.calls.append((name, args))
            return self.answer

        return method


class ClassTests(unittest.TestCase):
    def setUp(self):
        self.host = Host()
        ns = self.host.namespace()
        self.MailMessage, self.MIME = ns["MailMessage"], ns["MIME"]
        self.mail = _static(self.MailMessage, "String", corpus.crlf(corpus.MIXED))

    def test_declaredMethods(self):
        """Every method and static of classes.json exists under its HSL name."""
        names = {
            "MIME": "addHeader appendPart setBody setType setBoundary setDate setFileName setDisposition signDKIM toString toFile queue send",
            "MIMEPart": "getID getSize getFileName getType getTypeParameter getHeader getHeaders getHeaderNames setHeader addHeader "
            "delHeader renameHeader setDateLater remove getBody setBody getPreamble setPreamble getEpilogue setEpilogue "
            "prependPart appendPart replacePart findByType findByFileName getByID getParts getErrors",
            "MailMessage": "reset snapshot restore modifyContent toFile toString signDKIM verifyDKIM send queue getID getParts",
        }
        for cls_name, methods in names.items():
            cls = core.classes[cls_name]
            for method in methods.split():
                self.assertTrue(callable(getattr(cls, cls.hsl_methods[method])), (cls_name, method))
        self.assertEqual(set(core.classes["MailMessage"].hsl_statics), {"String", "File"})

    def test_readers(self):
        """Getters return HSL strings, numbers, none and arrays of MIMEPart objects."""
        mail = self.mail
        self.assertEqual(_call(mail, "getID"), b"1")
        self.assertEqual(_call(mail, "getSize"), float(len(corpus.crlf(corpus.MIXED))))
        self.assertEqual(_call(mail, "getType"), b"multipart/mixed")
        self.assertEqual(_call(mail, "getTypeParameter", b"boundary"), b"----=_Part_12345_67890.1715670000000")
        self.assertEqual(_call(mail, "getHeader", b"SUBJECT"), "Offert för våren 2024".encode())
        self.assertIsNone(_call(mail, "getHeader", b"x-none"))
        self.assertEqual(_call(mail, "getHeader", b"subject", _opts(field=True))[:9], b"Subject: ")
        self.assertEqual(_call(mail, "getHeaders", b"to").to_list(), ["Björn <bjorn@example.com>, Jörg <jorg@example.de>".encode()])
        self.assertEqual(_call(mail, "getHeaderNames").to_list()[:2], [b"from", b"to"])
        parts = _call(mail, "getParts").to_list()
        self.assertEqual([_call(p, "getID") for p in parts], [b"1.1", b"1.2", b"1.3"])
        self.assertIs(parts[1], _call(mail, "getByID", b"1.2"))
        self.assertIsInstance(parts[1], MIMEPart)
        self.assertEqual(_call(parts[1], "getFileName"), b"offert.pdf")
        self.assertEqual(_call(parts[1], "getBody"), corpus.PDF)
        self.assertEqual(_call(parts[1], "getBody", _opts(decode=False))[:4], b"JVBE")
        self.assertEqual(_call(mail, "getPreamble"), b"This is a multi-part message in MIME format.")
        self.assertEqual(_call(mail, "getEpilogue"), b"")
        self.assertIsNone(_call(parts[1], "getPreamble"))
        self.assertEqual(_call(mail, "getErrors").to_list(), [])
        self.assertIsNone(_call(mail, "getByID", b"7"))

    def test_find(self):
        """findByType/findByFileName take a string (partial, case-insensitive) or a compiled regex."""
        found = _call(self.mail, "findByType", b"^TEXT/")
        self.assertEqual([_call(p, "getID") for p in found], [b"1.1.1", b"1.1.2"])
        found = _call(self.mail, "findByFileName", b"\\.PNG$")
        self.assertEqual([_call(p, "getID") for p in found], [b"1.3"])
        found = _call(self.mail, "findByFileName", re.compile(rb"\.pdf$"))
        self.assertEqual([_call(p, "getID") for p in found], [b"1.2"])
        self.assertRaises(HSLRuntimeError, _call, self.mail, "findByType", b"(")

    def test_changes(self):
        """Changes through parts apply to the message; reads still see it as received; reset undoes."""
        mail = self.mail
        _call(mail, "addHeader", b"X-Scanned", b"yes")
        self.assertEqual(_call(mail, "setHeader", b"Subject", b"New"), 1.0)
        self.assertEqual(_call(mail, "delHeader", b"x-long-header"), 1.0)
        self.assertEqual(_call(mail, "renameHeader", b"to", b"X-Original-To"), 1.0)
        pdf = _call(mail, "getByID", b"1.2")
        self.assertIs(_call(pdf, "setBody", b"replaced"), pdf)
        self.assertIsNone(_call(mail, "setBody", b"x"))
        self.assertIs(_call(mail, "setPreamble", b"pre"), mail)
        self.assertIs(_call(mail, "setEpilogue", b"epi"), mail)
        self.assertEqual(_call(mail, "getHeader", b"subject"), "Offert för våren 2024".encode())
        out = _call(mail, "toString")
        parsed = mime.parse(out).root
        self.assertEqual(parsed.get_header("subject"), "New")
        self.assertEqual(parsed.header_names()[0], "x-scanned")
        self.assertNotIn("x-long-header", parsed.header_names())
        self.assertEqual(parsed.get_by_id("1.2").body(), b"replaced")
        self.assertEqual(parsed.preamble, b"pre")
        self.assertEqual(_call(mail, "reset"), 7.0)  # the refused root setBody made no change
        self.assertEqual(_call(mail, "toString"), corpus.crlf(corpus.MIXED))

    def test_partsFromBuilder(self):
        """appendPart/prependPart/replacePart take MIME builders and MIMEParts; remove() cuts one out."""
        mail = self.mail
        footer = self.MIME()
        _call(footer, "setType", b"text/plain")
        _call(footer, "setBody", b"footer")
        self.assertIs(_call(mail, "appendPart", footer), mail)
        self.assertIs(_call(mail, "prependPart", _call(mail, "getByID", b"1.3")), mail)
        _call(_call(mail, "getByID", b"1.2"), "remove")
        _call(_call(mail, "getByID", b"1.1.2"), "replacePart", footer)
        parsed = mime.parse(_call(mail, "toString")).root
        self.assertEqual([p.content_type for p in parsed.children], ["image/png", "multipart/alternative", "image/png", "text/plain"])
        self.assertEqual(parsed.get_by_id("1.2.2").body(), b"footer")
        single = _static(self.MailMessage, "String", corpus.PLAIN)
        _call(single, "appendPart", footer, _opts(type=b"multipart/alternative"))
        self.assertEqual(mime.parse(_call(single, "toString")).root.content_type, "multipart/alternative")
        self.assertRaises(HSLRuntimeError, _call, mail, "appendPart", b"not a part")

    def test_snapshotsAndModifyContent(self):
        """snapshot/restore by id; modifyContent returns the message for chaining."""
        mail = _static(self.MailMessage, "String", b"Subject: a\r\n\r\nbody\r\n")
        sid = _call(mail, "snapshot")
        self.assertIs(_call(mail, "modifyContent", 14.0, 4.0, b"BODY"), mail)
        self.assertEqual(_call(mail, "toString"), b"Subject: a\r\n\r\nBODY\r\n")
        self.assertIs(_call(mail, "restore", sid), True)
        self.assertIs(_call(mail, "restore", 99.0), False)
        self.assertEqual(_call(mail, "toString"), b"Subject: a\r\n\r\nbody\r\n")
        self.assertEqual(_call(mail, "setDateLater"), 1.0)
        self.assertTrue(_call(mail, "toString").startswith(b"Date: "))

    def test_errorsAndOptions(self):
        """getErrors names bad_header and unclosed_boundary; unknown options are errors."""
        broken = _static(self.MailMessage, "String", corpus.UNCLOSED)
        self.assertEqual(_call(broken, "getErrors").to_list(), [b"unclosed_boundary"])
        self.assertRaises(HSLRuntimeError, _call, broken, "getHeader", b"x", _opts(nope=1))
        self.assertRaises(HSLRuntimeError, _call, broken, "getHeader", b"x", b"not an array")
        self.assertRaises(HSLRuntimeError, MIMEPart)

    def test_fileStatic(self):
        """MailMessage::File reads a File object from its start."""
        source = _FileLike(corpus.PLAIN)
        mail = _static(self.MailMessage, "File", source)
        self.assertEqual(_call(mail, "toString"), corpus.PLAIN)
        self.assertRaises(HSLRuntimeError, _static, self.MailMessage, "File", b"a string")

    def test_toFile(self):
        """toFile hands the serialised message to the stdlib's File class."""
        if "File" not in core.classes:
            raise unittest.SkipTest("the File class has not landed in the stdlib yet")
        file = _call(self.mail, "toFile")
        self.assertEqual(core.classes["File"].hsl_class_name, type(file).hsl_class_name)


class BuilderTests(unittest.TestCase):
    def setUp(self):
        self.MIME = Host().namespace()["MIME"]

    def test_manualExample(self):
        """The manual's multipart/alternative example renders a message mail clients read."""
        part = self.MIME()
        _call(part, "setType", b"multipart/alternative")
        _call(part, "appendPart", _call(_call(self.MIME(), "setType", b"text/plain"), "setBody", b"*Hello World*"))
        _call(part, "appendPart", _call(_call(self.MIME(), "setType", b"text/html"), "setBody", b"<strong>Hello World</strong>"))
        out = _call(part, "toString")
        parsed = email.message_from_bytes(out, policy=email.policy.default)
        self.assertEqual(parsed.get_content_type(), "multipart/alternative")
        self.assertEqual([p.get_content() for p in parsed.iter_parts()], ["*Hello World*", "<strong>Hello World</strong>"])
        self.assertEqual(parsed["MIME-Version"], "1.0")

    def test_chainingExample(self):
        """MIME()->addHeader("Subject", "Hello")->setBody("Hello World")->toString() is a text/plain utf-8 message."""
        out = _call(_call(_call(self.MIME(), "addHeader", b"Subject", b"Hello"), "setBody", b"Hello World"), "toString")
        parsed = email.message_from_bytes(out, policy=email.policy.default)
        self.assertEqual(parsed["subject"], "Hello")
        self.assertEqual(parsed.get_content_type(), "text/plain")
        self.assertEqual(parsed.get_content_charset(), "utf-8")
        self.assertEqual(parsed.get_content(), "Hello World\r\n")

    def test_attachmentAndDate(self):
        """setFileName makes an attachment (RFC 2231 for non-ASCII), setDisposition changes it, setDate adds Date."""
        mime_obj = self.MIME()
        _call(mime_obj, "setType", b"application/pdf")
        _call(mime_obj, "setBody", corpus.PDF)
        _call(mime_obj, "setFileName", "offert våren.pdf".encode())
        _call(mime_obj, "setDate", 0.0)
        parsed = email.message_from_bytes(_call(mime_obj, "toString"), policy=email.policy.default)
        self.assertEqual(parsed.get_filename(), "offert våren.pdf")
        self.assertEqual(parsed.get_content_disposition(), "attachment")
        self.assertEqual(parsed.get_content(), corpus.PDF)
        self.assertEqual(email.utils.parsedate_to_datetime(parsed["date"]).timestamp(), 0)
        _call(mime_obj, "setDisposition", b"inline")
        self.assertIn(b"Content-Disposition: inline; filename*=", _call(mime_obj, "toString"))

    def test_explicitHeaders(self):
        """An added Content-Type wins over setType; an added Content-Transfer-Encoding means no encoding."""
        mime_obj = self.MIME()
        _call(mime_obj, "addHeader", b"Content-Type", b"text/x-custom")
        _call(mime_obj, "addHeader", b"Content-Transfer-Encoding", b"8bit")
        _call(mime_obj, "setBody", "räksmörgås\r\n".encode())
        out = _call(mime_obj, "toString")
        self.assertEqual(out.count(b"Content-Type"), 1)
        self.assertTrue(out.endswith("\r\n\r\nräksmörgås\r\n".encode()))

    def test_boundaryAndPreamble(self):
        """setBoundary is used; a body on a multipart is its preamble."""
        outer = self.MIME()
        _call(outer, "setType", b"multipart/mixed")
        _call(outer, "setBoundary", b"my-boundary")
        _call(outer, "setBody", b"preamble text")
        _call(outer, "appendPart", _call(self.MIME(), "setBody", b"x"))
        root = mime.parse(_call(outer, "toString")).root
        self.assertEqual(root.type_param("boundary"), "my-boundary")
        self.assertEqual(root.preamble, b"preamble text")
        self.assertEqual(root.children[0].body(), b"x")


class ServiceTests(unittest.TestCase):
    def setUp(self):
        self.host = Host()
        ns = self.host.namespace()
        self.MailMessage, self.MIME = ns["MailMessage"], ns["MIME"]

    def test_unavailable(self):
        """Without the services, send/queue/signDKIM/verifyDKIM raise 'not available here'."""
        mail = _static(self.MailMessage, "String", corpus.PLAIN)
        for name, args in [("send", (b"a", HSLArray(), b"b")), ("queue", (b"a", b"b", b"t")), ("signDKIM", (b"s", b"d", b"k")), ("verifyDKIM", (b"h",))]:
            with self.assertRaises(HSLNotAvailable) as caught:
                _call(mail, name, *args)
            self.assertIn("%s() is not available here" % name, str(caught.exception))
        self.assertRaises(HSLNotAvailable, _call, self.MIME(), "send", b"a", HSLArray(), b"b")
        unbound = core.classes["MailMessage"](mime.parse(corpus.PLAIN))
        self.assertRaises(HSLNotAvailable, _call, unbound, "queue", b"a", b"b", b"t")

    def test_delegation(self):
        """send/queue get the message model and the script's arguments; signDKIM adds the returned header."""
        smtp, queue = _Recorder(HSLArray({b"result": True})), _Recorder(HSLArray({b"id": b"x"}))
        dkim = _Recorder((b"DKIM-Signature", b"v=1; a=rsa-sha256; b=abc"))
        self.host.services.update({"smtp": smtp, "queue": queue, "dkim": dkim})
        mail = _static(self.MailMessage, "String", corpus.PLAIN)
        self.assertEqual(_call(mail, "send", b"a@b", HSLArray.from_list([b"c@d"]), b"mx").get(b"result"), True)
        name, args = smtp.calls[0]
        self.assertEqual(name, "send")
        self.assertIs(args[0], mail.message)
        self.assertEqual(args[1:3], (b"a@b", HSLArray.from_list([b"c@d"])))
        _call(mail, "queue", b"a@b", b"c@d", b"outbound", _opts(hold=True))
        self.assertEqual(queue.calls[0][1][3], b"outbound")
        self.assertIs(_call(mail, "signDKIM", b"sel", b"example.com", b"key"), mail)
        self.assertTrue(_call(mail, "toString").startswith(b"DKIM-Signature: v=1; a=rsa-sha256; b=abc\n"))
        self.assertEqual(_call(mail, "signDKIM", b"s", b"d", b"k", _opts(return_header=True)), b"v=1; a=rsa-sha256; b=abc")
        built = _call(self.MIME(), "setBody", b"hi")
        _call(built, "queue", b"", b"c@d", b"outbound")
        self.assertEqual(queue.calls[1][1][0].root.body(), b"hi\r\n")
        _call(built, "signDKIM", b"s", b"d", b"k")
        self.assertTrue(_call(built, "toString").startswith(b"DKIM-Signature: v=1"))

    def test_fromModel(self):
        """Python code wraps a parsed message with from_model; subclasses work the same way."""

        class EODMailMessage(core.classes["MailMessage"]):
            hsl_methods = dict(core.classes["MailMessage"].hsl_methods)

        message = mime.parse(corpus.PLAIN)
        obj = EODMailMessage.from_model(message, self.host)
        self.assertIs(obj.message, message)
        self.assertIs(obj.hsl_host, self.host)
        self.assertEqual(_call(obj, "getHeader", b"from"), b"Alice Example <alice@example.org>")


class _FileLike(HSLObject):
    """Stands in for the stdlib's File class (not landed yet): read/seek as scripts see them."""

    hsl_methods = {"read": "read", "seek": "seek"}

    def __init__(self, data):
        self._data = data
        self._pos = len(data)

    def seek(self, offset):
        self._pos = int(offset)
        return float(self._pos)

    def read(self, length=None):
        end = len(self._data) if length is None else self._pos + int(length)
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk


class ValidationTests(unittest.TestCase):
    def test_headerNames(self):
        """Header names with spaces, colons or non-ASCII are refused before they can break the header block."""
        ns = Host().namespace()
        mail = _static(ns["MailMessage"], "String", corpus.PLAIN)
        for bad in (b"X A", b"X:A", b"", "Å".encode()):
            self.assertRaises(HSLRuntimeError, _call, mail, "addHeader", bad, b"v")
            self.assertRaises(HSLRuntimeError, _call, mail, "setHeader", bad, b"v")
            self.assertRaises(HSLRuntimeError, _call, ns["MIME"](), "addHeader", bad, b"v")
        self.assertRaises(HSLRuntimeError, _call, mail, "renameHeader", b"subject", b"a b")
        self.assertEqual(_call(mail, "toString"), corpus.PLAIN)

    def test_valueCannotInjectHeaders(self):
        """With encoding on, line breaks in a value cannot start a new header field."""
        ns = Host().namespace()
        mail = _static(ns["MailMessage"], "String", corpus.PLAIN)
        _call(mail, "addHeader", b"X-A", b"one\r\nBcc: victim@example.com")
        self.assertNotIn("bcc", mime.parse(_call(mail, "toString")).root.header_names())

    def test_declaredMultipartType(self):
        """A Content-Type added with its own boundary is the one the parts are separated with."""
        ns = Host().namespace()
        outer = ns["MIME"]()
        _call(outer, "addHeader", b"Content-Type", b'multipart/related; boundary="rel-1"')
        _call(outer, "appendPart", _call(ns["MIME"](), "setBody", b"a"))
        root = mime.parse(_call(outer, "toString")).root
        self.assertEqual(root.content_type, "multipart/related")
        self.assertEqual([c.body() for c in root.children], [b"a"])
