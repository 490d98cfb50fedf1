"""
The HSL lexer (PLY), after pycparser's CLexer: a class wrapping
C{ply.lex}, keywords looked up from one identifier rule, lines and columns
computed from the token offset when asked.  A VARIABLE token's value keeps
its C{$}.

Scripts are byte strings.  The lexer works on the source decoded as
Latin-1, so every byte maps to one character, string literals come back as
the exact bytes of the file, and columns count bytes.  The first error
raises L{HSLSyntaxError} with its position.
"""

import bisect
import re

from ply import lex

from halon.hsl.errors import HSLSyntaxError, Position

__all__ = ["HSLLexer", "KEYWORDS", "RESERVED", "to_text"]

KEYWORDS = (
    "if else for foreach while forever break continue switch case default match return function closure "
    "global builtin class constructor static private readonly cache barrier echo include include_once "
    "import from as with try catch throw and or not true false none array isset unset"
).split()

# Words the language keeps for itself or flags as illegal names.
RESERVED = (
    "object yield this self public protected struct clone final const goto namespace new interface in "
    "extends print trait assert finally lambda pass destroy export use"
).split()

_ESCAPES = {"\\": "\\", '"': '"', "$": "$", "n": "\n", "r": "\r", "t": "\t"}
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_REGEX_FLAGS = set("imusxUX")
_REGEX_LITERAL = re.compile(r"#/((?:[^\\/\n]|\\.)+)/([a-zA-Z]*)")
_NEWLINE = re.compile("\n")
_KEYWORD_TYPES = {word: word.upper() for word in KEYWORDS}
_RESERVED = frozenset(RESERVED)


def to_text(source):
    """The lexer's view of a script: bytes as Latin-1 (str sources are UTF-8 encoded first)."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    return source.decode("latin-1")


class HSLLexer:
    """
    Tokens of one script.  C{filename} names the script in positions;
    C{tokens}, C{t_*} rules and C{build} follow PLY's conventions.
    """

    tokens = tuple(sorted(set(_KEYWORD_TYPES.values()))) + (
        "VARIABLE",
        "ID",
        "NUMBER",
        "STRING",
        "REGEX",
        # assignment
        "ASSIGN",
        "PLUS_ASSIGN",
        "MINUS_ASSIGN",
        "TIMES_ASSIGN",
        "DIVIDE_ASSIGN",
        "MOD_ASSIGN",
        "POW_ASSIGN",
        "DOT_ASSIGN",
        "COALESCE_ASSIGN",
        # arithmetic
        "PLUS",
        "MINUS",
        "TIMES",
        "DIVIDE",
        "MOD",
        "POW",
        "DOT",
        "INC",
        "DEC",
        # comparison
        "EQ",
        "NE",
        "SEQ",
        "SNE",
        "LT",
        "GT",
        "LE",
        "GE",
        "MATCHES",
        "NOMATCH",
        # logic and bits
        "BANG",
        "BAND",
        "BOR",
        "BXOR",
        "BNOT",
        "SHL",
        "SHR",
        "USHR",
        # punctuation
        "QUESTION",
        "COLON",
        "COALESCE",
        "ARROW",
        "DCOLON",
        "ELLIPSIS",
        "DARROW",
        "LBRACKET",
        "RBRACKET",
        "LPAREN",
        "RPAREN",
        "LBRACE",
        "RBRACE",
        "COMMA",
        "SEMI",
    )

    t_ignore = " \t\r\f\v"

    t_VARIABLE = r"\$[a-zA-Z_][a-zA-Z0-9_]*"
    t_ASSIGN = r"="
    t_PLUS_ASSIGN = r"\+="
    t_MINUS_ASSIGN = r"-="
    t_TIMES_ASSIGN = r"\*="
    t_DIVIDE_ASSIGN = r"/="
    t_MOD_ASSIGN = r"%="
    t_POW_ASSIGN = r"\*\*="
    t_DOT_ASSIGN = r"\.="
    t_COALESCE_ASSIGN = r"\?\?="
    t_PLUS = r"\+"
    t_MINUS = r"-"
    t_TIMES = r"\*"
    t_DIVIDE = r"/"
    t_MOD = r"%"
    t_POW = r"\*\*"
    t_DOT = r"\."
    t_INC = r"\+\+"
    t_DEC = r"--"
    t_EQ = r"=="
    t_NE = r"!="
    t_SEQ = r"==="
    t_SNE = r"!=="
    t_LT = r"<"
    t_GT = r">"
    t_LE = r"<="
    t_GE = r">="
    t_MATCHES = r"=~"
    t_NOMATCH = r"!~"
    t_BANG = r"!"
    t_BAND = r"&"
    t_BOR = r"\|"
    t_BXOR = r"\^"
    t_BNOT = r"~"
    t_SHL = r"<<"
    t_SHR = r">>"
    t_USHR = r">>>"
    t_QUESTION = r"\?"
    t_COLON = r":"
    t_COALESCE = r"\?\?"
    t_ELLIPSIS = r"\.\.\."
    t_DARROW = r"=>"
    t_LBRACKET = r"\["
    t_RBRACKET = r"\]"
    t_LPAREN = r"\("
    t_RPAREN = r"\)"
    t_LBRACE = r"\{"
    t_RBRACE = r"\}"
    t_COMMA = r","
    t_SEMI = r";"

    # Discarded without a call into Python: line numbers are not counted as
    # the lexer goes but found from a token's offset when a node needs one.
    t_ignore_newline = r"\n[\n \t\r\f\v]*"
    t_ignore_comment_block = r"/\*(?:.|\n)*?\*/"
    t_ignore_comment_line = r"//[^\n]*"

    def __init__(self, filename="<script>"):
        self.filename = filename
        self.lexer = None
        self.newlines = []
        self.member_end = None

    def build(self, **kwargs):
        """Builds the PLY lexer (once per instance; C{clone} it for more)."""
        self.lexer = lex.lex(module=self, optimize=False, **kwargs)
        self._rebuild_master()
        return self

    def _rebuild_master(self):
        """
        PLY's master regex, the same rules in the same order, with each
        rule's group after its pattern instead of around it: C{(?:R)(?P<t_X>)}
        for C{(?P<t_X>R)}.  The regex engine then skips a rule whose first
        character cannot match without entering it, where each group
        opening first costs a full try per rule (half the lexer's time).
        The token text is the whole match and the last group closed names
        the rule, which is all PLY reads from a match.
        """
        lexer = self.lexer
        (master, entries), = lexer.lexre
        (names,) = lexer.lexstaterenames["INITIAL"]
        by_name = {name: entries[i] for i, name in enumerate(names) if name}
        rules = []
        for name in names:
            if name:
                rule = getattr(self, name)
                rules.append("(?:%s)(?P<%s>)" % (rule.__doc__ if callable(rule) else rule, name))
        regex = re.compile("|".join(rules), lexer.lexreflags)
        index = [None] * (regex.groups + 1)
        for name, i in regex.groupindex.items():
            index[i] = by_name[name]
        lexer.lexre = lexer.lexstatere["INITIAL"] = [(regex, index)]

    def input(self, text):
        """Start lexing C{text} (a str from L{to_text})."""
        self.lexer.input(text)
        self.lexer.lineno = 1
        self.newlines = [m.start() for m in _NEWLINE.finditer(text)]
        self.member_end = None

    def token(self):
        return self.lexer.token()

    # -- positions ----------------------------------------------------------

    def line_column(self, lexpos):
        """1-based line and column of offset C{lexpos}."""
        newlines = self.newlines
        before = bisect.bisect_left(newlines, lexpos)
        return before + 1, lexpos - (newlines[before - 1] if before else -1)

    def position(self, lexpos):
        return Position(self.filename, *self.line_column(lexpos))

    def error(self, message, lexpos):
        raise HSLSyntaxError(message, self.position(lexpos))

    # -- rules (functions match in this order, before the string rules) -----

    def t_REGEX(self, t):
        r"\#/((?:[^\\/\n]|\\.)+)/([a-zA-Z]*)"
        body, flags = _REGEX_LITERAL.match(t.value).groups()
        bad = set(flags) - _REGEX_FLAGS
        if bad:
            self.error("invalid regex flag %r" % "".join(sorted(bad)), t.lexpos)
        t.value = (body.replace("\\/", "/").encode("latin-1"), flags.encode("ascii"))
        return t

    def t_NUMBER(self, t):
        r"0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[oO][0-7]+(?:_[0-7]+)*|0[bB][01]+(?:_[01]+)*|[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?"
        data = t.lexer.lexdata
        end = t.lexer.lexpos
        if end < len(data) and (data[end].isalnum() or data[end] == "_" or (
            data[end] == "." and end + 1 < len(data) and data[end + 1].isdigit()
        )):
            stop = end
            while stop < len(data) and (data[stop].isalnum() or data[stop] in "._"):
                stop += 1
            self.error("invalid number %r" % data[t.lexpos : stop], t.lexpos)
        text = t.value.replace("_", "")
        prefix = text[:2].lower()
        if prefix == "0x":
            t.value = float(int(text[2:], 16))
        elif prefix == "0o":
            t.value = float(int(text[2:], 8))
        elif prefix == "0b":
            t.value = float(int(text[2:], 2))
        else:
            t.value = float(text)
        return t

    def t_STRING(self, t):
        r'"(?:[^"\\]|\\(?:.|\n))*"'
        t.value = self._double_quoted(t.value[1:-1], t.lexpos + 1)
        return t

    def t_RAWSTRING(self, t):
        r"'([\x21-\x26\x28-\x7e]*)'"
        delimiter = t.value
        data = t.lexer.lexdata
        end = data.find(delimiter, t.lexer.lexpos)
        if end < 0:
            self.error("unterminated raw string", t.lexpos)
        body = data[t.lexer.lexpos : end]
        t.lexer.lexpos = end + len(delimiter)
        t.type = "STRING"
        t.value = [body.encode("latin-1")]
        return t

    def t_ARROW(self, t):
        r"->"
        self.member_end = t.lexer.lexpos
        return t

    def t_DCOLON(self, t):
        r"::"
        self.member_end = t.lexer.lexpos
        return t

    def t_ID(self, t):
        r"[a-zA-Z_][a-zA-Z0-9_]*"
        kind = _KEYWORD_TYPES.get(t.value)
        if kind is None and t.value not in _RESERVED:
            return t
        # A member name after -> or :: may be any word: only ignored text
        # (blanks, comments) lies between that token and this one.
        end = self.member_end
        if end is not None and _IGNORED.fullmatch(t.lexer.lexdata, end, t.lexpos):
            return t
        if kind is None:
            self.error("%r is a reserved word" % t.value, t.lexpos)
        t.type = kind
        return t

    def t_error(self, t):
        ch = t.value[0]
        if ch == '"':
            message = "unterminated string"
        elif ch == "\xa0" or t.value.startswith("\xc2\xa0"):
            message = "invalid character (non-breaking space)"
        elif t.value.startswith(("\xe2\x80\x9c", "\xe2\x80\x9d")):
            message = "invalid character (typographic quote; use \")"
        elif ch == "#":
            message = "invalid regex literal (expected #/pattern/flags)"
        elif ch == "/" and t.value.startswith("/*"):
            message = "unterminated comment"
        elif ch == "'":
            message = "invalid raw string delimiter"
        else:
            message = "unexpected character %r" % ch
        self.error(message, t.lexpos)

    # -- string literals ----------------------------------------------------

    def _double_quoted(self, body, lexpos):
        """
        A double-quoted string's parts: bytes, and (name, line, column) for
        each interpolated variable.  C{body} starts at offset C{lexpos}.
        """
        if "\\" not in body and "$" not in body:
            return [body.encode("latin-1")]
        parts = []
        chunk = []
        i = 0
        n = len(body)
        line, column = self.line_column(lexpos)
        line_start = lexpos - column + 1
        while i < n:
            c = body[i]
            if c == "\\":
                e = body[i + 1]
                if e in _ESCAPES:
                    chunk.append(_ESCAPES[e])
                    i += 2
                elif e == "x" and _HEX2.match(body, i + 2):
                    chunk.append(chr(int(body[i + 2 : i + 4], 16)))
                    i += 4
                else:
                    raise HSLSyntaxError(
                        "invalid escape sequence %r" % ("\\" + e),
                        Position(self.filename, line, lexpos + i - line_start + 1),
                    )
                continue
            if c == "$":
                m = None
                start = i
                if body.startswith("{", i + 1):
                    m = _NAME.match(body, i + 2)
                    if m is not None and body.startswith("}", m.end()):
                        end = m.end() + 1
                    else:
                        m = None
                else:
                    m = _NAME.match(body, i + 1)
                    end = m.end() if m is not None else 0
                if m is not None:
                    if chunk:
                        parts.append("".join(chunk).encode("latin-1"))
                        chunk = []
                    parts.append((m.group(0), line, lexpos + start - line_start + 1))
                    i = end
                    continue
            if c == "\n":
                line += 1
                line_start = lexpos + i + 1
            chunk.append(c)
            i += 1
        if chunk or not parts:
            parts.append("".join(chunk).encode("latin-1"))
        return parts


# What the lexer discards between two tokens: its own ignore rules (the
# characters of t_ignore need no escaping in a class).
_IGNORED = re.compile(
    "(?:[%s]|%s|%s|%s)*"
    % (HSLLexer.t_ignore, HSLLexer.t_ignore_newline, HSLLexer.t_ignore_comment_block, HSLLexer.t_ignore_comment_line)
)
