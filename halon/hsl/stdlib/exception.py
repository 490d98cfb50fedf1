"""
The Exception class: what HSL try/catch hands a script for a runtime error,
and what scripts may throw themselves.
"""

from halon.hsl.stdlib import core
from halon.hsl.values import HSLObject, to_bytes


@core.cls("Exception")
class HSLException(HSLObject):
    """Exception(string $message); the runtime fills in where it happened."""

    __slots__ = ("_message", "_file", "_line", "_column")
    hsl_class_name = "Exception"
    hsl_methods = {
        "toString": "to_string",
        "message": "message",
        "file": "file",
        "line": "line",
        "column": "column",
    }

    def __init__(self, message=b""):
        self._message = to_bytes(message)
        self._file = self._line = self._column = None

    def located(self, position):
        """Attach the place the error happened (a Position or None); returns self."""
        if position is not None:
            self._file = position.file.encode("utf-8", "surrogateescape")
            self._line = float(position.line)
            self._column = float(position.column)
        return self

    def to_string(self):
        if self._file is None:
            return self._message
        return b"%s:%d:%d: %s" % (self._file, self._line, self._column, self._message)

    def message(self):
        return self._message

    def file(self):
        return self._file

    def line(self):
        return self._line

    def column(self):
        return self._column
