"""Parsing: byte-exact round trips, the part tree, header reading, hostile input."""

import email
import email.policy
import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from halon import mime
from tests.mime import corpus


class RoundTripTests(unittest.TestCase):
    def test_corpusRoundTrips(self):
        """Every corpus message, LF and CRLF, serialises unmodified to the very same bytes."""
        for name, data in corpus.both():
            message = mime.parse(data)
            self.assertEqual(message.to_bytes(), data, name)
            self.assertEqual(message.root.to_bytes(), data, name)

    def test_partsRoundTrip(self):
        """Each part's bytes are exactly the slice of the message it came from."""
        data = corpus.crlf(corpus.MIXED)
        message = mime.parse(data)
        for part in message.root.walk():
            self.assertEqual(part.raw_bytes(), data[part.start : part.end])
            self.assertEqual(part.size, part.end - part.start)

    def test_fileRoundTrip(self):
        """A message mapped from a file writes back to a file byte for byte."""
        data = corpus.crlf(corpus.MIXED)
        src = self.mktemp()
        with open(src, "wb") as f:
            f.write(data)
        message = mime.parse_file(src)
        self.addCleanup(message.close)
        dst = self.mktemp()
        self.assertEqual(message.write_file(dst, fsync=True), len(data))
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(message.root.children[1].filename, "offert.pdf")

    def test_emptyFile(self):
        """An empty file parses to an empty message."""
        src = self.mktemp()
        open(src, "wb").close()
        message = mime.parse_file(src)
        self.assertEqual(message.to_bytes(), b"")
        self.assertEqual(message.root.header_names(), [])

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=400))
    def test_anyBytesRoundTrip(self, data):
        """Arbitrary bytes never raise and always round-trip."""
        self.assertEqual(mime.parse(data).to_bytes(), data)

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [b"--b\n", b"--b--\n", b"--c\n", b"Content-Type: multipart/mixed; boundary=c\n", b"\n", b"x: y\n", b" z\n", b"text\n", b"\r\n", b"--b"]
            ),
            max_size=40,
        )
    )
    def test_structuredNoiseRoundTrips(self, lines):
        """Boundary-heavy noise under a multipart header parses without error and round-trips."""
        data = b"Content-Type: multipart/mixed; boundary=b\n\n" + b"".join(lines)
        message = mime.parse(data)
        self.assertEqual(message.to_bytes(), data)
        for part in message.root.walk():
            part.body()
            part.get_header("content-type")


class TreeTests(unittest.TestCase):
    def test_ids(self):
        """Part ids are dotted paths; a forwarded message sits under its message/rfc822 part."""
        message = mime.parse(corpus.FORWARD)
        self.assertEqual(
            [(p.id, p.content_type) for p in message.root.walk()],
            [
                ("1", "multipart/mixed"),
                ("1.1", "text/plain"),
                ("1.2", "message/rfc822"),
                ("1.2.1", "multipart/mixed"),
                ("1.2.1.1", "text/plain"),
                ("1.2.1.2", "text/csv"),
            ],
        )
        self.assertIs(message.root.get_by_id("1.2.1.2"), message.root.children[1].children[0].children[1])
        self.assertIsNone(message.root.get_by_id("1.9"))

    def test_bodiesMatchEmailPackage(self):
        """Decoded leaf bodies agree with Python's email package on every corpus message."""
        for name, data in corpus.both():
            ours = [p for p in mime.parse(data).root.walk() if not p.children and not p.is_multipart]
            theirs = [p for p in email.message_from_bytes(data, policy=email.policy.compat32).walk() if not p.is_multipart()]
            if name.startswith(("forward", "bad_header", "padded", "space_before_colon", "unclosed")):
                # The email package nests rfc822 differently, keeps junk lines,
                # ends headers at "Name :" and drops an unclosed part's last newline.
                continue
            self.assertEqual(len(ours), len(theirs), name)
            for a, b in zip(ours, theirs):
                self.assertEqual(a.body(), b.get_payload(decode=True), name)

    def test_attachments(self):
        """Base64 attachments decode to the original files; names come from RFC 2231 and encoded words."""
        message = mime.parse(corpus.crlf(corpus.MIXED))
        pdf, png = message.root.children[1], message.root.children[2]
        self.assertEqual(pdf.body(), corpus.PDF)
        self.assertEqual(png.body(), corpus.PNG)
        self.assertEqual(png.filename, "bild å.png")
        self.assertEqual(png.type_param("name"), "bild å.png")
        self.assertEqual(pdf.body(decode=False)[:8], b"JVBERi0x")
        self.assertEqual([p.id for p in message.root.find_by_type(_Re("image"))], ["1.3"])
        self.assertEqual([p.id for p in message.root.find_by_filename(_Re(r"\.pdf$"))], ["1.2"])

    def test_quotedPrintable(self):
        """Quoted-printable text decodes, soft line breaks joined."""
        text = mime.parse(corpus.MIXED).root.get_by_id("1.1.1").body().decode("utf-8")
        self.assertIn("väldigt lång rad som måste brytas med mjuk radbrytning.", text)

    def test_preambleEpilogue(self):
        """Preamble and epilogue are the bytes around the delimiters; transport padding is allowed."""
        root = mime.parse(corpus.PADDED).root
        self.assertEqual(root.preamble, b"preamble line 1\npreamble line 2")
        self.assertEqual(root.epilogue, b"epilogue line\n")
        self.assertEqual([c.body() for c in root.children], [b"one\n--simplenot a delimiter", b"two"])
        self.assertIsNone(mime.parse(corpus.PLAIN).root.preamble)
        self.assertIsNone(mime.parse(corpus.PLAIN).root.epilogue)
        self.assertIsNone(root.body())

    def test_unclosedBoundary(self):
        """A multipart without its close delimiter reports unclosed_boundary; its last part runs to the end."""
        root = mime.parse(corpus.UNCLOSED).root
        self.assertEqual(root.errors, ["unclosed_boundary"])
        self.assertEqual(root.children[1].body(), b"second, and the sender forgot the close delimiter\n")
        self.assertEqual(root.epilogue, b"")

    def test_noDelimiterAtAll(self):
        """A multipart with no delimiter line has no parts, all preamble, and the error."""
        root = mime.parse(b"Content-Type: multipart/mixed; boundary=x\n\njust text\n").root
        self.assertEqual(root.children, [])
        self.assertEqual(root.preamble, b"just text\n")
        self.assertEqual(root.errors, ["unclosed_boundary"])

    def test_badHeader(self):
        """A header line that is not a field is bad_header and starts the body."""
        root = mime.parse(corpus.BAD_HEADER).root
        self.assertEqual(root.errors, ["bad_header"])
        self.assertEqual(root.header_names(), ["from", "subject"])
        self.assertEqual(root.body(), b"this line is not a header\nTo: b@example.com\n\nbody\n")


class HeaderTests(unittest.TestCase):
    def test_encodedWordsDecoded(self):
        """Encoded words are decoded, adjacent ones joined, folding removed."""
        root = mime.parse(corpus.crlf(corpus.MIXED)).root
        self.assertEqual(root.get_header("Subject"), "Offert för våren 2024")
        self.assertEqual(root.get_header("to"), "Björn <bjorn@example.com>, Jörg <jorg@example.de>")
        self.assertTrue(root.get_header("x-long-header").startswith("a" * 65 + "  b"))

    def test_rawField(self):
        """The raw field is returned as received, folding and name included."""
        root = mime.parse(corpus.crlf(corpus.MIXED)).root
        self.assertEqual(
            root.get_field("subject"),
            b"Subject: =?utf-8?q?Offert_f=C3=B6r_?=\r\n =?utf-8?q?v=C3=A5ren_2024?=",
        )

    def test_eightBitHeaders(self):
        """Raw 8-bit headers come back as UTF-8: valid UTF-8 as is, else via the part's charset."""
        self.assertEqual(mime.parse(corpus.EIGHTBIT).root.get_header("from"), "Zoë <zoe@example.net>")
        root = mime.parse(corpus.LATIN1_HEADER).root
        self.assertEqual(root.get_header("subject"), "Grüße aus Köln")

    def test_caseAndIndex(self):
        """Names are case-insensitive; index picks among same-named fields from the top."""
        root = mime.parse(b"Received: one\nreceived: two\nRECEIVED: three\n\n").root
        self.assertEqual(root.get_headers("Received"), ["one", "two", "three"])
        self.assertEqual(root.get_header("received", 2), "three")
        self.assertIsNone(root.get_header("received", 3))
        self.assertEqual(root.header_names(), ["received"] * 3)

    def test_spaceBeforeColonAndEmpty(self):
        """'Subject : x' is read as Subject; an empty field has an empty value."""
        root = mime.parse(corpus.SPACE_BEFORE_COLON).root
        self.assertEqual(root.get_header("subject"), "spammy")
        self.assertEqual(root.get_header("x-empty"), "")

    def test_noContentType(self):
        """Without a Content-Type the type is none and the body is the raw body."""
        root = mime.parse(corpus.PLAIN).root
        self.assertIsNone(root.content_type)
        self.assertTrue(root.body().startswith(b"Hi Bob,"))


class HostileInputTests(unittest.TestCase):
    def _parsed(self, data):
        """Parsed and serialised back unchanged; a blow-up would run into trial's timeout."""
        message = mime.parse(data)
        self.assertEqual(message.to_bytes(), data)
        return message

    def test_deepNesting(self):
        """Nesting past MAX_DEPTH stops splitting instead of recursing without end."""
        depth = 5000
        data = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
        message = self._parsed(data)
        deepest = max(len(p.id.split(".")) for p in message.root.walk())
        self.assertEqual(deepest, mime.MAX_DEPTH + 1)

    def test_manyParts(self):
        """Parts beyond MAX_PARTS are left unsplit inside the last part."""
        data = b"Content-Type: multipart/mixed; boundary=b\n\n" + b"--b\n\nx\n" * (mime.MAX_PARTS * 2) + b"--b--\n"
        message = self._parsed(data)
        self.assertLessEqual(sum(1 for _ in message.root.walk()), mime.MAX_PARTS + 1)
        self.assertEqual(message.root.errors, [])

    def test_hugeHeaders(self):
        """A 5 MB header block and a single 5 MB header field parse in linear time."""
        many = b"X-Junk: " + b"y" * 40 + b"\n"
        message = self._parsed(many * 120000 + b"\nbody\n")
        self.assertEqual(len(message.root.fields), mime.MAX_FIELDS)
        self.assertEqual(message.root.errors, ["bad_header"])
        message = self._parsed(b"Subject: " + b"z " * 2500000 + b"\n\nbody\n")
        self.assertEqual(len(message.root.get_header("subject")), 4999999)

    def test_boundaryLookalikes(self):
        """Millions of near-delimiters do not make boundary search quadratic."""
        data = b"Content-Type: multipart/mixed; boundary=b\n\n" + b"x--b" * 1000000 + b"\n--b--\n"
        message = self._parsed(data)
        self.assertEqual(message.root.children, [])

    def test_largeMessage(self):
        """A 20 MB attachment parses and serialises quickly, from bytes and from a file."""
        blob = os.urandom(15 * 1024 * 1024)
        data = corpus.crlf(corpus.MIXED).replace(b"offert.pdf\"\r\n\r\n", b"offert.pdf\"\r\n\r\n" + corpus.crlf(corpus._b64(blob)) + b"\r\n", 1)
        message = self._parsed(data)
        self.assertTrue(message.root.children[1].body().startswith(blob))


class _Re:
    """A minimal compiled-pattern stand-in (find_by_* take anything with search)."""

    def __init__(self, pattern):
        import re

        self._re = re.compile(pattern, re.I)

    def search(self, text):
        return self._re.search(text)


class HelperTests(unittest.TestCase):
    def test_disposition(self):
        """disposition is the Content-Disposition type, lower case, or None."""
        root = mime.parse(corpus.MIXED).root
        self.assertEqual([p.disposition for p in root.walk()], [None, None, None, None, "attachment", "inline"])

    def test_rawChildForDSN(self):
        """A builder part with its own Content-Type and Content-Transfer-Encoding carries a message unchanged."""
        report = mime.MIMEBuilder()
        report.set_type("multipart/report")
        original = mime.MIMEBuilder()
        original.add_header("Content-Type", "message/rfc822")
        original.add_header("Content-Transfer-Encoding", "8bit")
        original.set_body(corpus.crlf(corpus.EIGHTBIT))
        report.append_part(original)
        root = mime.parse(report.render(top=True)).root
        self.assertEqual(root.children[0].children[0].raw_bytes(), corpus.crlf(corpus.EIGHTBIT).rstrip(b"\r\n"))
        self.assertEqual(mime.content_disposition("attachment", "å.txt"), "attachment; filename*=utf-8''%C3%A5.txt")


class DLPInterfaceTests(unittest.TestCase):
    def test_partIdsMatchDLP(self):
        """The part ids dlp() reports (dlpd's MIME walk) are the ids getByID() finds."""
        from halon.dlpd.walk import walk

        for name, data in corpus.both():
            ours = [p.id for p in mime.parse(data).root.walk()]
            self.assertEqual([item.partid for item in walk(data)], ours, name)

    def test_dlpReadsMailMessage(self):
        """dlp() takes a MailMessage or a MIME() and scans its bytes with the changes applied."""
        from halon.hsl.host import Host
        from halon.hsl.stdlib.dlp import message_bytes

        ns = Host().namespace()
        mail = ns["MailMessage"].from_string(corpus.PLAIN)
        mail.add_header(b"X-A", b"1")
        self.assertEqual(message_bytes(mail), b"X-A: 1\n" + corpus.PLAIN)
        self.assertTrue(message_bytes(ns["MIME"]().set_body(b"x")).endswith(b"\r\n\r\nx\r\n"))
