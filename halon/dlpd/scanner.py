"""
Scanning one message: walk its parts, unpack archives, test every rule.

A scan runs on one of dlpd's worker threads and owns a folder under
environment.tmpdir for what it unpacks; the folder is gone when the scan
returns, whatever happened.  The result lists each (part, rule) once, as
the dlp() plugin reports it: C{partid}, the rule's C{name}, and the file's
name inside archives.  Trouble met on the way is reported the same way,
under builtin names: ERR_PASSWORD_PROTECTED, ERR_RECURSION_LIMIT,
ERR_ARCHIVE_LIMIT, ERR_UNKNOWN_ERROR.
"""

import os
import shutil
import tempfile
import threading
import time

import magic

from halon.dlpd import extract
from halon.dlpd.rules import ScanItem
from halon.dlpd.walk import walk

MAGIC_BYTES = 256 * 1024
# Content whose bytes hold no text worth searching: its name, type, size
# and digests are still tested, and archives are unpacked and searched.
OPAQUE_TYPES = ("image/", "audio/", "video/", "font/")


class TimeLimit(Exception):
    pass


class FileTypes:
    """libmagic MIME types; one handle per thread, as libmagic handles are not thread-safe."""

    def __init__(self):
        self._local = threading.local()

    def __call__(self, data):
        if not data:
            return None
        handle = getattr(self._local, "magic", None)
        if handle is None:
            handle = self._local.magic = magic.Magic(mime=True)
        try:
            return handle.from_buffer(data[:MAGIC_BYTES])
        except magic.MagicException:
            return None


class ScanResult:
    """
    @ivar matches: [{"partid", "name"} (+ "filename" inside archives)] in the order found.
    @ivar error: why the scan stopped early, or C{None}.
    @ivar items: how many parts and files were tested.
    """

    def __init__(self):
        self.matches = []
        self.error = None
        self.items = 0
        self.extracted = 0
        self._seen = set()

    def add(self, partid, name, filename=None):
        key = (partid, name, filename)
        if key not in self._seen:
            self._seen.add(key)
            match = {"partid": partid, "name": name}
            if filename is not None:
                match["filename"] = filename
            self.matches.append(match)


class Scanner:
    """
    @ivar tmpdir: environment.tmpdir, where each scan gets its own folder.
    @ivar limits: C{max_files}, C{max_file_size} and C{max_total} bytes a
        scan may unpack.
    """

    def __init__(self, tmpdir, limits=None, file_types=None):
        self.tmpdir = tmpdir
        self.limits = dict(limits or {})
        self._file_types = file_types or FileTypes()

    def scan(self, data, rules, short_circuit=False, time_limit=0, recursion_limit=9):
        """A L{ScanResult} for message C{data} against C{rules}."""
        result = ScanResult()
        os.makedirs(self.tmpdir, exist_ok=True)
        folder = tempfile.mkdtemp(prefix="scan", dir=self.tmpdir)
        deadline = time.monotonic() + time_limit if time_limit else None
        job = _Job(self, rules, result, extract.Budget(folder, **self.limits), short_circuit, deadline, recursion_limit)
        try:
            for item in walk(data):
                job.test(item, depth=0, within=None)
        except TimeLimit:
            result.error = "time limit of %g s exceeded" % (time_limit,)
        except _Stop:
            pass
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return result


class _Stop(Exception):
    """short_circuit: the first match ends the scan."""


class _Job:
    def __init__(self, scanner, rules, result, budget, short_circuit, deadline, recursion_limit):
        self._types = scanner._file_types
        self._rules = rules
        self._result = result
        self._budget = budget
        self._short = short_circuit
        self._deadline = deadline
        self._depth_limit = recursion_limit

    def test(self, item, depth, within):
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise TimeLimit()
        self._result.items += 1
        item.detected_type = self._types(item.data)
        kind = extract.archive_kind(item.data, item.filename, item.detected_type)
        if item.detected_type == "application/pdf" or item.data[:5] == b"%PDF-":
            item.extra = item.extra + b"\n" + extract.pdf_text(item.data, self._budget.max_file_size)
            item.textual = False
        elif kind is not None or (item.detected_type or "").startswith(OPAQUE_TYPES):
            item.textual = False
        for rule in self._rules:
            if rule.matches(item):
                self._found(item.partid, rule.id, within)
        if kind is not None:
            self._unpack(item, kind, depth, within)
        elif within is not None and item.detected_type == "message/rfc822":
            for inner in walk(item.data, root=item.partid):
                inner.partid = item.partid
                self.test(inner, depth + 1, within)

    def _unpack(self, item, kind, depth, within):
        if depth + 1 > self._depth_limit:
            self._found(item.partid, "ERR_RECURSION_LIMIT", within)
            return
        prefix = within if within is not None else (item.filename or "")
        try:
            for name, path, _ in extract.members(kind, item.data, item.filename, self._budget):
                with open(path, "rb") as f:
                    data = f.read()
                os.unlink(path)
                self._result.extracted += 1
                member = ScanItem(item.partid, data, filename=os.path.basename(name), path=path)
                self.test(member, depth + 1, prefix + "/" + name if prefix else name)
        except extract.ArchiveError as e:
            self._found(item.partid, e.code, within if within is not None else item.filename)

    def _found(self, partid, name, filename):
        self._result.add(partid, name, filename)
        if self._short:
            raise _Stop()
