"""
Messages shaped like real mail, written here in LF form; C{crlf()} gives
the wire form.  Each one exercises something parsers get wrong: folded and
encoded headers, nested multiparts, base64 and quoted-printable bodies,
8bit text, RFC 2231 file names, a missing final boundary, a forwarded
message, preamble and epilogue, header lines that are not headers.
"""

import base64

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def _b64(data):
    encoded = base64.b64encode(data)
    return b"\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


PLAIN = b"""\
Return-Path: <alice@example.org>
Received: from mail.example.org (mail.example.org [192.0.2.10])
\tby mx.example.com with ESMTPS id 4Xyz123
\tfor <bob@example.com>; Tue, 14 May 2024 09:12:01 +0200
From: Alice Example <alice@example.org>
To: bob@example.com
Subject: Lunch tomorrow?
Date: Tue, 14 May 2024 09:12:00 +0200
Message-ID: <20240514091200.1234@example.org>

Hi Bob,

Lunch at noon tomorrow?

-- 
Alice
"""

MIXED = (
    b"""\
From: "Svensson, Fr=?utf-8?q?=C3=A5?=" <f@example.se>
To: =?utf-8?B?QmrDtnJu?= <bjorn@example.com>,
 =?iso-8859-1?q?J=F6rg?= <jorg@example.de>
Subject: =?utf-8?q?Offert_f=C3=B6r_?=
 =?utf-8?q?v=C3=A5ren_2024?=
MIME-Version: 1.0
Content-Type: multipart/mixed;
 boundary="----=_Part_12345_67890.1715670000000"
X-Long-Header: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb

This is a multi-part message in MIME format.
------=_Part_12345_67890.1715670000000
Content-Type: multipart/alternative; boundary="alt-boundary"

--alt-boundary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hej Bj=C3=B6rn,

Bifogat =C3=A4r offerten. En v=C3=A4ldigt l=C3=A5ng rad som m=C3=A5ste br=
ytas med mjuk radbrytning.
--alt-boundary
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>Hej Bj=C3=B6rn,</p><p>Bifogat =C3=A4r offerten.</p></body></=
html>
--alt-boundary--

------=_Part_12345_67890.1715670000000
Content-Type: application/pdf; name="offert.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="offert.pdf"

"""
    + _b64(PDF)
    + b"""
------=_Part_12345_67890.1715670000000
Content-Type: image/png; name="=?utf-8?q?bild_=C3=A5.png?="
Content-Transfer-Encoding: base64
Content-ID: <logo@example.se>
Content-Disposition: inline;
 filename*0*=utf-8''bild%20%C3%A5;
 filename*1*=.png

"""
    + _b64(PNG)
    + b"""
------=_Part_12345_67890.1715670000000--
"""
)

EIGHTBIT = """\
From: Zoë <zoe@example.net>
To: team@example.net
Subject: Résumé of the café meeting
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Naïve café owners met at the résumé fair. Ça va?
Ünïcödé everywhere: 日本語のテキスト.
""".encode(
    "utf-8"
)

LATIN1_HEADER = (
    b"From: J\xf6rg <jorg@example.de>\n"
    b"Subject: Gr\xfc\xdfe aus K\xf6ln\n"
    b"Content-Type: text/plain; charset=iso-8859-1\n"
    b"\n"
    b"Sch\xf6ne Gr\xfc\xdfe\n"
)

UNCLOSED = b"""\
From: a@example.com
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

first
--b1
Content-Type: text/plain

second, and the sender forgot the close delimiter
"""

FORWARD = b"""\
From: fwd@example.com
Subject: Fwd: report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd"

--fwd
Content-Type: text/plain

See below.
--fwd
Content-Type: message/rfc822

From: orig@example.org
Subject: report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

The report.
--inner
Content-Type: text/csv; name=data.csv
Content-Disposition: attachment; filename=data.csv

a,b
1,2
--inner--
--fwd--
"""

PADDED = b"""\
From: a@example.com
Content-Type: multipart/alternative; boundary=simple

preamble line 1
preamble line 2
--simple  \t
Content-Type: text/plain

one
--simplenot a delimiter
--simple
Content-Type: text/plain

two
--simple--   trailing junk
epilogue line
"""

BAD_HEADER = b"""\
From: a@example.com
Subject: ok
this line is not a header
To: b@example.com

body
"""

HEADERS_ONLY = b"From: a@example.com\nSubject: no body at all\n"

SPACE_BEFORE_COLON = b"From: a@example.com\nSubject : spammy\nX-Empty:\n\nbody\n"

CORPUS = {
    "plain": PLAIN,
    "mixed": MIXED,
    "eightbit": EIGHTBIT,
    "latin1_header": LATIN1_HEADER,
    "unclosed": UNCLOSED,
    "forward": FORWARD,
    "padded": PADDED,
    "bad_header": BAD_HEADER,
    "headers_only": HEADERS_ONLY,
    "space_before_colon": SPACE_BEFORE_COLON,
    "empty": b"",
}


def crlf(data):
    """The wire form: every LF preceded by CR."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def both():
    """(name, message) for every corpus message in LF and in CRLF form."""
    for name, data in sorted(CORPUS.items()):
        yield name + "-lf", data
        yield name + "-crlf", crlf(data)
