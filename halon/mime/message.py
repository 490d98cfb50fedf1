"""
A message: the bytes as received, the part tree parsed from them, and the
list of changes scripts made.

Changes are byte patches against the original (replace C{count} bytes at
C{start} with C{data}), recorded in order and applied only when the
message is serialised.  This is Halon's model: get functions read the
message as received, every modification (addHeader, setBody, appendPart,
modifyContent ...) is one change, and reset(), snapshot() and restore()
work on the list of changes.  Bytes no patch touches are copied verbatim,
so an unmodified message serialises to exactly what was parsed and a
DKIM signature over untouched headers stays valid.

When patches meet: insertions at one offset come out in the order they
were made, except "stacked" ones (headers added at the top, parts
prepended), of which the latest comes first; a later replacement of the
very same range wins over an earlier one; a patch that starts inside a
range another patch replaced is dropped (a header set inside a part that
was removed goes with the part).
"""

import mmap
import os

from halon.mime.parser import parse_tree
from halon.mime.part import Part

__all__ = ["Message", "Patch", "parse", "parse_file"]

_CHUNK = 1 << 20
_FIRST = float("-inf")
_LAST = float("inf")


class Patch:
    """
    Replace C{count} bytes at C{start} with C{data} (bytes, or a callable
    returning bytes, evaluated when the message is serialised).

    @ivar rank: orders insertions at the same offset (lower first).
    """

    __slots__ = ("start", "count", "data", "rank")

    def __init__(self, start, count, data, rank):
        self.start = start
        self.count = count
        self.data = data
        self.rank = rank

    def bytes(self):
        return self.data() if callable(self.data) else self.data


class Message:
    """
    @ivar buffer: the original message (bytes or a read-only mmap).
    @ivar eol: the line ending new text gets (the message's own: CRLF or LF).
    @ivar root: the top-level L{Part}.
    @ivar state: per-part bookkeeping of changes (e.g. a single part turned
        into a multipart by appendPart), saved and restored with them.
    """

    def __init__(self, buffer, closer=None):
        self.buffer = buffer
        self._view = memoryview(buffer) if len(buffer) else memoryview(b"")
        self._closer = closer
        nl = buffer.find(b"\n")
        self.eol = b"\n" if nl > 0 and buffer[nl - 1 : nl] != b"\r" else b"\r\n"
        self._changes = []
        self._seq = 0
        self.state = {}
        self._snapshots = {}
        self.root = parse_tree(self, Part)

    # -- recording changes --------------------------------------------------

    def change(self, patches):
        """Record one change made of C{patches} (start, count, data[, order])."""
        made = []
        for spec in patches:
            start, count, data = spec[:3]
            order = spec[3] if len(spec) > 3 else "normal"
            self._seq += 1
            if order == "stack":
                rank = -self._seq
            elif order == "first":
                rank = _FIRST
            elif order == "last":
                rank = _LAST
            else:
                rank = self._seq
            start = max(0, min(int(start), len(self.buffer)))
            count = max(0, min(int(count), len(self.buffer) - start))
            made.append(Patch(start, count, data, rank))
        if made:
            self._changes.append(tuple(made))
        return len(made)

    def modify_content(self, start, count, data):
        """modifyContent(): a raw patch, for changes the part API cannot express."""
        self.change([(start, count, data)])

    @property
    def changes(self):
        return len(self._changes)

    def reset(self):
        """Undo every change; returns how many there were."""
        discarded = len(self._changes)
        self._changes = []
        self.state = {}
        return discarded

    def snapshot(self):
        """Remember the current changes; returns an id for L{restore}."""
        sid = len(self._snapshots) + 1
        self._snapshots[sid] = (list(self._changes), dict(self.state))
        return sid

    def restore(self, sid):
        """Go back to snapshot C{sid}; False when there is no such snapshot."""
        try:
            changes, state = self._snapshots[sid]
        except (KeyError, TypeError):
            return False
        self._changes = list(changes)
        self.state = dict(state)
        return True

    # -- serialising --------------------------------------------------------

    def _effective(self, lo, hi):
        patches = [p for change in self._changes for p in change if lo <= p.start and p.start + p.count <= hi]
        latest = {}
        for p in patches:
            if p.count:
                latest[(p.start, p.count)] = p
        patches = [p for p in patches if not p.count or latest[(p.start, p.count)] is p]
        patches.sort(key=lambda p: (p.start, 1 if p.count else 0, -p.count, p.rank))
        return patches

    def chunks(self, lo=0, hi=None):
        """The serialised bytes of C{lo}..C{hi} (original offsets) as a sequence of chunks."""
        hi = len(self.buffer) if hi is None else hi
        view = self._view
        pos = lo
        for p in self._effective(lo, hi):
            if p.start < pos:
                continue
            yield from _slices(view, pos, p.start)
            data = p.bytes()
            if data:
                yield data
            pos = p.start + p.count
        yield from _slices(view, pos, hi)

    def to_bytes(self):
        """The message with all changes applied."""
        if not self._changes:
            return bytes(self._view)
        return b"".join(self.chunks())

    def render(self, lo, hi):
        """The bytes of one original range with the changes inside it applied."""
        return b"".join(self.chunks(lo, hi))

    def write_to(self, fileobj):
        """Write the message with all changes applied; returns the byte count."""
        written = 0
        for chunk in self.chunks():
            fileobj.write(chunk)
            written += len(chunk)
        return written

    def write_file(self, path, fsync=False):
        """Write the message to C{path} (created or truncated); returns the byte count."""
        with open(path, "wb") as f:
            written = self.write_to(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        return written

    def size(self):
        return len(self.buffer)

    def close(self):
        """Release a file mapping; the message must not be used afterwards."""
        self._view.release()
        if self._closer is not None:
            self._closer()
            self._closer = None


def _slices(view, lo, hi):
    while lo < hi:
        step = min(hi, lo + _CHUNK)
        yield view[lo:step]
        lo = step


def parse(data):
    """A L{Message} from bytes (a bytearray is copied first)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return Message(data)


def parse_file(path):
    """
    A L{Message} over the file at C{path}, mapped read-only rather than read
    into memory; the file must not change while the message is in use.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return Message(b"")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return Message(mapped, closer=mapped.close)
