"""
File: low-level reading of files, strings and FileResources.

Scripts reach files only through the host: a name is a virtual file of
C{scripting.files} or a path under the root path (L{Host.resolve_path}),
so nothing outside the root is reachable.  C{File::String(data)} reads a
string as a file.  Errors give C{none} as the manual says, and never leave
the file in a half-moved state.
"""

import io
import os

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import fail, integer, string
from halon.hsl.values import HSLObject, HSLResource

__all__ = ["File", "FileResource"]

_WHENCE = {b"SEEK_SET": os.SEEK_SET, b"SEEK_CUR": os.SEEK_CUR, b"SEEK_END": os.SEEK_END}


class FileResource(HSLResource):
    """An open binary file (any object with read/seek/tell) and the path it came from, if any."""

    __slots__ = ("stream", "path")
    hsl_resource_name = "FileResource"

    def __init__(self, stream, path=None):
        self.stream = stream
        self.path = path


def _open(host, name):
    """A FileResource for a script-visible name: a virtual file first, then the root path."""
    key = name.decode("utf-8", "surrogateescape")
    for prefix in ("file://", "file:"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    if host is None:
        raise HSLRuntimeError("File(): no host to open files from")
    if key in host.files:
        return FileResource(io.BytesIO(host.files[key]), None)
    path = host.resolve_path(key)
    try:
        return FileResource(open(path, "rb"), path)
    except OSError as e:
        raise HSLRuntimeError("File(): %s: %s" % (key, e.strerror))


@core.cls("File")
class File(HSLObject):
    """File(FileResource $fileresource), or File("name") for a file the host can give."""

    __slots__ = ("resource",)
    hsl_class_name = "File"
    hsl_needs_host = True
    hsl_host = None
    hsl_methods = {
        "close": "close",
        "read": "read",
        "readline": "readline",
        "seek": "seek",
        "tell": "tell",
        "getPath": "get_path",
        "toFFIValue": "to_ffi_value",
    }
    hsl_statics = {"String": "from_string", "read": "read_file"}

    def __init__(self, fileresource):
        if isinstance(fileresource, FileResource):
            self.resource = fileresource
        elif type(fileresource) is bytes:
            self.resource = _open(self.hsl_host, fileresource)
        else:
            fail("File", "expected a FileResource or a file name")

    @classmethod
    def from_string(cls, data):
        return cls(FileResource(io.BytesIO(string("File::String", data, "data"))))

    @classmethod
    def read_file(cls, filename):
        """All bytes of a file the host can give, or none."""
        name = string("File::read", filename, "filename")
        if cls.hsl_host is None:
            return None
        try:
            return cls.hsl_host.read_file(name)
        except HSLRuntimeError:
            return None

    @property
    def _stream(self):
        stream = self.resource.stream if self.resource is not None else None
        if stream is None:
            raise HSLRuntimeError("File: the file is closed")
        return stream

    def close(self):
        if self.resource is not None and self.resource.stream is not None:
            self.resource.stream.close()
            self.resource.stream = None
        return None

    def read(self, length=None):
        """Up to C{length} bytes (all that is left without it); "" at the end; none on error."""
        n = -1 if length is None else integer("read", length, "length")
        try:
            return self._stream.read(n if n >= 0 else -1)
        except (OSError, ValueError):
            return None

    def readline(self):
        """The next line without its CRLF or LF; false at the end; none on error."""
        try:
            line = self._stream.readline()
        except (OSError, ValueError):
            return None
        if not line:
            return False
        if line.endswith(b"\r\n"):
            return line[:-2]
        if line.endswith(b"\n"):
            return line[:-1]
        return line

    def seek(self, offset, whence=b"SEEK_SET"):
        how = _WHENCE.get(whence) if type(whence) is bytes else None
        if how is None:
            fail("seek", "whence must be SEEK_SET, SEEK_CUR or SEEK_END")
        try:
            stream = self._stream
            target = integer("seek", offset, "offset")
            if how == os.SEEK_CUR:
                target += stream.tell()
            elif how == os.SEEK_END:
                target += stream.seek(0, os.SEEK_END)
            if target < 0:
                return None
            return float(stream.seek(target))
        except (OSError, ValueError):
            return None

    def tell(self):
        try:
            return float(self._stream.tell())
        except (OSError, ValueError):
            return None

    def get_path(self):
        path = self.resource.path if self.resource is not None else None
        return None if path is None else os.fsencode(path)

    def to_ffi_value(self):
        from halon.hsl.stdlib.ffi import file_pointer

        return file_pointer(self.hsl_host, self)

    def read_all(self):
        """Every byte of the file, whatever the position (which is kept): for MIME and dlp()."""
        stream = self._stream
        here = stream.tell()
        try:
            stream.seek(0)
            return stream.read()
        finally:
            stream.seek(here)
