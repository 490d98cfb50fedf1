"""
The HSL parser (PLY, LALR): grammar rules in docstrings, one precedence
table for the operators, every node built with its file:line:column.

The parse table is generated at build time: setup.py's build_py calls
L{write_tables} to write C{_parsetab.py} into the package.  At run time
the table is loaded from C{halon.hsl._parsetab}; when it is missing or
stale PLY rebuilds it in memory.  Nothing is ever written at run time.

Operator precedence, lowest first (the manual documents only the
arithmetic part: C{.} below C{+ -} below C{* / %} below C{**}):

    = += -= *= /= %= **= .= ??=      right
    ? :   ?:                         right
    ??                               right
    or
    and
    == != === !== < > <= >= =~ !~
    |
    ^
    &
    << >> >>>
    .
    + -
    * / %
    - ! not ~  (prefix)              right
    **                               right
    ++ -- [] [:] () -> ::  (postfix)
"""

import os
import threading

from ply import yacc

from halon.hsl import ast
from halon.hsl.errors import HSLSyntaxError, Position
from halon.hsl.lexer import HSLLexer, to_text

__all__ = ["parse", "write_tables", "HSLParser"]

_TABMODULE = "halon.hsl._parsetab"

_ASSIGN_OPS = {
    "=": None,
    "+=": "+",
    "-=": "-",
    "*=": "*",
    "/=": "/",
    "%=": "%",
    "**=": "**",
    ".=": ".",
    "??=": "??",
}


class HSLParser:
    """One PLY parser with its lexer; L{parse} is serialised by a lock."""

    tokens = HSLLexer.tokens

    precedence = (
        ("nonassoc", "IFX"),
        ("nonassoc", "ELSE"),
        (
            "right",
            "ASSIGN",
            "PLUS_ASSIGN",
            "MINUS_ASSIGN",
            "TIMES_ASSIGN",
            "DIVIDE_ASSIGN",
            "MOD_ASSIGN",
            "POW_ASSIGN",
            "DOT_ASSIGN",
            "COALESCE_ASSIGN",
        ),
        ("right", "QUESTION", "COLON"),
        ("right", "COALESCE"),
        ("left", "OR"),
        ("left", "AND"),
        ("left", "EQ", "NE", "SEQ", "SNE", "LT", "GT", "LE", "GE", "MATCHES", "NOMATCH"),
        ("left", "BOR"),
        ("left", "BXOR"),
        ("left", "BAND"),
        ("left", "SHL", "SHR", "USHR"),
        ("left", "DOT"),
        ("left", "PLUS", "MINUS"),
        ("left", "TIMES", "DIVIDE", "MOD"),
        ("right", "UMINUS", "BANG", "NOT", "BNOT"),
        ("right", "POW"),
    )

    def __init__(self, tabmodule=_TABMODULE, outputdir=None, write_tables=False):
        self.lexer = HSLLexer().build()
        self._lock = threading.Lock()
        self.parser = yacc.yacc(
            module=self,
            start="script",
            tabmodule=tabmodule,
            outputdir=outputdir or os.path.dirname(os.path.abspath(__file__)),
            write_tables=write_tables,
            debug=False,
            errorlog=yacc.NullLogger(),
        )

    def parse(self, source, filename="<script>"):
        """The L{ast.Script} of C{source} (bytes or str); L{HSLSyntaxError} if invalid."""
        text = to_text(source)
        with self._lock:
            lexer = self.lexer
            lexer.filename = filename
            lexer.input(text)
            self._filename = filename
            self._text = text
            try:
                # PLY's own lexer object: yacc then calls its token() directly.
                return self.parser.parse(lexer=lexer.lexer, tracking=False)
            except RecursionError:
                raise HSLSyntaxError("the script nests too deeply", Position(filename, 1, 1))
            finally:
                self._text = None

    # ######--   PRIVATE   --######
    #
    # The rules read and set the symbols of p.slice directly: p[n] and
    # p.lineno(n) are Python-level calls, made tens of thousands of times for
    # a large script.

    def _at(self, token):
        """File, line and column of C{token}, positional arguments for a node."""
        return (self._filename, *self.lexer.line_column(token.lexpos))

    def _pos(self, token):
        """The position of C{token} as keywords (kept in nodes for names such as a foreach variable)."""
        file, line, column = self._at(token)
        return {"file": file, "line": line, "column": column}

    def _error(self, message, node):
        raise HSLSyntaxError(message, Position(node.file, node.line, node.column))

    def _string(self, parts, file, line, column):
        if len(parts) == 1 and parts[0].__class__ is bytes:
            return ast.String(parts[0], file, line, column)
        nodes = []
        for part in parts:
            if part.__class__ is bytes:
                nodes.append(ast.String(part, file, line, column))
            else:
                name, part_line, part_column = part
                nodes.append(ast.Var(name, file, part_line, part_column))
        return ast.Interpolated(nodes, file, line, column)

    def _constant_string(self, token, what):
        parts = token.value
        if len(parts) != 1 or not isinstance(parts[0], bytes):
            raise HSLSyntaxError("%s needs a constant string" % what, Position(*self._at(token)))
        return parts[0].decode("utf-8", "surrogateescape")

    # -- script and statements ---------------------------------------------

    def p_script(self, p):
        """script : statements"""
        s = p.slice
        s[0].value = ast.Script(s[1].value, self._filename, 1, 1)

    def p_statements(self, p):
        """statements : statements statement"""
        s = p.slice
        statements = s[0].value = s[1].value
        if s[2].value is not None:
            statements.append(s[2].value)

    def p_statements_none(self, p):
        """statements :"""
        p.slice[0].value = []

    # The commonest simple statements are also statements with their SEMI
    # in the same rule: one reduction less for each.

    def p_statement_simple(self, p):
        """statement : simple SEMI"""
        s = p.slice
        s[0].value = s[1].value

    def p_statement_empty(self, p):
        """statement : SEMI"""
        p.slice[0].value = None

    def p_block(self, p):
        """block : LBRACE statements RBRACE
        | LBRACE statements simple RBRACE
        statement : LBRACE statements RBRACE
        | LBRACE statements simple RBRACE"""
        s = p.slice
        body = s[2].value
        if len(s) == 5:
            body.append(s[3].value)
        s[0].value = ast.Block(body, *self._at(s[1]))

    def p_simple_expr(self, p):
        """simple : expr
        statement : expr SEMI"""
        s = p.slice
        value = s[1].value
        s[0].value = ast.ExprStmt(value, value.file, value.line, value.column)

    def p_simple_echo(self, p):
        """simple : ECHO expr
        statement : ECHO expr SEMI"""
        s = p.slice
        s[0].value = ast.Echo(s[2].value, *self._at(s[1]))

    def p_simple_return(self, p):
        """simple : RETURN expr
        statement : RETURN expr SEMI"""
        s = p.slice
        s[0].value = ast.Return(s[2].value, *self._at(s[1]))

    def p_simple_return_none(self, p):
        """simple : RETURN
        statement : RETURN SEMI"""
        s = p.slice
        s[0].value = ast.Return(None, *self._at(s[1]))

    def p_simple_break(self, p):
        """simple : BREAK"""
        s = p.slice
        s[0].value = ast.Break(*self._at(s[1]))

    def p_simple_continue(self, p):
        """simple : CONTINUE"""
        s = p.slice
        s[0].value = ast.Continue(*self._at(s[1]))

    def p_simple_global(self, p):
        """simple : GLOBAL varlist"""
        s = p.slice
        s[0].value = ast.Global(s[2].value, *self._at(s[1]))

    def p_varlist(self, p):
        """varlist : VARIABLE
        | varlist COMMA VARIABLE"""
        s = p.slice
        if len(s) == 2:
            s[0].value = [(s[1].value[1:], self._pos(s[1]))]
        else:
            s[0].value = s[1].value + [(s[3].value[1:], self._pos(s[3]))]

    def p_simple_throw(self, p):
        """simple : THROW expr"""
        s = p.slice
        s[0].value = ast.Throw(s[2].value, *self._at(s[1]))

    def p_simple_include(self, p):
        """simple : INCLUDE STRING
        | INCLUDE_ONCE STRING"""
        s = p.slice
        keyword = s[1].value
        s[0].value = ast.Include(
            self._constant_string(s[2], keyword), keyword == "include_once", *self._at(s[1])
        )

    def p_simple_import(self, p):
        """simple : IMPORT LBRACE import_list RBRACE FROM STRING
        | IMPORT LBRACE import_list COMMA RBRACE FROM STRING"""
        s = p.slice
        s[0].value = ast.Import(s[3].value, self._constant_string(s[-1], "import"), *self._at(s[1]))

    def p_import_list(self, p):
        """import_list : import_item
        | import_list COMMA import_item"""
        s = p.slice
        s[0].value = [s[1].value] if len(s) == 2 else s[1].value + [s[3].value]

    def p_import_item(self, p):
        """import_item : ID
        | ID AS ID
        | VARIABLE
        | VARIABLE AS VARIABLE"""
        s = p.slice
        is_var = s[1].type == "VARIABLE"
        name = s[1].value[1:] if is_var else s[1].value
        alias = (s[3].value[1:] if is_var else s[3].value) if len(s) == 4 else name
        s[0].value = (is_var, name, alias, self._pos(s[-1]))

    def p_simple_import_all(self, p):
        """simple : IMPORT TIMES AS ID FROM STRING"""
        s = p.slice
        s[0].value = ast.ImportAll(s[4].value, self._constant_string(s[6], "import"), *self._at(s[1]))

    def p_simple_import_data(self, p):
        """simple : IMPORT VARIABLE FROM STRING
        | IMPORT VARIABLE FROM STRING WITH expr"""
        s = p.slice
        options = s[6].value if len(s) == 7 else None
        s[0].value = ast.ImportData(
            s[2].value[1:], self._constant_string(s[4], "import"), options, *self._at(s[1])
        )

    def p_if(self, p):
        """statement : IF LPAREN expr RPAREN statement %prec IFX
        | IF LPAREN expr RPAREN statement ELSE statement"""
        s = p.slice
        orelse = s[7].value if len(s) == 8 else None
        s[0].value = ast.If(s[3].value, s[5].value, orelse, *self._at(s[1]))

    def p_for(self, p):
        """statement : FOR LPAREN exprs_opt SEMI expr_opt SEMI exprs_opt RPAREN statement"""
        s = p.slice
        s[0].value = ast.For(s[3].value, s[5].value, s[7].value, s[9].value, *self._at(s[1]))

    def p_exprs_opt(self, p):
        """exprs_opt : exprs
        | empty"""
        s = p.slice
        s[0].value = s[1].value or []

    def p_exprs(self, p):
        """exprs : expr
        | exprs COMMA expr"""
        s = p.slice
        s[0].value = [s[1].value] if len(s) == 2 else s[1].value + [s[3].value]

    def p_expr_opt(self, p):
        """expr_opt : expr
        | empty"""
        s = p.slice
        s[0].value = s[1].value

    def p_foreach(self, p):
        """statement : FOREACH LPAREN expr AS VARIABLE RPAREN statement
        | FOREACH LPAREN expr AS VARIABLE DARROW VARIABLE RPAREN statement"""
        s = p.slice
        if len(s) == 8:
            s[0].value = ast.Foreach(s[3].value, None, (s[5].value[1:], self._pos(s[5])), s[7].value, *self._at(s[1]))
        else:
            s[0].value = ast.Foreach(
                s[3].value,
                (s[5].value[1:], self._pos(s[5])),
                (s[7].value[1:], self._pos(s[7])),
                s[9].value,
                *self._at(s[1]),
            )

    def p_while(self, p):
        """statement : WHILE LPAREN expr RPAREN statement"""
        s = p.slice
        s[0].value = ast.While(s[3].value, s[5].value, *self._at(s[1]))

    def p_forever(self, p):
        """statement : FOREVER statement"""
        s = p.slice
        s[0].value = ast.Forever(s[2].value, *self._at(s[1]))

    def p_switch(self, p):
        """statement : SWITCH LPAREN expr RPAREN LBRACE cases RBRACE"""
        s = p.slice
        cases = s[6].value
        defaults = [case for case in cases if case.value is None]
        if len(defaults) > 1:
            self._error("switch has more than one default", defaults[1])
        s[0].value = ast.Switch(s[3].value, cases, *self._at(s[1]))

    def p_cases(self, p):
        """cases : cases case
        | empty"""
        s = p.slice
        s[0].value = [] if len(s) == 2 else s[1].value + [s[2].value]

    def p_case(self, p):
        """case : CASE expr COLON statements
        | DEFAULT COLON statements"""
        s = p.slice
        if len(s) == 5:
            s[0].value = ast.Case(s[2].value, s[4].value, *self._at(s[1]))
        else:
            s[0].value = ast.Case(None, s[3].value, *self._at(s[1]))

    def p_function_def(self, p):
        """statement : FUNCTION ID LPAREN params RPAREN block"""
        s = p.slice
        s[0].value = ast.FunctionDef(s[2].value, s[4].value, s[6].value.body, *self._at(s[2]))

    def p_params(self, p):
        """params : param_list
        | param_list COMMA
        | empty"""
        s = p.slice
        s[0].value = s[1].value or []

    def p_param_list(self, p):
        """param_list : param
        | param_list COMMA param"""
        s = p.slice
        s[0].value = [s[1].value] if len(s) == 2 else s[1].value + [s[3].value]

    def p_param(self, p):
        """param : VARIABLE
        | VARIABLE ASSIGN expr
        | ELLIPSIS VARIABLE"""
        s = p.slice
        if s[1].type == "ELLIPSIS":
            s[0].value = ast.Param(s[2].value[1:], None, True, *self._at(s[2]))
        else:
            s[0].value = ast.Param(s[1].value[1:], s[3].value if len(s) == 4 else None, False, *self._at(s[1]))

    def p_class_def(self, p):
        """statement : CLASS ID LBRACE members RBRACE"""
        s = p.slice
        s[0].value = ast.ClassDef(s[2].value, s[4].value, *self._at(s[2]))

    def p_members(self, p):
        """members : members member
        | empty"""
        s = p.slice
        s[0].value = [] if len(s) == 2 else s[1].value + [s[2].value]

    def p_member_constructor(self, p):
        """member : CONSTRUCTOR LPAREN params RPAREN block"""
        s = p.slice
        s[0].value = ast.Constructor(s[3].value, s[5].value.body, *self._at(s[1]))

    def p_member_method(self, p):
        """member : modifiers FUNCTION ID LPAREN params RPAREN block"""
        s = p.slice
        mods = s[1].value
        if "readonly" in mods:
            raise HSLSyntaxError("a function cannot be readonly", Position(*self._at(s[2])))
        s[0].value = ast.Method(
            s[3].value, s[5].value, s[7].value.body, "private" in mods, "static" in mods, *self._at(s[3])
        )

    def p_member_property(self, p):
        """member : modifiers VARIABLE SEMI
        | modifiers VARIABLE ASSIGN expr SEMI"""
        s = p.slice
        mods = s[1].value
        default = s[4].value if len(s) == 6 else None
        s[0].value = ast.Property(
            s[2].value[1:], default, "private" in mods, "readonly" in mods, "static" in mods, *self._at(s[2])
        )

    def p_modifiers(self, p):
        """modifiers : modifiers PRIVATE
        | modifiers READONLY
        | modifiers STATIC
        | empty"""
        s = p.slice
        if len(s) == 2:
            s[0].value = ()
        else:
            if s[2].value in s[1].value:
                raise HSLSyntaxError("%s given twice" % s[2].value, Position(*self._at(s[2])))
            s[0].value = s[1].value + (s[2].value,)

    def p_try(self, p):
        """statement : TRY block CATCH LPAREN VARIABLE RPAREN block
        | TRY block CATCH block"""
        s = p.slice
        if len(s) == 8:
            s[0].value = ast.Try(s[2].value.body, (s[5].value[1:], self._pos(s[5])), s[7].value.body, *self._at(s[1]))
        else:
            s[0].value = ast.Try(s[2].value.body, None, s[4].value.body, *self._at(s[1]))

    def p_barrier(self, p):
        """statement : BARRIER expr block
        | BARRIER expr DARROW VARIABLE block"""
        s = p.slice
        if len(s) == 4:
            s[0].value = ast.Barrier(s[2].value, None, s[3].value.body, *self._at(s[1]))
        else:
            s[0].value = ast.Barrier(s[2].value, (s[4].value[1:], self._pos(s[4])), s[5].value.body, *self._at(s[1]))

    # -- expressions ----------------------------------------------------------

    def p_expr_binary(self, p):
        """expr : expr PLUS expr
        | expr MINUS expr
        | expr TIMES expr
        | expr DIVIDE expr
        | expr MOD expr
        | expr POW expr
        | expr DOT expr
        | expr EQ expr
        | expr NE expr
        | expr SEQ expr
        | expr SNE expr
        | expr LT expr
        | expr GT expr
        | expr LE expr
        | expr GE expr
        | expr MATCHES expr
        | expr NOMATCH expr
        | expr BAND expr
        | expr BOR expr
        | expr BXOR expr
        | expr SHL expr
        | expr SHR expr
        | expr USHR expr"""
        s = p.slice
        s[0].value = ast.Binary(s[2].value, s[1].value, s[3].value, *self._at(s[2]))

    def p_expr_logical(self, p):
        """expr : expr AND expr
        | expr OR expr"""
        s = p.slice
        s[0].value = ast.Logical(s[2].value, s[1].value, s[3].value, *self._at(s[2]))

    def p_expr_ternary(self, p):
        """expr : expr QUESTION expr COLON expr
        | expr QUESTION COLON expr"""
        s = p.slice
        if len(s) == 6:
            s[0].value = ast.Ternary(s[1].value, s[3].value, s[5].value, *self._at(s[2]))
        else:
            s[0].value = ast.Ternary(s[1].value, None, s[4].value, *self._at(s[2]))

    def p_expr_coalesce(self, p):
        """expr : expr COALESCE expr"""
        s = p.slice
        s[0].value = ast.Coalesce(s[1].value, s[3].value, *self._at(s[2]))

    def p_expr_assign(self, p):
        """expr : expr ASSIGN expr
        | expr PLUS_ASSIGN expr
        | expr MINUS_ASSIGN expr
        | expr TIMES_ASSIGN expr
        | expr DIVIDE_ASSIGN expr
        | expr MOD_ASSIGN expr
        | expr POW_ASSIGN expr
        | expr DOT_ASSIGN expr
        | expr COALESCE_ASSIGN expr"""
        s = p.slice
        symbol = s[2].value
        op = _ASSIGN_OPS[symbol]
        target = s[1].value
        if isinstance(target, ast.ArrayLit):
            if op is not None:
                self._error("cannot use %s with a destructuring assignment" % symbol, target)
            self._check_pattern(target)
        elif not isinstance(target, (ast.Var, ast.Index, ast.Slice, ast.Prop)) and not (
            isinstance(target, ast.Static) and target.var
        ):
            self._error("cannot assign to this expression", target)
        elif isinstance(target, ast.Slice) and op is not None:
            self._error("cannot use %s with a slice" % symbol, target)
        s[0].value = ast.Assign(target, op, s[3].value, *self._at(s[2]))

    def _check_pattern(self, pattern):
        """A destructuring pattern: variables (with defaults), one trailing rest, all keyed or none."""
        keyed = None
        items = pattern.items
        for i, item in enumerate(items):
            if item.spread:
                if i != len(items) - 1 or item.key is not None:
                    self._error("the rest variable must come last", item)
                if not isinstance(item.value, ast.Var):
                    self._error("the rest must be a variable", item)
                continue
            is_keyed = item.key is not None
            if keyed is None:
                keyed = is_keyed
            elif keyed != is_keyed:
                self._error("cannot mix keyed and unkeyed destructuring", item)
            target = item.value
            if isinstance(target, ast.Assign) and target.op is None:
                target = target.target
            if isinstance(target, ast.ArrayLit):
                self._check_pattern(target)
            elif not isinstance(target, (ast.Var, ast.Index, ast.Prop)):
                self._error("cannot assign to this expression", target)

    def p_expr_unary(self, p):
        """expr : MINUS expr %prec UMINUS
        | BANG expr
        | NOT expr
        | BNOT expr"""
        s = p.slice
        op = s[1].value
        if op == "not":
            op = "!"
        s[0].value = ast.Unary(op, s[2].value, *self._at(s[1]))

    def p_expr_prefix(self, p):
        """expr : INC postfix
        | DEC postfix"""
        s = p.slice
        self._check_incdec(s[2].value)
        s[0].value = ast.IncDec(s[1].value, True, s[2].value, *self._at(s[1]))

    def p_expr_postfix_incdec(self, p):
        """expr : postfix INC
        | postfix DEC"""
        s = p.slice
        self._check_incdec(s[1].value)
        s[0].value = ast.IncDec(s[2].value, False, s[1].value, *self._at(s[2]))

    def _check_incdec(self, target):
        if not isinstance(target, (ast.Var, ast.Index, ast.Prop)) and not (
            isinstance(target, ast.Static) and target.var
        ):
            self._error("cannot increment or decrement this expression", target)

    def p_expr_postfix(self, p):
        """expr : postfix"""
        s = p.slice
        s[0].value = s[1].value

    # Primary expressions are postfix expressions themselves (no rule
    # "postfix : primary"): one reduction less for every operand.

    def p_postfix_index(self, p):
        """postfix : postfix LBRACKET expr RBRACKET
        | postfix LBRACKET RBRACKET"""
        s = p.slice
        s[0].value = ast.Index(s[1].value, s[3].value if len(s) == 5 else None, *self._at(s[2]))

    def p_postfix_slice(self, p):
        """postfix : postfix LBRACKET expr_opt COLON expr_opt RBRACKET
        | postfix LBRACKET expr_opt COLON expr_opt COLON expr_opt RBRACKET
        | postfix LBRACKET expr_opt DCOLON expr_opt RBRACKET"""
        s = p.slice
        if s[4].type == "DCOLON":
            start, stop, step = s[3].value, None, s[5].value
        else:
            start, stop, step = s[3].value, s[5].value, s[7].value if len(s) == 9 else None
        s[0].value = ast.Slice(s[1].value, start, stop, step, *self._at(s[2]))

    def p_postfix_call(self, p):
        """postfix : postfix LPAREN args RPAREN"""
        s = p.slice
        func = s[1].value
        if isinstance(func, (ast.Name, ast.Builtin, ast.Prop, ast.Static)):
            s[0].value = ast.Call(func, s[3].value, func.file, func.line, func.column)
        else:
            s[0].value = ast.Call(func, s[3].value, *self._at(s[2]))

    def p_postfix_prop(self, p):
        """postfix : postfix ARROW ID"""
        s = p.slice
        s[0].value = ast.Prop(s[1].value, s[3].value, *self._at(s[3]))

    def p_args(self, p):
        """args : arg_list
        | arg_list COMMA
        | empty"""
        s = p.slice
        s[0].value = s[1].value or []

    def p_arg_list(self, p):
        """arg_list : expr
        | arg_list COMMA expr"""
        s = p.slice
        value = s[-1].value
        arg = ast.Arg(value, False, value.file, value.line, value.column)
        s[0].value = [arg] if len(s) == 2 else s[1].value + [arg]

    def p_arg_list_spread(self, p):
        """arg_list : ELLIPSIS expr
        | arg_list COMMA ELLIPSIS expr"""
        s = p.slice
        arg = ast.Arg(s[-1].value, True, *self._at(s[-2]))
        s[0].value = [arg] if len(s) == 3 else s[1].value + [arg]

    def p_primary_variable(self, p):
        """postfix : VARIABLE"""
        s = p.slice
        s[0].value = ast.Var(s[1].value[1:], *self._at(s[1]))

    def p_primary_number(self, p):
        """postfix : NUMBER"""
        s = p.slice
        s[0].value = ast.Number(s[1].value, *self._at(s[1]))

    def p_primary_string(self, p):
        """postfix : STRING"""
        s = p.slice
        s[0].value = self._string(s[1].value, *self._at(s[1]))

    def p_primary_regex(self, p):
        """postfix : REGEX"""
        s = p.slice
        pattern, flags = s[1].value
        s[0].value = ast.Regex(pattern, flags, *self._at(s[1]))

    def p_primary_constant(self, p):
        """postfix : TRUE
        | FALSE
        | NONE"""
        s = p.slice
        word = s[1].value
        if word == "none":
            s[0].value = ast.NoneLit(*self._at(s[1]))
        else:
            s[0].value = ast.Bool(word == "true", *self._at(s[1]))

    def p_primary_name(self, p):
        """postfix : ID"""
        s = p.slice
        s[0].value = ast.Name(s[1].value, *self._at(s[1]))

    def p_primary_builtin(self, p):
        """postfix : BUILTIN ID"""
        s = p.slice
        s[0].value = ast.Builtin(s[2].value, *self._at(s[2]))

    def p_primary_static(self, p):
        """postfix : ID DCOLON ID
        | ID DCOLON VARIABLE
        | STATIC DCOLON ID
        | STATIC DCOLON VARIABLE"""
        s = p.slice
        is_var = s[3].type == "VARIABLE"
        scope = None if s[1].type == "STATIC" else s[1].value
        name = s[3].value[1:] if is_var else s[3].value
        s[0].value = ast.Static(scope, name, is_var, *self._at(s[3]))

    def p_primary_paren(self, p):
        """postfix : LPAREN expr RPAREN"""
        s = p.slice
        s[0].value = s[2].value

    def p_primary_array(self, p):
        """postfix : LBRACKET array_items RBRACKET
        | ARRAY LPAREN array_items RPAREN"""
        s = p.slice
        s[0].value = ast.ArrayLit(s[2].value if len(s) == 4 else s[3].value, *self._at(s[1]))

    def p_array_items(self, p):
        """array_items : item_list
        | item_list COMMA
        | empty"""
        s = p.slice
        s[0].value = s[1].value or []

    def p_item_list(self, p):
        """item_list : expr
        | item_list COMMA expr"""
        s = p.slice
        value = s[-1].value
        item = ast.ArrayItem(None, value, False, value.file, value.line, value.column)
        s[0].value = [item] if len(s) == 2 else s[1].value + [item]

    def p_item_list_keyed(self, p):
        """item_list : expr DARROW expr
        | item_list COMMA expr DARROW expr"""
        s = p.slice
        key = s[-3].value
        item = ast.ArrayItem(key, s[-1].value, False, key.file, key.line, key.column)
        s[0].value = [item] if len(s) == 4 else s[1].value + [item]

    def p_item_list_spread(self, p):
        """item_list : ELLIPSIS expr
        | item_list COMMA ELLIPSIS expr"""
        s = p.slice
        item = ast.ArrayItem(None, s[-1].value, True, *self._at(s[-2]))
        s[0].value = [item] if len(s) == 3 else s[1].value + [item]

    def p_primary_function(self, p):
        """postfix : FUNCTION LPAREN params RPAREN block
        | FUNCTION LPAREN params RPAREN CLOSURE LPAREN varlist RPAREN block"""
        s = p.slice
        if len(s) == 6:
            s[0].value = ast.FuncLit(s[3].value, [], s[5].value.body, *self._at(s[1]))
        else:
            s[0].value = ast.FuncLit(s[3].value, s[7].value, s[9].value.body, *self._at(s[1]))

    def p_primary_isset(self, p):
        """postfix : ISSET LPAREN expr RPAREN
        | UNSET LPAREN expr RPAREN"""
        s = p.slice
        word = s[1].value
        target = s[3].value
        if not isinstance(target, (ast.Var, ast.Index, ast.Prop, ast.Slice)) and not (
            isinstance(target, ast.Static) and target.var
        ):
            self._error("%s() takes a variable" % word, target)
        if isinstance(target, ast.Index) and target.index is None:
            self._error("%s() cannot take []" % word, target)
        cls = ast.Isset if word == "isset" else ast.Unset
        s[0].value = cls(target, *self._at(s[1]))

    def p_primary_cache(self, p):
        """postfix : CACHE LBRACKET array_items RBRACKET cached_call
        | CACHE cached_call"""
        s = p.slice
        if len(s) == 6:
            options = ast.ArrayLit(s[3].value, *self._at(s[2]))
            call = s[5].value
        else:
            options = None
            call = s[2].value
        s[0].value = ast.Cache(options, call, *self._at(s[1]))

    def p_cached_call(self, p):
        """cached_call : ID LPAREN args RPAREN
        | BUILTIN ID LPAREN args RPAREN"""
        s = p.slice
        if len(s) == 5:
            at = self._at(s[1])
            s[0].value = ast.Call(ast.Name(s[1].value, *at), s[3].value, *at)
        else:
            at = self._at(s[2])
            s[0].value = ast.Call(ast.Builtin(s[2].value, *at), s[4].value, *at)

    def p_primary_match(self, p):
        """postfix : MATCH LPAREN expr RPAREN LBRACE arms RBRACE
        | MATCH LPAREN expr RPAREN LBRACE arms COMMA RBRACE"""
        s = p.slice
        arms = s[6].value
        defaults = [arm for arm in arms if arm.conditions is None]
        if len(defaults) > 1:
            self._error("match has more than one default", defaults[1])
        s[0].value = ast.Match(s[3].value, arms, *self._at(s[1]))

    def p_arms(self, p):
        """arms : arm
        | arms COMMA arm"""
        s = p.slice
        s[0].value = [s[1].value] if len(s) == 2 else s[1].value + [s[3].value]

    def p_arm(self, p):
        """arm : match_values DARROW expr"""
        s = p.slice
        first = s[1].value[0]
        s[0].value = ast.MatchArm(s[1].value, s[3].value, first.file, first.line, first.column)

    def p_arm_default(self, p):
        """arm : DEFAULT DARROW expr"""
        s = p.slice
        s[0].value = ast.MatchArm(None, s[3].value, *self._at(s[1]))

    def p_match_values(self, p):
        """match_values : expr
        | match_values COMMA expr"""
        s = p.slice
        s[0].value = [s[1].value] if len(s) == 2 else s[1].value + [s[3].value]

    def p_empty(self, p):
        """empty :"""
        p.slice[0].value = None

    def p_error(self, t):
        if t is None:
            text = self._text or ""
            line = text.count("\n") + 1
            column = len(text) - text.rfind("\n")
            raise HSLSyntaxError("syntax error, unexpected end of input", Position(self._filename, line, column))
        if t.type in ("STRING",):
            what = "string"
        elif t.type == "NUMBER":
            what = "number"
        elif t.type == "VARIABLE":
            what = "variable %s" % t.value
        elif t.type == "REGEX":
            what = "regex"
        else:
            what = "'%s'" % t.value
        raise HSLSyntaxError("syntax error, unexpected %s" % what, self.lexer.position(t.lexpos))


_parser = None
_parser_lock = threading.Lock()


def _instance():
    global _parser
    if _parser is None:
        with _parser_lock:
            if _parser is None:
                _parser = HSLParser()
    return _parser


def parse(source, filename="<script>"):
    """Parse a script into an L{ast.Script}; raises L{HSLSyntaxError}."""
    return _instance().parse(source, filename)


def write_tables(outdir):
    """
    Generate the parse table module C{_parsetab.py} into C{outdir} (setup.py
    calls this at build time).  PLY skips writing when it can import an
    up-to-date table, so the table is generated under a name that cannot
    be imported and then renamed.
    """
    os.makedirs(outdir, exist_ok=True)
    scratch = "_parsetab_build"
    HSLParser(tabmodule="halon.hsl." + scratch, outputdir=outdir, write_tables=True)
    built = os.path.join(outdir, scratch + ".py")
    if not os.path.exists(built):
        raise RuntimeError("PLY did not write the HSL parse table into %s" % outdir)
    os.replace(built, os.path.join(outdir, "_parsetab.py"))
