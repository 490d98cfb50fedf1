"""Changes: each touches only its bytes, results parse, and changes can be undone."""

import email
import email.policy
import email.utils

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from halon import mime
from tests.mime import corpus


def _reparse(data):
    return mime.parse(data)


def _email(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def _builder(body=b"disclaimer", ctype="text/plain"):
    b = mime.MIMEBuilder()
    b.set_type(ctype)
    b.set_body(body)
    return b


class HeaderChangeTests(unittest.TestCase):
    def setUp(self):
        self.data = corpus.crlf(corpus.PLAIN)
        self.message = mime.parse(self.data)
        self.root = self.message.root

    def test_addHeaderAtTop(self):
        """addHeader inserts at the top; the later addition comes first; nothing else changes."""
        self.root.add_header("X-First", "1")
        self.root.add_header("X-Second", "2")
        out = self.message.to_bytes()
        self.assertEqual(out, b"X-Second: 2\r\nX-First: 1\r\n" + self.data)

    def test_addHeaderEncodesAndFolds(self):
        """Non-ASCII words become encoded words, addresses stay readable, long values fold below 78 columns."""
        self.root.add_header("Subject", "Fålk rapport " + "ord " * 30)
        self.root.add_header("From", "Björn <bjorn@example.com>")
        out = self.message.to_bytes()
        top = _reparse(out).root
        self.assertEqual(top.get_header("subject"), ("Fålk rapport " + "ord " * 30).strip())
        self.assertEqual(top.get_header("from"), "Björn <bjorn@example.com>")
        self.assertIn(b"<bjorn@example.com>", top.get_field("from"))
        for line in out.split(b"\r\n\r\n")[0].split(b"\r\n"):
            self.assertLessEqual(len(line), 78)
        self.assertEqual(str(_email(out)["from"].addresses[0].addr_spec), "bjorn@example.com")

    def test_addHeaderRaw(self):
        """With encode false the value goes in as given (only its line endings adapted)."""
        self.root.add_header("DKIM-Signature", "v=1; a=rsa-sha256;\n\tb=abc", encode=False)
        self.assertTrue(self.message.to_bytes().startswith(b"DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\nReturn-Path"))

    def test_setHeaderReplacesInPlace(self):
        """setHeader rewrites the field where it is (named as the script wrote it); other bytes stay."""
        self.assertEqual(self.root.set_header("Subject", "Dinner instead"), 1)
        out = self.message.to_bytes()
        self.assertEqual(out, self.data.replace(b"Subject: Lunch tomorrow?", b"Subject: Dinner instead"))

    def test_setHeaderAllOrIndex(self):
        """setHeader sets every same-named field, or only the one at index; a missing index sets none."""
        message = mime.parse(b"Received: a\r\nReceived: b\r\nTo: x\r\n\r\nbody\r\n")
        self.assertEqual(message.root.set_header("received", "c", index=1), 1)
        self.assertEqual(message.to_bytes(), b"Received: a\r\nreceived: c\r\nTo: x\r\n\r\nbody\r\n")
        self.assertEqual(message.root.set_header("received", "d", index=5), 0)
        self.assertEqual(message.root.set_header("Received", "e"), 2)
        self.assertEqual(message.to_bytes(), b"Received: e\r\nReceived: e\r\nTo: x\r\n\r\nbody\r\n")

    def test_setHeaderCreates(self):
        """setHeader on an absent header adds it at the top."""
        self.assertEqual(self.root.set_header("X-New", "v"), 1)
        self.assertEqual(self.message.to_bytes(), b"X-New: v\r\n" + self.data)

    def test_delHeader(self):
        """delHeader removes all same-named fields (folded lines too), or one by index."""
        self.assertEqual(self.root.del_header("received"), 1)
        self.assertEqual(self.root.del_header("x-none"), 0)
        out = self.message.to_bytes()
        self.assertNotIn(b"Received", out)
        self.assertNotIn(b"ESMTPS", out)
        self.assertTrue(out.startswith(b"Return-Path: <alice@example.org>\r\nFrom:"))
        message = mime.parse(b"A: 1\nA: 2\nA: 3\n\n")
        self.assertEqual(message.root.del_header("a", index=1), 1)
        self.assertEqual(message.to_bytes(), b"A: 1\nA: 3\n\n")

    def test_renameHeader(self):
        """renameHeader changes only the names, values and folding untouched."""
        self.assertEqual(self.root.rename_header("received", "X-Old-Received"), 1)
        out = self.message.to_bytes()
        self.assertEqual(out, self.data.replace(b"Received:", b"X-Old-Received:"))

    def test_setDateLater(self):
        """setDateLater replaces Date with one made when the message is serialised."""
        self.assertEqual(self.root.set_date_later(), 1)
        out = self.message.to_bytes()
        self.assertNotIn(b"Tue, 14 May 2024 09:12:00", out)
        self.assertIsNotNone(email.utils.parsedate_tz(_reparse(out).root.get_header("date")))
        message = mime.parse(b"Subject: x\n\nbody\n")
        message.root.set_date_later()
        self.assertTrue(message.to_bytes().startswith(b"Date: "))
        self.assertTrue(message.to_bytes().endswith(b"\nSubject: x\n\nbody\n"))

    def test_lfMessagesStayLF(self):
        """In an LF message new text uses LF too."""
        message = mime.parse(corpus.PLAIN)
        message.root.add_header("X-A", "b")
        message.root.set_body("Ny text, åäö\n".encode())
        self.assertNotIn(b"\r", message.to_bytes())


class BodyChangeTests(unittest.TestCase):
    def test_setBodyChoosesEncoding(self):
        """setBody picks 7bit, quoted-printable or base64 and sets Content-Transfer-Encoding to match."""
        for body, cte in [
            (b"plain ascii\n", None),
            ("mostly text with å and ö\n".encode(), "quoted-printable"),
            (bytes(range(256)), "base64"),
        ]:
            message = mime.parse(corpus.crlf(corpus.PLAIN))
            self.assertTrue(message.root.set_body(body))
            out = message.to_bytes()
            root = _reparse(out).root
            self.assertEqual(root.get_header("content-transfer-encoding"), cte)
            self.assertEqual(root.body(), body.replace(b"\n", b"\r\n") if cte != "base64" else body)
            self.assertTrue(out.startswith(corpus.crlf(corpus.PLAIN).split(b"\r\n\r\n")[0]))

    def test_setBodyReplacesExistingEncoding(self):
        """An existing Content-Transfer-Encoding field is rewritten in place."""
        message = mime.parse(corpus.MIXED)
        pdf = message.root.get_by_id("1.2")
        pdf.set_body(b"short text now\n")
        out = message.to_bytes()
        part = _reparse(out).root.get_by_id("1.2")
        self.assertEqual(part.get_header("content-transfer-encoding"), "7bit")
        self.assertEqual(part.body(), b"short text now")
        self.assertEqual(part.filename, "offert.pdf")
        self.assertEqual(_reparse(out).root.get_by_id("1.3").body(), corpus.PNG)

    def test_setBodyRaw(self):
        """With encode false the data is the body as is and the headers stay."""
        message = mime.parse(corpus.PLAIN)
        message.root.set_body(b"=C3=A5 raw\n", encode=False)
        self.assertTrue(message.to_bytes().endswith(b"\n\n=C3=A5 raw\n"))
        self.assertNotIn(b"Content-Transfer-Encoding", message.to_bytes())

    def test_setBodyWithoutSeparator(self):
        """A header-only message gets the blank line before its new body."""
        message = mime.parse(corpus.HEADERS_ONLY)
        message.root.set_body(b"now a body\n")
        self.assertEqual(message.to_bytes(), corpus.HEADERS_ONLY + b"\nnow a body\n")

    def test_setBodyOnMultipart(self):
        """setBody on a multipart refuses (use the preamble)."""
        message = mime.parse(corpus.MIXED)
        self.assertFalse(message.root.set_body(b"x"))
        self.assertEqual(message.changes, 0)

    def test_preambleAndEpilogue(self):
        """Preamble and epilogue are replaced without touching the parts."""
        message = mime.parse(corpus.PADDED)
        self.assertTrue(message.root.set_preamble(b"new preamble"))
        self.assertTrue(message.root.set_epilogue(b"new epilogue\n"))
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.preamble, b"new preamble")
        self.assertEqual(root.epilogue, b"new epilogue\n")
        self.assertEqual([c.body() for c in root.children], [b"one\n--simplenot a delimiter", b"two"])
        self.assertFalse(mime.parse(corpus.PLAIN).root.set_preamble(b"x"))
        self.assertFalse(mime.parse(corpus.PLAIN).root.set_epilogue(b"x"))

    def test_preambleWhenNone(self):
        """A multipart starting straight with a delimiter gets a preamble line; removing it works too."""
        message = mime.parse(corpus.FORWARD)
        message.root.set_preamble(b"This is MIME.")
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.preamble, b"This is MIME.")
        self.assertEqual(len(root.children), 2)
        message = mime.parse(corpus.MIXED)
        message.root.set_preamble(b"")
        self.assertEqual(_reparse(message.to_bytes()).root.preamble, b"")

    def test_epilogueClosesUnclosed(self):
        """Setting the epilogue of an unclosed multipart closes it."""
        message = mime.parse(corpus.UNCLOSED)
        message.root.set_epilogue(b"the end\n")
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.errors, [])
        self.assertEqual(root.epilogue, b"the end\n")
        self.assertEqual(len(root.children), 2)


class StructureChangeTests(unittest.TestCase):
    def test_appendAndPrepend(self):
        """Parts are appended before the close delimiter and prepended before the first, in call order."""
        data = corpus.crlf(corpus.MIXED)
        message = mime.parse(data)
        message.root.append_part(_builder(b"A1"))
        message.root.append_part(_builder(b"A2"))
        message.root.prepend_part(_builder(b"P1"))
        message.root.prepend_part(_builder(b"P2"))
        out = message.to_bytes()
        root = _reparse(out).root
        bodies = [c.body() for c in root.children]
        self.assertEqual(bodies[0], b"P2")
        self.assertEqual(bodies[1], b"P1")
        self.assertEqual(bodies[-2:], [b"A1", b"A2"])
        self.assertEqual(root.children[3].body(), corpus.PDF)
        self.assertEqual(len(_email(out).get_payload()), 7)
        self.assertTrue(out.startswith(data[: data.index(b"------=_Part")]))

    def test_appendWrapsSinglePart(self):
        """Appending to a single part makes it multipart/mixed; the old content is the first part."""
        message = mime.parse(corpus.crlf(corpus.EIGHTBIT))
        self.assertTrue(message.root.append_part(_builder(b"footer one")))
        self.assertTrue(message.root.append_part(_builder(b"footer two")))
        self.assertTrue(message.root.prepend_part(_builder(b"header")))
        out = message.to_bytes()
        root = _reparse(out).root
        self.assertEqual(root.content_type, "multipart/mixed")
        self.assertEqual(root.errors, [])
        self.assertEqual(root.get_header("subject"), "Résumé of the café meeting")
        kids = root.children
        self.assertEqual([k.body() for k in kids[:1] + kids[2:]], [b"header", b"footer one", b"footer two"])
        self.assertEqual(kids[1].get_header("content-transfer-encoding"), "8bit")
        self.assertIn("Naïve café", kids[1].body().decode())
        parsed = _email(out)
        self.assertEqual([p.get_content_type() for p in parsed.iter_parts()], ["text/plain"] * 4)

    def test_appendWrapWithType(self):
        """The wrapping multipart's type can be chosen, and MIME-Version is added when missing."""
        message = mime.parse(b"Subject: x\n\nhello\n")
        message.root.append_part(_builder(b"<b>hi</b>", "text/html"), "multipart/alternative")
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.content_type, "multipart/alternative")
        self.assertEqual(root.get_header("mime-version"), "1.0")
        self.assertEqual([c.body() for c in root.children], [b"hello", b"<b>hi</b>"])

    def test_appendToNestedPart(self):
        """Wrapping a nested single part keeps the parent's structure."""
        message = mime.parse(corpus.FORWARD)
        message.root.get_by_id("1.1").append_part(_builder(b"note"))
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.get_by_id("1.1").content_type, "multipart/mixed")
        self.assertEqual([c.body() for c in root.get_by_id("1.1").children], [b"See below.", b"note"])
        self.assertEqual(root.get_by_id("1.2.1.2").filename, "data.csv")
        self.assertEqual(sum(1 for p in root.walk() if p.errors), 0)

    def test_appendParsedPart(self):
        """A part of a parsed message can be added to another message."""
        source = mime.parse(corpus.MIXED)
        message = mime.parse(corpus.crlf(corpus.FORWARD))
        message.root.append_part(source.root.get_by_id("1.2"))
        part = _reparse(message.to_bytes()).root.children[-1]
        self.assertEqual(part.filename, "offert.pdf")
        self.assertEqual(part.body(), corpus.PDF)

    def test_remove(self):
        """remove() cuts a part with its delimiter line; the rest is unchanged."""
        message = mime.parse(corpus.crlf(corpus.MIXED))
        message.root.get_by_id("1.2").remove()
        out = message.to_bytes()
        root = _reparse(out).root
        self.assertEqual([c.content_type for c in root.children], ["multipart/alternative", "image/png"])
        self.assertEqual(root.children[1].body(), corpus.PNG)
        self.assertNotIn(b"offert.pdf", out)
        self.assertFalse(message.root.remove())

    def test_removeLastAndAppend(self):
        """Removing the last part and appending another gives a well-formed multipart."""
        message = mime.parse(corpus.MIXED)
        message.root.get_by_id("1.3").remove()
        message.root.append_part(_builder(b"instead"))
        root = _reparse(message.to_bytes()).root
        self.assertEqual([c.id for c in root.children], ["1.1", "1.2", "1.3"])
        self.assertEqual(root.children[2].body(), b"instead")
        self.assertEqual(root.errors, [])

    def test_removeInsideRemoved(self):
        """Changes inside a removed part go with it."""
        message = mime.parse(corpus.MIXED)
        message.root.get_by_id("1.1.1").set_header("X-Gone", "1")
        message.root.get_by_id("1.1").remove()
        self.assertNotIn(b"X-Gone", message.to_bytes())

    def test_replacePart(self):
        """replacePart swaps a nested part; on the message itself it keeps the envelope headers."""
        message = mime.parse(corpus.MIXED)
        message.root.get_by_id("1.2").replace_part(_builder(b"replaced"))
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.children[1].body(), b"replaced")
        self.assertIsNone(root.children[1].filename)
        message = mime.parse(corpus.crlf(corpus.MIXED))
        message.root.replace_part(_builder(b"all new"))
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.content_type, "text/plain")
        self.assertEqual(root.body(), b"all new\r\n")
        self.assertEqual(root.get_header("subject"), "Offert för våren 2024")

    def test_removeEncapsulated(self):
        """Removing a forwarded message empties its message/rfc822 part."""
        message = mime.parse(corpus.FORWARD)
        message.root.get_by_id("1.2.1").remove()
        root = _reparse(message.to_bytes()).root
        self.assertEqual(root.get_by_id("1.2").content_type, "message/rfc822")
        self.assertEqual(root.get_by_id("1.2").children, [])


class ChangeListTests(unittest.TestCase):
    def test_snapshotRestoreReset(self):
        """snapshot/restore return to earlier states; reset drops all changes and counts them."""
        data = corpus.MIXED
        message = mime.parse(data)
        message.root.add_header("X-1", "a")
        first = message.snapshot()
        after_first = message.to_bytes()
        message.root.get_by_id("1.2").remove()
        second = message.snapshot()
        after_second = message.to_bytes()
        message.root.set_header("subject", "z")
        self.assertTrue(message.restore(first))
        self.assertEqual(message.to_bytes(), after_first)
        message.root.add_header("X-2", "b")
        self.assertTrue(message.restore(second))
        self.assertEqual(message.to_bytes(), after_second)
        self.assertFalse(message.restore(99))
        self.assertEqual(message.reset(), 2)
        self.assertEqual(message.to_bytes(), data)
        self.assertEqual(message.reset(), 0)

    def test_restoreForgetsWrap(self):
        """After a restore past a wrap, the next append wraps afresh (one multipart, not nested ones)."""
        message = mime.parse(b"Subject: x\n\nhello\n")
        sid = message.snapshot()
        message.root.append_part(_builder(b"one"))
        message.restore(sid)
        message.root.append_part(_builder(b"two"))
        root = _reparse(message.to_bytes()).root
        self.assertEqual([c.body() for c in root.children], [b"hello", b"two"])

    def test_modifyContent(self):
        """modifyContent patches original offsets and combines with other changes."""
        data = b"Subject: hello\n\nbody text\n"
        message = mime.parse(data)
        start = data.index(b"body")
        message.modify_content(start, 4, b"BODY")
        message.root.add_header("X-A", "1")
        self.assertEqual(message.to_bytes(), b"X-A: 1\nSubject: hello\n\nBODY text\n")
        message.modify_content(10**9, 5, b"!")
        self.assertTrue(message.to_bytes().endswith(b"text\n!"))

    def test_sameFieldLastWins(self):
        """Two changes to one field: the later wins (set after delete, delete after set)."""
        message = mime.parse(b"Subject: a\nTo: b\n\n")
        message.root.del_header("subject")
        message.root.set_header("Subject", "c")
        self.assertEqual(message.to_bytes(), b"Subject: c\nTo: b\n\n")
        message.root.del_header("subject")
        self.assertEqual(message.to_bytes(), b"To: b\n\n")

    def test_onlyTouchedBytesChange(self):
        """A header change leaves every other byte, in particular the bodies, as received."""
        data = corpus.crlf(corpus.MIXED)
        message = mime.parse(data)
        message.root.get_by_id("1.3").set_header("Content-ID", "<new@example.se>")
        out = message.to_bytes()
        old = b"Content-ID: <logo@example.se>\r\n"
        new = b"Content-ID: <new@example.se>\r\n"
        self.assertEqual(out, data.replace(old, new))

    def test_writeWithChanges(self):
        """write_file streams the changed message."""
        message = mime.parse(corpus.PLAIN)
        message.root.add_header("X-A", "1")
        path = self.mktemp()
        self.assertEqual(message.write_file(path), len(corpus.PLAIN) + 7)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"X-A: 1\n" + corpus.PLAIN)


_OPERATIONS = [
    lambda p, b: p.add_header("X-Fuzz", "vä"),
    lambda p, b: p.set_header("Content-Type", "text/plain"),
    lambda p, b: p.del_header("content-transfer-encoding"),
    lambda p, b: p.rename_header("subject", "X-Old-Subject"),
    lambda p, b: p.set_body(b"new body \xe5\n"),
    lambda p, b: p.set_preamble(b"pre"),
    lambda p, b: p.set_epilogue(b"epi"),
    lambda p, b: p.append_part(b),
    lambda p, b: p.prepend_part(b),
    lambda p, b: p.replace_part(b),
    lambda p, b: p.remove(),
    lambda p, b: p.set_date_later(),
]


class FuzzTests(unittest.TestCase):
    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(sorted(corpus.CORPUS)),
        st.booleans(),
        st.lists(st.tuples(st.integers(0, 50), st.integers(0, len(_OPERATIONS) - 1)), max_size=8),
    )
    def test_anyChangesStayParseable(self, name, wire, steps):
        """Any sequence of changes on any corpus message serialises, parses again, and resets to the original."""
        data = corpus.CORPUS[name]
        data = corpus.crlf(data) if wire else data
        message = mime.parse(data)
        parts = list(message.root.walk())
        for index, op in steps:
            _OPERATIONS[op](parts[index % len(parts)], _builder(b"fuzz"))
        out = message.to_bytes()
        again = mime.parse(out)
        for part in again.root.walk():
            part.body()
            part.header_names()
        self.assertEqual(mime.parse(out).to_bytes(), out)
        message.reset()
        self.assertEqual(message.to_bytes(), data)
