"""The MIME walk on hand-written messages, including broken ones."""

import re

from twisted.trial import unittest

from halon.dlpd.walk import walk
from tests.dlpd import samples

NESTED = b"""\
From: a@example.com
Subject: =?utf-8?q?Projekt_F=C3=A5lk?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary="outerinner"

--outerinner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

caf=E9 =
soon
--outerinner
Content-Type: text/html

<p>cafe</p>
--outerinner--
--outer
Content-Type: message/rfc822

Subject: forwarded

inner body
--outer
Content-Type: application/octet-stream; name="a.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.bin

aGVsbG8gd29y
bGQ=
--outer--
epilogue
"""


class WalkTests(unittest.TestCase):
    def items(self, data):
        return {item.partid: item for item in walk(data)}

    def test_structureAndIds(self):
        """Parts get dotted ids depth-first; message/rfc822 is walked under <id>.1."""
        items = self.items(NESTED.replace(b"\n", b"\r\n"))
        self.assertEqual(sorted(items), ["1", "1.1", "1.1.1", "1.1.2", "1.2", "1.2.1", "1.3"])
        self.assertEqual(items["1.1.2"].data, b"<p>cafe</p>")
        self.assertEqual(items["1.2.1"].data.strip(), b"inner body")
        self.assertIn("Subject: forwarded", items["1.2.1"].text())

    def test_transferDecoding(self):
        """Quoted-printable and base64 are undone; the charset decodes the text."""
        items = self.items(NESTED)
        self.assertEqual(items["1.1.1"].data, b"caf\xe9 soon")
        self.assertIn("café soon", items["1.1.1"].text())
        self.assertEqual(items["1.3"].data, b"hello world")

    def test_namesAndEncodedWords(self):
        """RFC 2231 file names and RFC 2047 subjects are decoded."""
        items = self.items(NESTED)
        self.assertEqual(items["1.3"].filename, "résumé.bin")
        self.assertIn("Projekt Fålk", items["1"].text())

    def test_unclosedAndBadBase64(self):
        """A multipart without its closing line and broken base64 still yield their content."""
        data = b'Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGVsbG8=!!x\n'
        items = self.items(data)
        self.assertEqual(items["1.1"].data, b"hello")

    def test_boundaryDigitsAreNotContent(self):
        """A boundary that is a valid card number is structure, not text to scan."""
        data = samples.message("hello")
        boundary = re.search(rb'boundary="([^"]+)"', data).group(1)
        data = data.replace(boundary, b"4111111111111111")
        self.assertIn(b'boundary="4111111111111111"', data)
        self.assertEqual(len(list(walk(data))), 2)
        for item in walk(data):
            self.assertNotIn("4111111111111111", item.text())
