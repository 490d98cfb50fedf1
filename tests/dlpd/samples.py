"""Real files made at test time: PDFs, PNGs, zips (nested, encrypted), and messages carrying them."""

import io
import shutil
import struct
import zipfile
import zlib
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

VISA = "4111 1111 1111 1111"
MASTERCARD = "5500-0000-0000-0004"
AMEX = "378282246310005"
BAD_LUHN = "4111 1111 1111 1112"
IBAN_GB = "GB82 WEST 1234 5698 7654 32"
IBAN_DE = "DE89370400440532013000"
BAD_IBAN = "GB82WEST12345698765433"


def pdf(text):
    """A one-page PDF whose page draws C{text}, with a Flate-compressed content stream."""
    content = zlib.compress(b"BT /F1 12 Tf 72 712 Td (%s) Tj ET" % text.encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (i, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def png(width=4, height=4):
    """A real PNG image (grey gradient)."""

    def chunk(kind, data):
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x * 40) % 256 for x in range(width)) for _ in range(height))
    header = struct.pack("!IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def executable():
    """A real ELF executable from the system."""
    with open(shutil.which("true"), "rb") as f:
        return f.read()


def zip_of(files, encrypt=()):
    """A zip of {name: bytes}; members named in C{encrypt} get the encrypted flag set."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    data = bytearray(out.getvalue())
    for name in encrypt:
        raw = name.encode()
        for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
            pos = data.find(signature)
            while pos >= 0:
                if bytes(data[pos + name_offset : pos + name_offset + len(raw)]) == raw:
                    data[pos + flag_offset] |= 1
                pos = data.find(signature, pos + 4)
    return bytes(data)


def nested_zip(depth, inner_name="secret.txt", inner=b"nothing here"):
    """A zip in a zip ... C{depth} levels deep around one file."""
    data, name = zip_of({inner_name: inner}), "level%d.zip" % depth
    for level in range(depth - 1, 0, -1):
        data, name = zip_of({name: data}), "level%d.zip" % level
    return data


def message(text="Hello", attachments=(), subject="Report"):
    """A multipart message: a text part and (filename, bytes, maintype/subtype) attachments."""
    msg = MIMEMultipart()
    msg["Subject"] = subject
    msg["From"] = "alice@example.com"
    msg["To"] = "bob@example.org"
    msg.attach(MIMEText(text, "plain", "utf-8"))
    for filename, data, ctype in attachments:
        maintype, subtype = ctype.split("/")
        part = MIMEImage(data, subtype) if maintype == "image" else MIMEApplication(data, subtype)
        part.add_header("Content-Disposition", "attachment", filename=filename)
        msg.attach(part)
    return msg.as_bytes()
