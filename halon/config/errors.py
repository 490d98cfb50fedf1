"""
Configuration problems, said the way an operator can act on them: which
file, where in it, and why.

Every check (YAML syntax, the JSON Schema, the cross-references a schema
cannot express, scripts that do not compile) produces L{Problem}s; a load
collects all of them and raises one L{ConfigError}, so a bad file is fixed
in one round instead of one error per restart.
"""

import re

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(parts):
    """
    A path into a document as users write it: C{servers[0].listeners[1].port}.
    Keys that are not plain names (domains, paths) are quoted:
    C{lists["example.com"]}.  The document itself is C{(top)}.
    """
    out = []
    for part in parts:
        if isinstance(part, int):
            out.append("[%d]" % (part,))
        elif _PLAIN_KEY.match(str(part)):
            out.append(("." if out else "") + str(part))
        else:
            out.append('["%s"]' % (str(part).replace("\\", "\\\\").replace('"', '\\"'),))
    return "".join(out) or "(top)"


class Problem:
    """
    One thing wrong with a configuration.

    @ivar file: the file it is in (as given to the loader).
    @ivar path: where in the document, as L{format_path} writes it, or
        C{None} when the problem has a line and column instead (YAML syntax).
    @ivar reason: what is wrong, in words.
    @ivar line: 1-based line in the file when known (always for syntax
        errors; for other problems the line of the value, used for ordering).
    @ivar column: 1-based column, with C{line}.
    """

    __slots__ = ("file", "path", "reason", "line", "column")

    def __init__(self, file, path, reason, line=None, column=None):
        self.file = file
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column

    def __str__(self):
        if self.path is None:
            if self.line is not None:
                return "%s:%d:%d: %s" % (self.file, self.line, self.column or 1, self.reason)
            return "%s: %s" % (self.file, self.reason)
        return "%s: %s: %s" % (self.file, self.path, self.reason)

    def __repr__(self):
        return "Problem(%r, %r, %r)" % (self.file, self.path, self.reason)

    def __eq__(self, other):
        return isinstance(other, Problem) and (self.file, self.path, self.reason) == (
            other.file,
            other.path,
            other.reason,
        )

    def __hash__(self):
        return hash((self.file, self.path, self.reason))

    def as_tuple(self):
        return (self.file, self.path, self.reason)


class ConfigError(ValueError):
    """
    A configuration that cannot be used.  C{problems} lists every problem
    found; C{str()} is one line per problem (C{file: path: reason}).
    """

    def __init__(self, problems):
        self.problems = list(problems)
        ValueError.__init__(self, "\n".join(str(p) for p in self.problems))
