"""
AMP boxes without Twisted: the chunking of long values, and the wire form
of a box for halonctl's blocking client.

An AMP box is a sequence of key/value pairs, each a 16-bit big-endian
length and the bytes, ended by an empty key.  A value holds at most
L{MAX_VALUE} bytes, so a longer value (a serialized protobuf message) is
split across keys: C{name}, C{name.2}, C{name.3} ...  Both the AMP
L{Argument<halon.control.commands.Chunked>} the daemons use and the blocking
client use L{split} and L{join}, so the two sides agree by construction.

This module is imported on every halonctl run: standard library only.
"""

import struct

MAX_VALUE = 0xFFFF
MAX_KEY = 0xFF

_LENGTH = struct.Struct(">H")


class BoxError(ValueError):
    """Bytes that are not an AMP box stream."""


def chunk_key(name, index):
    """The key of chunk C{index} (0-based) of the value called C{name}."""
    return name if index == 0 else b"%s.%d" % (name, index + 1)


def split(name, data):
    """[(key, chunk)] for C{data} under C{name}; an empty value is one empty chunk."""
    if len(data) <= MAX_VALUE:
        return [(name, data)]
    view = memoryview(data)
    return [(chunk_key(name, i), bytes(view[start : start + MAX_VALUE])) for i, start in enumerate(range(0, len(data), MAX_VALUE))]


def join(name, box):
    """
    The value C{split} spread under C{name} in C{box} (a dict), with its keys
    removed from the box; C{None} when the box has no such value.
    """
    first = box.pop(name, None)
    if first is None:
        return None
    chunks = [first]
    index = 1
    while True:
        chunk = box.pop(chunk_key(name, index), None)
        if chunk is None:
            return first if index == 1 else b"".join(chunks)
        chunks.append(chunk)
        index += 1


def encode(pairs):
    """The wire bytes of a box given as [(key, value)] pairs (bytes)."""
    out = []
    for key, value in pairs:
        if not 0 < len(key) <= MAX_KEY:
            raise BoxError("AMP key of %d bytes: %r" % (len(key), key[:40]))
        if len(value) > MAX_VALUE:
            raise BoxError("AMP value of %d bytes under %r (split it)" % (len(value), key))
        out += [_LENGTH.pack(len(key)), key, _LENGTH.pack(len(value)), value]
    out.append(b"\x00\x00")
    return b"".join(out)


class Decoder:
    """
    Turns received bytes into boxes (dicts of bytes to bytes).  Keeps only
    the unparsed tail, so a stream of any length is decoded in one pass.
    """

    def __init__(self):
        self._buffer = bytearray()
        self._box = {}
        self._key = None

    def feed(self, data):
        """The boxes C{data} completes, in order."""
        self._buffer += data
        buffer = self._buffer
        boxes = []
        offset = 0
        while len(buffer) - offset >= 2:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if self._key is None and length > MAX_KEY:
                raise BoxError("AMP key of %d bytes" % (length,))
            end = offset + 2 + length
            if len(buffer) < end:
                break
            value = bytes(buffer[offset + 2 : end])
            offset = end
            if self._key is not None:
                self._box[self._key] = value
                self._key = None
            elif value:
                self._key = value
            else:
                boxes.append(self._box)
                self._box = {}
        del buffer[:offset]
        return boxes
