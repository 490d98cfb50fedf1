"""
The exceptions that cross the boundary between scripts and their host.

Every error a user sees names file:line:column.  Syntax errors know their
position when raised; runtime errors are raised without one (by the stdlib,
deep inside Python code) and get it attached by the runtime, which reads the
position of the innermost script frame from the traceback.
"""


class Position:
    """A place in a script: file name, 1-based line and 1-based column."""

    __slots__ = ("file", "line", "column")

    def __init__(self, file, line, column):
        self.file = file
        self.line = line
        self.column = column

    def __str__(self):
        return "%s:%d:%d" % (self.file, self.line, self.column)

    def __repr__(self):
        return "Position(%r, %r, %r)" % (self.file, self.line, self.column)

    def __eq__(self, other):
        return isinstance(other, Position) and (self.file, self.line, self.column) == (
            other.file,
            other.line,
            other.column,
        )

    def __hash__(self):
        return hash((self.file, self.line, self.column))


class HSLError(Exception):
    """
    Base of script errors.  C{message} is the text without position;
    C{position} is filled in by whoever knows it.
    """

    def __init__(self, message, position=None):
        Exception.__init__(self, message)
        self.message = message
        self.position = position

    def __str__(self):
        if self.position is None:
            return self.message
        return "%s: %s" % (self.position, self.message)


class HSLSyntaxError(HSLError):
    """The script cannot be compiled (lexer, parser or compile-time check)."""


class HSLRuntimeError(HSLError):
    """
    A runtime error: raised by the stdlib and the runtime helpers.  Scripts
    can catch it with try/catch, where it appears as an Exception object.
    """


class HSLNotAvailable(HSLRuntimeError):
    """A function that needs a service this host does not run (dns, rate, ...)."""

    def __init__(self, name, position=None):
        HSLRuntimeError.__init__(self, "%s() is not available here" % (name,), position)


class ScriptExit(BaseException):
    """
    Ends a script early and on purpose: hook functions such as Accept() and
    Reject() raise it after recording their decision.  It derives from
    BaseException so that neither HSL try/catch nor careless Python code in
    the stdlib swallows it.
    """


class ScriptTimeout(BaseException):
    """Raised inside a script that ran past its time limit; not catchable by HSL."""
