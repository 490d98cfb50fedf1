# -*- test-case-name: tests.smtpd.test_spool -*-
"""
The durable spool: one immutable C{.hqf} file per queued message, written
so that a crash at any moment loses nothing that was acknowledged.

Layout on disk (docs/spool.md has the byte layout and the guarantees):

    <spool>/<first two hex digits of the uuid>/<uuid>.hqf

A commit writes each file under a temporary name in its final folder,
renames it into place, makes data and names durable, and only then fires
its Deferred (the SMTP server's 250 waits for it).  Commits from
concurrent sessions are grouped: one thread takes every pending commit at
once, so a single flush serves them all ("group commit").  On Linux the
flush is one C{syncfs(2)} of the spool's file system for the whole batch;
elsewhere each file is fsync'd before its rename and its folder after.
That thread is C (halon/queue/_spoolio.c) where the module is built, so
that it never waits for the GIL; L{ThreadFlusher} is its Python
reference.  It reports to the reactor through a pipe.

A process killed mid-commit leaves only a temporary file (deleted at the
next start) or a complete one: the kernel has every byte written before
the rename.  After a power loss, a file renamed but not yet flushed may be
incomplete; it was never acknowledged, and the loader's checksums set it
aside.

Committed files are never rewritten.  Per-recipient state that changes
later (retries, hold, delivered) belongs to the queue, which keeps it
beside the file; a reader gets a file's recipients with their index N,
the N of the queue id C{uuid:N}.
"""

import ctypes
import ctypes.util
import errno
import json
import os
import struct
import threading
import zlib

from twisted.internet import defer
from twisted.python.failure import Failure

__all__ = [
    "Spool",
    "SpoolMessage",
    "SpoolError",
    "load",
    "entries",
    "read",
    "FORMAT_VERSION",
    "FLUSHER",
    "ThreadFlusher",
    "encode_text",
    "decode_text",
]


FORMAT_VERSION = 1
MAGIC = b"\x89HQF\r\n\x1a\n"
# magic, version, header size, envelope length, recipients length,
# recipient count, message length, message crc32, meta crc32, header crc32
HEADER = struct.Struct(">8sHHIIIQIII")
HEADER_SIZE = HEADER.size + 4  # 4 reserved bytes, zero
RECORD = struct.Struct(">I")
SUFFIX = ".hqf"
TEMP_SUFFIX = ".hqf.tmp"
FILE_MODE = 0o440


class SpoolError(ValueError):
    """A spool file that cannot be read as a committed message."""


def encode_text(value):
    """Bytes as a JSON string: UTF-8, with other bytes as lone surrogates (Python's surrogateescape)."""
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "surrogateescape")


def decode_text(value):
    """The bytes L{encode_text} was given."""
    if value is None:
        return None
    return value.encode("utf-8", "surrogateescape")


class SpoolMessage:
    """
    A message and its envelope, as written or as read back.

    @ivar uuid: the message id (str), also the file name.
    @ivar envelope: dict (see docs/spool.md): transaction, serverid,
        received, sender, senderparams, dsn, connection, size.
    @ivar recipients: list of dicts, each with its C{index}.
    @ivar message: the message bytes, when written or after L{read_message}.
    @ivar path: the committed file, once there is one.
    """

    def __init__(self, uuid, envelope, recipients, message=None, path=None, offset=None, length=None):
        self.uuid = uuid
        self.envelope = envelope
        self.recipients = recipients
        self.message = message
        self.path = path
        self._offset = offset
        self.length = len(message) if message is not None else length

    @property
    def offset(self):
        """Where the message bytes start in the file, once read from one (else None)."""
        return self._offset

    def queue_ids(self):
        return ["%s:%d" % (self.uuid, r["index"]) for r in self.recipients]

    def read_message(self):
        """The message bytes (read from the file when loaded from disk)."""
        if self.message is not None:
            return self.message
        return read_data(self.path, self._offset, self.length)

    def to_bytes(self):
        envelope = _json(dict(self.envelope, id=self.uuid, size=len(self.message)))
        records = [_json(r) for r in self.recipients]
        recipients = b"".join(RECORD.pack(len(r)) + r for r in records)
        meta_crc = zlib.crc32(recipients, zlib.crc32(envelope))
        head = HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            HEADER_SIZE,
            len(envelope),
            len(recipients),
            len(records),
            len(self.message),
            zlib.crc32(self.message),
            meta_crc,
            0,
        )
        head = head[:-4] + struct.pack(">I", zlib.crc32(head[:-4]))
        return head + b"\0\0\0\0" + envelope + recipients + self.message

    def relative_path(self):
        return os.path.join(self.uuid[:2], self.uuid + SUFFIX)


# One encoder for every record: json.dumps with options builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode


def _json(value):
    return _ENCODE(value).encode("ascii")


def read_data(path, offset, length):
    """The C{length} message bytes at C{offset} of a committed file; L{SpoolError} when cut short."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as e:
        raise SpoolError("%s: %s" % (path, e.strerror))
    if len(data) != length:
        raise SpoolError("%s: message truncated" % (path,))
    return data


# Message bytes up to this size are read with the envelope (the same
# read), so a message a worker spooled is sent without opening its file again.
KEEP = 256 * 1024


def read(path, keep=KEEP):
    """
    The L{SpoolMessage} in a committed file, with its message bytes when
    there are at most C{keep} of them.  Raises L{SpoolError}.
    """
    message = None
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_SIZE)
            if len(head) < HEADER_SIZE:
                raise SpoolError("%s: truncated header" % (path,))
            fields = HEADER.unpack(head[: HEADER.size])
            magic, version, header_size, env_len, rcpt_len, count, msg_len, _msg_crc, meta_crc, head_crc = fields
            if magic != MAGIC:
                raise SpoolError("%s: not a spool file" % (path,))
            if zlib.crc32(head[: HEADER.size - 4]) != head_crc:
                raise SpoolError("%s: header checksum mismatch" % (path,))
            if version != FORMAT_VERSION:
                raise SpoolError("%s: format version %d is not supported" % (path, version))
            f.seek(header_size)
            if msg_len <= keep:
                meta = f.read(env_len + rcpt_len + msg_len)
                meta, message = meta[: env_len + rcpt_len], meta[env_len + rcpt_len :]
            else:
                meta = f.read(env_len + rcpt_len)
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise SpoolError("%s: %s" % (path, e.strerror))
    if len(meta) != env_len + rcpt_len or zlib.crc32(meta) != meta_crc:
        raise SpoolError("%s: envelope checksum mismatch" % (path,))
    if size != header_size + env_len + rcpt_len + msg_len:
        raise SpoolError("%s: size %d, expected %d" % (path, size, header_size + env_len + rcpt_len + msg_len))
    try:
        envelope = json.loads(meta[:env_len].decode("ascii"))
        records = []
        pos = env_len
        for _ in range(count):
            (length,) = RECORD.unpack_from(meta, pos)
            records.append(meta[pos + 4 : pos + 4 + length])
            pos += 4 + length
        # One parse for all the records (they are ASCII JSON objects): loading
        # a large spool spends most of its time here.
        recipients = json.loads(b"[%s]" % b",".join(records)) if records else []
        if len(recipients) != count or not all(isinstance(r, dict) for r in recipients):
            raise ValueError("recipient records do not match their count")
    except (ValueError, struct.error) as e:
        raise SpoolError("%s: bad envelope: %s" % (path, e))
    return SpoolMessage(
        envelope["id"],
        envelope,
        recipients,
        message=message,
        path=path,
        offset=header_size + env_len + rcpt_len,
        length=msg_len,
    )


def verify(message):
    """Whether a loaded message's bytes match the checksum written with them."""
    with open(message.path, "rb") as f:
        fields = HEADER.unpack(f.read(HEADER.size))
    return zlib.crc32(message.read_message()) == fields[7]


def load(path, on_error=None):
    """
    Every committed message under the spool folder C{path}, in no
    particular order.  Temporary files of commits that never finished are
    deleted (they were never acknowledged); unreadable C{.hqf} files are
    renamed to C{.hqf.corrupt}, reported to C{on_error(path, reason)} and
    skipped.
    """
    for name, full in entries(path):
        if name.endswith(TEMP_SUFFIX):
            _unlink(full)
        elif name.endswith(SUFFIX):
            try:
                # A whole spool's bytes would not fit in memory: only envelopes.
                yield read(full, 0)
            except SpoolError as e:
                _quarantine(full)
                if on_error is not None:
                    on_error(full, str(e))


def entries(path):
    """(name, path) of every file in the spool folder C{path}'s two-digit folders."""
    if not os.path.isdir(path):
        return
    for sub in sorted(os.listdir(path)):
        folder = os.path.join(path, sub)
        if len(sub) != 2 or not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            yield name, os.path.join(folder, name)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _quarantine(path):
    try:
        os.rename(path, path + ".corrupt")
    except OSError:
        pass


def _syncfs_function():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _syncfs_function()


class Spool:
    """
    The writer: commits from any number of sessions, grouped by one
    flusher thread (L{FLUSHER}) whose results the reactor reads from a pipe.

    @param path: the spool folder (environment.spool.path).
    @param reactor: where Deferreds fire (L{IReactorFDSet}).
    @param sync: "syncfs" (Linux default), "fsync", or "none" (no
        durability; for measurements only).
    @param flusher: the flusher class (L{FLUSHER} unless a test picks one).
    @ivar committed: messages committed so far.
    """

    def __init__(self, path, reactor, sync=None, flusher=None):
        self.path = path
        self._reactor = reactor
        if sync is None:
            sync = "syncfs" if _SYNCFS is not None else "fsync"
        if sync == "syncfs" and _SYNCFS is None:
            sync = "fsync"
        self.sync = sync
        self.committed = 0
        self._flusher_class = flusher or FLUSHER
        self._flusher = None
        self._reader = None
        self._sync_fd = -1
        self._waiting = {}
        self._next = 0
        self._stopped = None
        self._folders = set()

    def start(self):
        os.makedirs(self.path, exist_ok=True)
        if self.sync == "syncfs":
            self._sync_fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self._flusher = self._flusher_class(self._sync_fd, self.sync == "fsync")
        self._reader = _Completions(self._flusher, self._completed)
        self._reactor.addReader(self._reader)

    def stop(self):
        """Finish what is pending; the Deferred fires when the flusher is done."""
        if self._flusher is None:
            return defer.succeed(None)
        d = defer.Deferred()
        if self._stopped is None:
            self._stopped = []
            self._flusher.stop()
        self._stopped.append(d)
        return d

    def commit(self, messages):
        """
        Write C{messages} (L{SpoolMessage}s) durably, all or none.  Fires
        with their paths once they are on disk, or fails (nothing of them
        stays in the spool).
        """
        if self._flusher is None or self._stopped is not None:
            return defer.fail(SpoolError("the spool is not running"))
        self._next += 1
        try:
            self._flusher.submit(self._next, [self._stage(m) for m in messages])
        except Exception:
            return defer.fail()
        # Registered after the hand-over: what the flusher finishes is read
        # on this thread, later.
        d = defer.Deferred()
        self._waiting[self._next] = (d, [m.path for m in messages])
        return d

    def _stage(self, message):
        """(temp path, final path, bytes) of one message, its folder made."""
        folder = self._folder(message)
        final = os.path.join(folder, message.uuid + SUFFIX)
        data = message.to_bytes()
        message.path = final
        return (os.fsencode(os.path.join(folder, message.uuid + TEMP_SUFFIX)), os.fsencode(final), data)

    def _completed(self):
        results, finished = self._flusher.completed()
        for ident, error, path in results:
            d, paths = self._waiting.pop(ident)
            if error:
                d.errback(Failure(OSError(error, os.strerror(error), None if path is None else os.fsdecode(path))))
            else:
                self.committed += len(paths)
                d.callback(paths)
        if finished:
            self._reactor.removeReader(self._reader)
            self._flusher = self._reader = None
            if self._sync_fd >= 0:
                os.close(self._sync_fd)
                self._sync_fd = -1
            stopped, self._stopped = self._stopped or [], None
            for d in stopped:
                d.callback(None)

    def _folder(self, message):
        folder = os.path.join(self.path, message.uuid[:2])
        if folder not in self._folders:
            if not os.path.isdir(folder):
                os.makedirs(folder, exist_ok=True)
                if self.sync == "fsync":
                    _fsync_dir(self.path)
            self._folders.add(folder)
        return folder


class _Completions:
    """The reactor's end of a flusher's pipe: each wake-up fires what it finished."""

    def __init__(self, flusher, completed):
        self._flusher = flusher
        self.doRead = completed

    def fileno(self):
        return self._flusher.fileno()

    def connectionLost(self, reason):
        pass

    def logPrefix(self):
        return "spool"


class ThreadFlusher:
    """
    A thread that writes, renames and flushes the files of each commit
    handed to it, grouping whatever is pending when it starts a batch.
    The reference for C{_spoolio.Flusher} (same interface, same system
    calls), and what runs where that module is not built.

    @param sync_fd: a descriptor of the spool folder for C{syncfs(2)}
        after each batch, or -1.
    @param fsync_each: fsync every file before its rename and its folder
        after (where there is no syncfs).
    """

    def __init__(self, sync_fd, fsync_each):
        self._sync_fd = sync_fd
        self._fsync_each = fsync_each
        self._cond = threading.Condition()
        self._pending = []
        self._done = []
        self._stopping = False
        self._finished = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._thread = threading.Thread(target=self._run, name="spool-commit", daemon=True)
        self._thread.start()

    def submit(self, ident, files):
        """Commit C{files}, a list of (temp path, final path, data), as one group."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the flusher is stopping")
            self._pending.append((ident, files))
            self._cond.notify()

    def fileno(self):
        return self._read

    def completed(self):
        """([(ident, errno or 0, failed path or None)], whether the thread has ended)."""
        try:
            while os.read(self._read, 256):
                pass
        except BlockingIOError:
            pass
        with self._cond:
            done, self._done = self._done, []
            finished = self._finished
        if finished and self._thread is not None:
            self._thread.join()
            self._thread = None
        return done, finished

    def stop(self):
        """Finish what is pending, then end; completed() says when."""
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def __del__(self):
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass

    def _run(self):
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                batch, self._pending = self._pending, []
            if not batch:
                break
            results = flush(batch, self._sync_fd, self._fsync_each)
            with self._cond:
                self._done.extend(results)
            self._notify()
        with self._cond:
            self._finished = True
        self._notify()

    def _notify(self):
        try:
            os.write(self._write, b"x")
        except BlockingIOError:
            pass  # a full pipe already has the reactor's attention


def flush(batch, sync_fd, fsync_each):
    """
    One batch of [(ident, files)]: every group's files written under their
    temp names (a group with a failed write keeps none), the others renamed
    into place and made durable.  A failed rename or flush fails every
    group still standing, whose files are then removed.  [(ident, errno or
    0, failed path or None)].
    """
    errors = {}
    for ident, files in batch:
        written = []
        for temp, _final, data in files:
            try:
                _write_file(temp, data, fsync_each)
            except OSError as e:
                errors[ident] = (e.errno or errno.EIO, temp)
                for done in written:
                    _unlink(done)
                break
            written.append(temp)
    failure = None
    for ident, files in batch:
        if ident in errors:
            continue
        for temp, final, _data in files:
            try:
                os.rename(temp, final)
            except OSError as e:
                failure = (e.errno or errno.EIO, temp)
                break
            if fsync_each:
                try:
                    _fsync_dir(os.path.dirname(final))
                except OSError as e:
                    failure = (e.errno or errno.EIO, final)
                    break
        if failure is not None:
            break
    if failure is None and sync_fd >= 0 and _SYNCFS(sync_fd) != 0:
        failure = (ctypes.get_errno() or errno.EIO, None)
    if failure is not None:
        for ident, files in batch:
            if ident not in errors:
                for temp, final, _data in files:
                    _unlink(temp)
                    _unlink(final)
                errors[ident] = failure
    return [(ident,) + errors.get(ident, (0, None)) for ident, _files in batch]


def _write_file(path, data, fsync_each):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync_each:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)


try:
    from halon.queue._spoolio import Flusher as FLUSHER
except ImportError:
    FLUSHER = ThreadFlusher


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
