"""
PCRE patterns rewritten for Python's C{re} module.

Halon's regular expressions are PCRE.  Python's C{re} shares most of the
syntax; this module rewrites the rest so that a PCRE pattern behaves the
same under C{re}:

  - flags are resolved here, per position, instead of being handed to
    C{re} globally: C{s} turns C{.} into C{(?s:.)}, C{m} turns C{^}/C{$}
    into C{(?m:^)}/C{(?m:$)}, C{x} drops whitespace and C{#} comments,
    C{U} swaps greedy and lazy quantifiers, C{X} makes unknown escapes an
    error (otherwise PCRE reads C{\\y} as C{y}), and inline C{(?i)} in the
    middle of a group becomes scoped C{(?i:...)} groups that end where
    PCRE's change ends (the group), carried over into later alternatives;
  - PCRE-only syntax is translated: C{(?<name>...)}, C{(?'name'...)},
    C{\\k<name>}, C{\\g{N}}, C{\\g{-N}}, C{\\Q...\\E}, C{\\x{hhh}},
    C{\\o{...}}, C{\\e}, C{\\cX}, C{\\h}, C{\\v}, C{\\R}, C{\\N}, C{\\z},
    C{\\Z}, POSIX classes C{[[:alpha:]]}, and C{{,n}} (a literal in PCRE);
  - with C{u} the pattern and subject are UTF-8 text and C{\\d}, C{\\w},
    C{\\s}, C{\\b} stay ASCII as in PCRE without UCP; caseless matching
    of non-ASCII letters is done by adding their other case.

What C{re} cannot do raises L{PatternError}: recursion and subroutine
calls, C{\\K}, C{\\G}, C{\\p{..}}, C{\\X}, backtracking verbs, branch
reset, assertion conditions, negated POSIX classes, and lookbehinds whose
alternatives differ in length.
"""

import re

__all__ = ["PatternError", "translate", "FLAG_LETTERS"]

FLAG_LETTERS = "imsxuUX"


class PatternError(ValueError):
    """The pattern is invalid, or uses PCRE syntax this emulation lacks."""


_POSIX = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": "\\t\\n\\x0b\\x0c\\r ",
    "blank": "\\t ",
    "punct": "!-/:-@\\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "word": "a-zA-Z0-9_",
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "ascii": "\\x00-\\x7f",
}
_H_BYTES = "\\t \\xa0"
_H_TEXT = _H_BYTES + "\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_V_BYTES = "\\n\\x0b\\x0c\\r\\x85"
_V_TEXT = _V_BYTES + "\\u2028\\u2029"
_X_SPACE = " \t\n\r\x0b\x0c"
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_FLAGS = re.compile(r"([imsxUXJ]*)(?:-([imsxUXJ]*))?([:)])")


class _Frame:
    """One open group: its flags now, and the i-state the emitted text is in."""

    __slots__ = ("state", "outer_i", "scopes")

    def __init__(self, state, outer_i):
        self.state = state
        self.outer_i = outer_i
        self.scopes = []

    def emitted_i(self):
        return self.scopes[-1] if self.scopes else self.outer_i


class _Translator:
    def __init__(self, pattern, flags, utf8):
        self.p = pattern
        self.i = 0
        self.out = []
        self.utf8 = utf8
        self.groups = 0
        state = {f: f in flags for f in "imsxUX"}
        self.frames = [_Frame(state, state["i"])]

    # -- helpers -----------------------------------------------------------

    def error(self, message):
        raise PatternError("%s at offset %d" % (message, self.i))

    def peek(self, k=0):
        j = self.i + k
        return self.p[j] if j < len(self.p) else ""

    @property
    def frame(self):
        return self.frames[-1]

    def emit(self, text):
        self.out.append(text)

    # -- the walk ----------------------------------------------------------

    def run(self):
        p = self.p
        while self.i < len(p):
            c = p[self.i]
            state = self.frame.state
            if state["x"] and c in _X_SPACE:
                self.i += 1
            elif state["x"] and c == "#":
                end = p.find("\n", self.i)
                self.i = len(p) if end < 0 else end + 1
            elif c == "\\":
                self.i += 1
                self.emit(self.escape(in_class=False))
            elif c == "[":
                self.klass()
            elif c == "(":
                self.group()
            elif c == ")":
                if len(self.frames) == 1:
                    self.error("unmatched closing parenthesis")
                frame = self.frames.pop()
                self.emit(")" * len(frame.scopes) + ")")
                self.i += 1
            elif c == "|":
                frame = self.frame
                self.emit(")" * len(frame.scopes) + "|")
                frame.scopes = []
                self.open_scope(frame)
                self.i += 1
            elif c in "*+?":
                self.i += 1
                self.quantifier(c)
            elif c == "{":
                m = _QUANTIFIER.match(p, self.i)
                if m:
                    self.i = m.end()
                    self.quantifier(m.group(0))
                else:
                    self.emit("\\{")
                    self.i += 1
            elif c == ".":
                self.emit("(?s:.)" if state["s"] else ".")
                self.i += 1
            elif c == "^":
                self.emit("(?m:^)" if state["m"] else "^")
                self.i += 1
            elif c == "$":
                self.emit("(?m:$)" if state["m"] else "$")
                self.i += 1
            else:
                self.emit(self.literal(c))
                self.i += 1
        if len(self.frames) != 1:
            self.error("missing closing parenthesis")
        self.emit(")" * len(self.frame.scopes))
        return "".join(self.out)

    def literal(self, c):
        """A literal character outside a class (already not special)."""
        if self.utf8 and self.frame.state["i"] and ord(c) > 127:
            variants = _cases(c)
            if len(variants) > 1:
                return "[" + variants + "]"
        return c

    def open_scope(self, frame):
        """After an inline flag change (or at |): make the emitted i-state match the flags."""
        want = frame.state["i"]
        if want != frame.emitted_i():
            self.emit("(?i:" if want else "(?-i:")
            frame.scopes.append(want)

    def quantifier(self, q):
        if self.frame.state["x"]:
            while self.peek() in _X_SPACE and self.peek():
                self.i += 1
        nxt = self.peek()
        if nxt == "+":
            self.i += 1
            self.emit(q + "+")
            return
        lazy = nxt == "?"
        if lazy:
            self.i += 1
        if self.frame.state["U"]:
            lazy = not lazy
        self.emit(q + ("?" if lazy else ""))

    # -- groups ------------------------------------------------------------

    def push(self, text, state=None, emitted_i=None):
        """Open a group: C{text} is emitted, flags inherit unless C{state} is given."""
        parent = self.frame
        state = dict(parent.state) if state is None else state
        self.emit(text)
        self.frames.append(_Frame(state, parent.emitted_i() if emitted_i is None else emitted_i))

    def group(self):
        p = self.p
        self.i += 1
        if self.peek() == "*":
            self.error("backtracking verbs (*...) are not supported")
        if self.peek() != "?":
            self.groups += 1
            self.push("(")
            return
        self.i += 1
        c = self.peek()
        if c == "#":
            end = p.find(")", self.i)
            if end < 0:
                self.error("missing ) after comment")
            self.i = end + 1
        elif c in ":=!>":
            self.i += 1
            self.push("(?" + c)
        elif c == "<" and self.peek(1) in "=!":
            self.i += 2
            self.push("(?<" + p[self.i - 1])
        elif c == "<" or c == "'" or (c == "P" and self.peek(1) == "<"):
            self.i += 2 if c == "P" else 1
            self.named_group(">" if c != "'" else "'")
        elif c == "P" and self.peek(1) == "=":
            self.i += 2
            name = self.name(")")
            self.emit("(?P=%s)" % name)
        elif c == "(":
            self.condition()
        elif c == "|":
            self.error("branch reset (?|...) is not supported")
        elif c in "R&+-0123456789" or (c == "P" and self.peek(1) == ">"):
            if c == "-" and _FLAGS.match(p, self.i):
                self.flags()
            else:
                self.error("recursion and subroutine calls are not supported")
        elif c == "C":
            self.error("callouts are not supported")
        else:
            self.flags()

    def named_group(self, close):
        name = self.name(close)
        self.groups += 1
        self.push("(?P<%s>" % name)

    def name(self, close):
        m = _NAME.match(self.p, self.i)
        if not m or self.p[m.end() : m.end() + 1] != close:
            self.error("invalid group name")
        self.i = m.end() + 1
        return m.group(0)

    def condition(self):
        p = self.p
        self.i += 1
        if p.startswith("?", self.i):
            self.error("assertion conditions are not supported")
        if p.startswith("R", self.i) or p.startswith("DEFINE", self.i):
            self.error("recursion conditions are not supported")
        end = p.find(")", self.i)
        if end < 0:
            self.error("missing ) in condition")
        ref = p[self.i : end]
        if ref[:1] in "<'" and ref[-1:] in ">'":
            ref = ref[1:-1]
        if ref.startswith(("+", "-")) and ref[1:].isdigit():
            n = int(ref[1:])
            ref = str(self.groups + n if ref[0] == "+" else self.groups - n + 1)
        if not (ref.isdigit() or _NAME.fullmatch(ref)):
            self.error("invalid condition")
        self.i = end + 1
        self.push("(?(%s)" % ref)

    def flags(self):
        m = _FLAGS.match(self.p, self.i)
        if not m:
            self.error("unknown group type or flag")
        on, off, end = m.group(1), m.group(2) or "", m.group(3)
        self.i = m.end()
        state = dict(self.frame.state)
        for f in on.replace("J", ""):
            state[f] = True
        for f in off.replace("J", ""):
            state[f] = False
        if end == ":":
            parent_i = self.frame.emitted_i()
            if state["i"] != parent_i:
                self.push("(?i:" if state["i"] else "(?-i:", state, state["i"])
            else:
                self.push("(?:", state)
        else:
            self.frame.state = state
            self.open_scope(self.frame)

    # -- escapes -------------------------------------------------------------

    def escape(self, in_class):
        """The translation of the escape after the backslash at self.i."""
        p = self.p
        if self.i >= len(p):
            self.error("pattern ends with a backslash")
        c = p[self.i]
        self.i += 1
        if c == "Q":
            end = p.find("\\E", self.i)
            text = p[self.i :] if end < 0 else p[self.i : end]
            self.i = len(p) if end < 0 else end + 2
            return "".join(_class_char(ch) if in_class else re.escape(ch) for ch in text)
        if c == "E":
            return ""
        if c in "dDwWsS":
            return "\\" + c
        if c == "h":
            return _class_body(self.h_set(), in_class)
        if c == "v":
            return _class_body(self.v_set(), in_class)
        if c in "HV" and not in_class:
            return "[^" + (self.h_set() if c == "H" else self.v_set()) + "]"
        if c == "b":
            return "\\x08" if in_class else "\\b"
        if in_class and c in "BRNAzZGKX":
            self.error("\\%s is not allowed in a character class" % c)
        if c in "BA":
            return "\\" + c
        if c == "z":
            return "\\Z"
        if c == "Z":
            return "(?=\\n?\\Z)"
        if c == "R":
            return "(?:\\r\\n|[" + self.v_set() + "])"
        if c == "N" and self.peek() != "{":
            return "[^\\n]"
        if c in "GKXCpPHVLlUu" or c == "N":
            self.error("\\%s is not supported" % c)
        if c == "g" or c == "k":
            return self.reference(c)
        if c.isdigit():
            return self.number_escape(c, in_class)
        code = self.char_escape(c)
        if code is not None:
            return self.char(code, in_class)
        if c.isascii() and c.isalpha():
            if self.frame.state["X"]:
                self.error("unknown escape \\%s" % c)
            return c
        if not c.isascii():
            return _class_char(c) if in_class else self.literal(c)
        return "\\" + c

    def h_set(self):
        return _H_TEXT if self.utf8 else _H_BYTES

    def v_set(self):
        return _V_TEXT if self.utf8 else _V_BYTES

    def char_escape(self, c):
        """The code point of a character escape (\\x, \\o, \\c, \\e ...), or None."""
        p = self.p
        simple = {"a": 7, "e": 27, "f": 12, "n": 10, "r": 13, "t": 9}
        if c in simple:
            return simple[c]
        if c == "x":
            if self.peek() == "{":
                end = p.find("}", self.i)
                digits = p[self.i + 1 : end] if end > 0 else ""
                if not digits or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    self.error("invalid \\x{...}")
                self.i = end + 1
                return int(digits, 16)
            m = re.compile("[0-9a-fA-F]{0,2}").match(p, self.i)
            self.i = m.end()
            return int(m.group(0) or "0", 16)
        if c == "o" and self.peek() == "{":
            end = p.find("}", self.i)
            digits = p[self.i + 1 : end] if end > 0 else ""
            if not digits or any(d not in "01234567" for d in digits):
                self.error("invalid \\o{...}")
            self.i = end + 1
            return int(digits, 8)
        if c == "c":
            if self.i >= len(p) or not p[self.i].isascii():
                self.error("\\c must be followed by an ASCII character")
            ch = p[self.i]
            self.i += 1
            return ord(ch.upper()) ^ 0x40
        return None

    def char(self, code, in_class):
        if not self.utf8 and code > 255:
            self.error("character value above 255 without the u flag")
        if code <= 0xFF:
            text = "\\x%02x" % code
        elif code <= 0xFFFF:
            text = "\\u%04x" % code
        else:
            text = "\\U%08x" % code
        if not in_class and self.utf8 and self.frame.state["i"] and code > 127:
            return self.literal(chr(code))
        return text

    def number_escape(self, c, in_class):
        p = self.p
        if c == "0":
            m = re.compile("[0-7]{0,2}").match(p, self.i)
            self.i = m.end()
            return self.char(int("0" + m.group(0), 8), in_class)
        m = re.compile("[0-9]*").match(p, self.i)
        digits = c + m.group(0)
        n = int(digits)
        if not in_class and (n < 10 or n <= self.groups):
            self.i = m.end()
            return "(?:\\%d)" % n
        octal = re.compile("[0-7]{1,3}").match(p, self.i - 1)
        if not octal:
            if in_class:
                return c
            self.error("reference to a group that does not exist")
        self.i = octal.end()
        return self.char(int(octal.group(0), 8) & 0xFF, in_class)

    def reference(self, kind):
        """\\g and \\k back references."""
        p = self.p
        c = self.peek()
        if kind == "g" and c in "<'":
            self.error("subroutine calls are not supported")
        closers = {"{": "}", "<": ">", "'": "'"}
        if c in closers:
            end = p.find(closers[c], self.i + 1)
            if end < 0:
                self.error("unterminated reference")
            ref = p[self.i + 1 : end]
            self.i = end + 1
        elif kind == "g":
            m = re.compile("-?[0-9]+").match(p, self.i)
            if not m:
                self.error("invalid \\g reference")
            ref = m.group(0)
            self.i = m.end()
        else:
            self.error("invalid \\k reference")
        if kind == "g" and re.fullmatch("[+-]?[0-9]+", ref):
            n = int(ref)
            if n < 0:
                n = self.groups + n + 1
            if n <= 0:
                self.error("invalid relative reference")
            return "(?:\\%d)" % n
        if not _NAME.fullmatch(ref):
            self.error("invalid group name in reference")
        return "(?P=%s)" % ref

    # -- character classes ---------------------------------------------------

    def klass(self):
        p = self.p
        self.i += 1
        parts = ["["]
        if self.peek() == "^":
            parts.append("^")
            self.i += 1
        if self.peek() == "]":
            parts.append("\\]")
            self.i += 1
        caseless_text = self.utf8 and self.frame.state["i"]
        other_cases = []
        while True:
            if self.i >= len(p):
                self.error("missing terminating ] for character class")
            c = p[self.i]
            if c == "]":
                self.i += 1
                break
            if c == "[" and p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                name = p[self.i + 2 : end] if end > 0 else ""
                if name.startswith("^"):
                    self.error("negated POSIX classes are not supported")
                if name not in _POSIX:
                    self.error("unknown POSIX class name")
                parts.append(_POSIX[name])
                self.i = end + 2
            elif c == "\\":
                self.i += 1
                parts.append(self.escape(in_class=True))
            else:
                self.i += 1
                parts.append(c)
                if caseless_text and ord(c) > 127:
                    other_cases.append(_cases(c).replace(c, ""))
        parts.extend(other_cases)
        parts.append("]")
        self.emit("".join(parts))


def _cases(c):
    """C{c} and its other-case forms (one character each) as class text."""
    out = c
    for v in (c.lower(), c.upper(), c.swapcase()):
        if len(v) == 1 and v not in out:
            out += v
    return out


def _class_char(c):
    """A literal character as class content."""
    if c in "\\]^-[":
        return "\\" + c
    return c


def _class_body(body, in_class):
    return body if in_class else "[" + body + "]"


def translate(pattern, flags, utf8):
    """
    C{pattern} (str: bytes decoded as latin-1, or UTF-8 text with C{u}) as
    a Python C{re} pattern string; C{flags} is a set of PCRE flag letters.
    Raises L{PatternError}.
    """
    return _Translator(pattern, flags, utf8).run()
