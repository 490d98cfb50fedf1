"""
Unpacking what a part contains: archive members (zip, tar, gzip) and the
compressed streams of a PDF.

Members are written into the scan's own folder under environment.tmpdir
(under generated names, so a member called C{../../etc/passwd} goes nowhere
it should not) and read back for scanning.  Every byte written counts
against the scan's L{Budget}: the number of files, the bytes per file and
in total, so a zip bomb stops at the limit instead of filling the disk.
"""

import gzip
import io
import os
import re
import tarfile
import zipfile
import zlib

CHUNK = 1 << 16


class ArchiveError(Exception):
    """
    A member could not be unpacked; C{code} is the builtin result the scan
    reports (ERR_PASSWORD_PROTECTED, ERR_ARCHIVE_LIMIT, ERR_UNKNOWN_ERROR).
    """

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


class Budget:
    """What one scan may still unpack."""

    def __init__(self, folder, max_files=1000, max_file_size=50 << 20, max_total=200 << 20):
        self.folder = folder
        self.files_left = max_files
        self.max_file_size = max_file_size
        self.bytes_left = max_total
        self._serial = 0

    def write(self, stream, declared=None):
        """Copy C{stream} into a new file in the folder; (path, bytes)."""
        if self.files_left <= 0:
            raise ArchiveError("ERR_ARCHIVE_LIMIT", "too many files in archives")
        if declared is not None and declared > min(self.max_file_size, self.bytes_left):
            raise ArchiveError("ERR_ARCHIVE_LIMIT", "archive member of %d bytes is over the limit" % (declared,))
        self.files_left -= 1
        self._serial += 1
        path = os.path.join(self.folder, "%06d" % (self._serial,))
        size = 0
        with open(path, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_file_size or size > self.bytes_left:
                    raise ArchiveError("ERR_ARCHIVE_LIMIT", "archive member unpacks past the size limit")
                out.write(chunk)
        self.bytes_left -= size
        return path, size


def archive_kind(data, filename, detected_type):
    """"zip", "tar", "gzip" or None, from the content's first bytes and type."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    return None


def members(kind, data, filename, budget):
    """
    (name, path, size) of every regular file in an archive, unpacked into
    the budget's folder; raises L{ArchiveError} at the first member that
    cannot be unpacked (what was unpacked before it is still returned first).
    """
    if kind == "zip":
        return _zip_members(data, budget)
    if kind == "tar":
        return _tar_members(io.BytesIO(data), budget)
    if kind == "gzip":
        return _gzip_members(data, filename, budget)
    return iter(())


def _zip_members(data, budget):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError("ERR_UNKNOWN_ERROR", "bad zip archive: %s" % (e,))
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise ArchiveError("ERR_PASSWORD_PROTECTED", "%s is encrypted" % (info.filename,))
            try:
                with archive.open(info) as stream:
                    path, size = budget.write(stream, info.file_size)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as e:
                raise ArchiveError("ERR_UNKNOWN_ERROR", "%s: %s" % (info.filename, e))
            yield info.filename, path, size


def _tar_members(fileobj, budget):
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArchiveError("ERR_UNKNOWN_ERROR", "bad tar archive: %s" % (e,))
    with archive:
        for info in archive:
            if not info.isreg():
                continue
            stream = archive.extractfile(info)
            path, size = budget.write(stream, info.size)
            yield info.name, path, size


def _gzip_members(data, filename, budget):
    name = filename[:-3] if filename and filename.lower().endswith(".gz") else (filename or "") + ".out"
    if filename and filename.lower().endswith((".tgz", ".tar.gz")):
        yield from _tar_members(io.BytesIO(data), budget)
        return
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            path, size = budget.write(stream)
    except (OSError, EOFError, zlib.error) as e:
        raise ArchiveError("ERR_UNKNOWN_ERROR", "bad gzip data: %s" % (e,))
    yield name, path, size


_PDF_STREAM = re.compile(rb"<<((?:[^<>]|<<[^<>]*>>|<[^<>]*>)*)>>\s*stream\r?\n")
_PDF_TEXT = re.compile(rb"\(((?:[^()\\]+|\\.)*)\)")
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_text(data, limit):
    """
    The text a PDF shows, approximately: its content streams (inflated
    when Flate-compressed, up to C{limit} bytes in all) and the strings
    their text operators draw, so a card number on a page is found even
    though the file itself shows only compressed bytes.
    """
    streams, total = [], 0
    for match in _PDF_STREAM.finditer(data):
        end = data.find(b"endstream", match.end())
        if end < 0:
            break
        raw = data[match.end() : end]
        if b"/FlateDecode" in match.group(1):
            try:
                raw = zlib.decompressobj().decompress(raw, max(1, limit - total))
            except zlib.error:
                continue
        elif b"/Filter" in match.group(1):
            continue
        total += len(raw)
        streams.append(raw)
        if total >= limit:
            break
    strings = [_unescape_pdf(literal) for content in streams for literal in _PDF_TEXT.findall(content)]
    return b"\n".join(streams + strings)


def _unescape_pdf(literal):
    return re.sub(rb"\\([nrtbf()\\])", lambda m: _PDF_ESCAPES.get(m.group(1), m.group(1)), literal)
