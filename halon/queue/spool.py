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
elsewhere each file is fsync'd before its rename and each touched folder
after.

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
import json
import os
import struct
import threading
import zlib

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = [
    "Spool",
    "SpoolMessage",
    "SpoolError",
    "load",
    "entries",
    "read",
    "FORMAT_VERSION",
    "encode_text",
    "decode_text",
]

log = Logger()

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
    The writer: commits from any number of sessions, grouped on one thread.

    @param path: the spool folder (environment.spool.path).
    @param reactor: where Deferreds fire (L{IReactorFromThreads}).
    @param sync: "syncfs" (Linux default), "fsync", or "none" (no
        durability; for measurements only).
    @ivar batches: commits flushed so far, and C{committed} messages in
        them (their ratio is the group commit's effect).
    """

    def __init__(self, path, reactor, sync=None):
        self.path = path
        self._reactor = reactor
        if sync is None:
            sync = "syncfs" if _SYNCFS is not None else "fsync"
        if sync == "syncfs" and _SYNCFS is None:
            sync = "fsync"
        self.sync = sync
        self.batches = 0
        self.committed = 0
        self._cond = threading.Condition()
        self._pending = []
        self._thread = None
        self._stopping = False
        self._stopped = None
        self._folders = set()

    def start(self):
        os.makedirs(self.path, exist_ok=True)
        self._stopping = False
        self._stopped = defer.Deferred()
        self._thread = threading.Thread(target=self._run, name="spool-commit", daemon=True)
        self._thread.start()

    def stop(self):
        """Finish what is pending; the Deferred fires when the thread is done."""
        if self._thread is None:
            return defer.succeed(None)
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread = None
        return self._stopped

    def commit(self, messages):
        """
        Write C{messages} (L{SpoolMessage}s) durably, all or none.  Fires
        with their paths once they are on disk, or fails (nothing of them
        stays in the spool).
        """
        d = defer.Deferred()
        with self._cond:
            if self._thread is None or self._stopping:
                return defer.fail(SpoolError("the spool is not running"))
            self._pending.append((messages, d))
            self._cond.notify()
        return d

    def _run(self):
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                if not batch and self._stopping:
                    break
            results = self._flush(batch)
            self._reactor.callFromThread(self._deliver, results)
        self._reactor.callFromThread(self._stopped.callback, None)

    def _deliver(self, results):
        for d, result in results:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    def _flush(self, batch):
        """Write, sync, rename, sync one batch; [(deferred, paths or Failure)]."""
        staged = []
        results = []
        for messages, d in batch:
            try:
                staged.append((d, [self._write_temp(m) for m in messages]))
            except Exception:
                results.append((d, Failure()))
                self._cleanup_temps(messages)
        if not staged:
            return results
        try:
            renamed = []
            for d, files in staged:
                for temp, final, _folder in files:
                    os.rename(temp, final)
                renamed.append((d, files))
            if self.sync == "syncfs":
                self._syncfs()
            elif self.sync == "fsync":
                for folder in {folder for _d, files in staged for _t, _f, folder in files}:
                    _fsync_dir(folder)
        except Exception:
            failure = Failure()
            log.failure("spool flush failed; the batch is refused", failure)
            for d, files in staged:
                for temp, final, _folder in files:
                    _unlink(temp)
                    _unlink(final)
                results.append((d, failure))
            return results
        self.batches += 1
        for d, files in renamed:
            self.committed += len(files)
            results.append((d, [final for _t, final, _f in files]))
        return results

    def _folder(self, message):
        folder = os.path.join(self.path, message.uuid[:2])
        if folder not in self._folders:
            if not os.path.isdir(folder):
                os.makedirs(folder, exist_ok=True)
                if self.sync == "fsync":
                    _fsync_dir(self.path)
            self._folders.add(folder)
        return folder

    def _write_temp(self, message):
        folder = self._folder(message)
        final = os.path.join(folder, message.uuid + SUFFIX)
        temp = os.path.join(folder, message.uuid + TEMP_SUFFIX)
        data = message.to_bytes()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.sync == "fsync":
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink(temp)
            raise
        os.close(fd)
        message.path = final
        return temp, final, folder

    def _cleanup_temps(self, messages):
        for message in messages:
            _unlink(os.path.join(self.path, message.uuid[:2], message.uuid + TEMP_SUFFIX))

    def _syncfs(self):
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
