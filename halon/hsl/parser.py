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
            self.lexer.filename = filename
            self.lexer.input(text)
            self._filename = filename
            self._text = text
            try:
                return self.parser.parse(input=text, lexer=self.lexer, tracking=False)
            except RecursionError:
                raise HSLSyntaxError("the script nests too deeply", Position(filename, 1, 1))
            finally:
                self._text = None

    # ######--   PRIVATE   --######

    def _at(self, p, n):
        """Position keywords of token C{n} of production C{p}."""
        lexpos = p.lexpos(n)
        return {"file": self._filename, "line": p.lineno(n), "column": self.lexer.column(lexpos)}

    def _error(self, message, node):
        raise HSLSyntaxError(message, Position(node.file, node.line, node.column))

    def _string(self, parts, pos):
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return ast.String(parts[0], **pos)
        nodes = []
        for part in parts:
            if isinstance(part, bytes):
                nodes.append(ast.String(part, **pos))
            else:
                name, line, column = part
                nodes.append(ast.Var(name, file=pos["file"], line=line, column=column))
        return ast.Interpolated(nodes, **pos)

    def _constant_string(self, p, n, what):
        parts = p[n]
        if len(parts) != 1 or not isinstance(parts[0], bytes):
            raise HSLSyntaxError("%s needs a constant string" % what, Position(**self._at(p, n)))
        return parts[0].decode("utf-8", "surrogateescape")

    # -- script and statements ---------------------------------------------

    def p_script(self, p):
        """script : statements"""
        p[0] = ast.Script(p[1], file=self._filename, line=1, column=1)

    def p_statements(self, p):
        """statements : statements statement
        | empty"""
        if len(p) == 2:
            p[0] = []
        else:
            p[0] = p[1]
            if p[2] is not None:
                p[0].append(p[2])

    def p_statement_simple(self, p):
        """statement : simple SEMI"""
        p[0] = p[1]

    def p_statement_empty(self, p):
        """statement : SEMI"""
        p[0] = None

    def p_statement_compound(self, p):
        """statement : block
        | if
        | for
        | foreach
        | while
        | forever
        | switch
        | function_def
        | class_def
        | try
        | barrier"""
        p[0] = p[1]

    def p_block(self, p):
        """block : LBRACE statements RBRACE
        | LBRACE statements simple RBRACE"""
        body = p[2]
        if len(p) == 5:
            body.append(p[3])
        p[0] = ast.Block(body, **self._at(p, 1))

    def p_simple_expr(self, p):
        """simple : expr"""
        p[0] = ast.ExprStmt(p[1]).at(p[1])

    def p_simple_echo(self, p):
        """simple : ECHO expr"""
        p[0] = ast.Echo(p[2], **self._at(p, 1))

    def p_simple_return(self, p):
        """simple : RETURN expr
        | RETURN"""
        p[0] = ast.Return(p[2] if len(p) == 3 else None, **self._at(p, 1))

    def p_simple_break(self, p):
        """simple : BREAK"""
        p[0] = ast.Break(**self._at(p, 1))

    def p_simple_continue(self, p):
        """simple : CONTINUE"""
        p[0] = ast.Continue(**self._at(p, 1))

    def p_simple_global(self, p):
        """simple : GLOBAL varlist"""
        p[0] = ast.Global(p[2], **self._at(p, 1))

    def p_varlist(self, p):
        """varlist : VARIABLE
        | varlist COMMA VARIABLE"""
        if len(p) == 2:
            p[0] = [(p[1], self._at(p, 1))]
        else:
            p[0] = p[1] + [(p[3], self._at(p, 3))]

    def p_simple_throw(self, p):
        """simple : THROW expr"""
        p[0] = ast.Throw(p[2], **self._at(p, 1))

    def p_simple_include(self, p):
        """simple : INCLUDE STRING
        | INCLUDE_ONCE STRING"""
        p[0] = ast.Include(self._constant_string(p, 2, p[1]), p[1] == "include_once", **self._at(p, 1))

    def p_simple_import(self, p):
        """simple : IMPORT LBRACE import_list RBRACE FROM STRING
        | IMPORT LBRACE import_list COMMA RBRACE FROM STRING"""
        p[0] = ast.Import(p[3], self._constant_string(p, len(p) - 1, "import"), **self._at(p, 1))

    def p_import_list(self, p):
        """import_list : import_item
        | import_list COMMA import_item"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_import_item(self, p):
        """import_item : ID
        | ID AS ID
        | VARIABLE
        | VARIABLE AS VARIABLE"""
        is_var = p.slice[1].type == "VARIABLE"
        alias = p[3] if len(p) == 4 else p[1]
        p[0] = (is_var, p[1], alias, self._at(p, len(p) - 1))

    def p_simple_import_all(self, p):
        """simple : IMPORT TIMES AS ID FROM STRING"""
        p[0] = ast.ImportAll(p[4], self._constant_string(p, 6, "import"), **self._at(p, 1))

    def p_simple_import_data(self, p):
        """simple : IMPORT VARIABLE FROM STRING
        | IMPORT VARIABLE FROM STRING WITH expr"""
        options = p[6] if len(p) == 7 else None
        p[0] = ast.ImportData(p[2], self._constant_string(p, 4, "import"), options, **self._at(p, 1))

    def p_if(self, p):
        """if : IF LPAREN expr RPAREN statement %prec IFX
        | IF LPAREN expr RPAREN statement ELSE statement"""
        orelse = p[7] if len(p) == 8 else None
        p[0] = ast.If(p[3], p[5], orelse, **self._at(p, 1))

    def p_for(self, p):
        """for : FOR LPAREN exprs_opt SEMI expr_opt SEMI exprs_opt RPAREN statement"""
        p[0] = ast.For(p[3], p[5], p[7], p[9], **self._at(p, 1))

    def p_exprs_opt(self, p):
        """exprs_opt : exprs
        | empty"""
        p[0] = p[1] or []

    def p_exprs(self, p):
        """exprs : expr
        | exprs COMMA expr"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_expr_opt(self, p):
        """expr_opt : expr
        | empty"""
        p[0] = p[1]

    def p_foreach(self, p):
        """foreach : FOREACH LPAREN expr AS VARIABLE RPAREN statement
        | FOREACH LPAREN expr AS VARIABLE DARROW VARIABLE RPAREN statement"""
        if len(p) == 8:
            p[0] = ast.Foreach(p[3], None, (p[5], self._at(p, 5)), p[7], **self._at(p, 1))
        else:
            p[0] = ast.Foreach(p[3], (p[5], self._at(p, 5)), (p[7], self._at(p, 7)), p[9], **self._at(p, 1))

    def p_while(self, p):
        """while : WHILE LPAREN expr RPAREN statement"""
        p[0] = ast.While(p[3], p[5], **self._at(p, 1))

    def p_forever(self, p):
        """forever : FOREVER statement"""
        p[0] = ast.Forever(p[2], **self._at(p, 1))

    def p_switch(self, p):
        """switch : SWITCH LPAREN expr RPAREN LBRACE cases RBRACE"""
        defaults = [case for case in p[6] if case.value is None]
        if len(defaults) > 1:
            self._error("switch has more than one default", defaults[1])
        p[0] = ast.Switch(p[3], p[6], **self._at(p, 1))

    def p_cases(self, p):
        """cases : cases case
        | empty"""
        p[0] = [] if len(p) == 2 else p[1] + [p[2]]

    def p_case(self, p):
        """case : CASE expr COLON statements
        | DEFAULT COLON statements"""
        if len(p) == 5:
            p[0] = ast.Case(p[2], p[4], **self._at(p, 1))
        else:
            p[0] = ast.Case(None, p[3], **self._at(p, 1))

    def p_function_def(self, p):
        """function_def : FUNCTION ID LPAREN params RPAREN block"""
        p[0] = ast.FunctionDef(p[2], p[4], p[6].body, **self._at(p, 2))

    def p_params(self, p):
        """params : param_list
        | param_list COMMA
        | empty"""
        p[0] = p[1] or []

    def p_param_list(self, p):
        """param_list : param
        | param_list COMMA param"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_param(self, p):
        """param : VARIABLE
        | VARIABLE ASSIGN expr
        | ELLIPSIS VARIABLE"""
        if p.slice[1].type == "ELLIPSIS":
            p[0] = ast.Param(p[2], None, True, **self._at(p, 2))
        else:
            p[0] = ast.Param(p[1], p[3] if len(p) == 4 else None, False, **self._at(p, 1))

    def p_class_def(self, p):
        """class_def : CLASS ID LBRACE members RBRACE"""
        p[0] = ast.ClassDef(p[2], p[4], **self._at(p, 2))

    def p_members(self, p):
        """members : members member
        | empty"""
        p[0] = [] if len(p) == 2 else p[1] + [p[2]]

    def p_member_constructor(self, p):
        """member : CONSTRUCTOR LPAREN params RPAREN block"""
        p[0] = ast.Constructor(p[3], p[5].body, **self._at(p, 1))

    def p_member_method(self, p):
        """member : modifiers FUNCTION ID LPAREN params RPAREN block"""
        mods = p[1]
        if "readonly" in mods:
            raise HSLSyntaxError("a function cannot be readonly", Position(**self._at(p, 2)))
        p[0] = ast.Method(p[3], p[5], p[7].body, "private" in mods, "static" in mods, **self._at(p, 3))

    def p_member_property(self, p):
        """member : modifiers VARIABLE SEMI
        | modifiers VARIABLE ASSIGN expr SEMI"""
        mods = p[1]
        default = p[4] if len(p) == 6 else None
        p[0] = ast.Property(
            p[2], default, "private" in mods, "readonly" in mods, "static" in mods, **self._at(p, 2)
        )

    def p_modifiers(self, p):
        """modifiers : modifiers PRIVATE
        | modifiers READONLY
        | modifiers STATIC
        | empty"""
        if len(p) == 2:
            p[0] = ()
        else:
            if p[2] in p[1]:
                raise HSLSyntaxError("%s given twice" % p[2], Position(**self._at(p, 2)))
            p[0] = p[1] + (p[2],)

    def p_try(self, p):
        """try : TRY block CATCH LPAREN VARIABLE RPAREN block
        | TRY block CATCH block"""
        if len(p) == 8:
            p[0] = ast.Try(p[2].body, (p[5], self._at(p, 5)), p[7].body, **self._at(p, 1))
        else:
            p[0] = ast.Try(p[2].body, None, p[4].body, **self._at(p, 1))

    def p_barrier(self, p):
        """barrier : BARRIER expr block
        | BARRIER expr DARROW VARIABLE block"""
        if len(p) == 4:
            p[0] = ast.Barrier(p[2], None, p[3].body, **self._at(p, 1))
        else:
            p[0] = ast.Barrier(p[2], (p[4], self._at(p, 4)), p[5].body, **self._at(p, 1))

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
        p[0] = ast.Binary(p[2], p[1], p[3], **self._at(p, 2))

    def p_expr_logical(self, p):
        """expr : expr AND expr
        | expr OR expr"""
        p[0] = ast.Logical(p[2], p[1], p[3], **self._at(p, 2))

    def p_expr_ternary(self, p):
        """expr : expr QUESTION expr COLON expr
        | expr QUESTION COLON expr"""
        if len(p) == 6:
            p[0] = ast.Ternary(p[1], p[3], p[5], **self._at(p, 2))
        else:
            p[0] = ast.Ternary(p[1], None, p[4], **self._at(p, 2))

    def p_expr_coalesce(self, p):
        """expr : expr COALESCE expr"""
        p[0] = ast.Coalesce(p[1], p[3], **self._at(p, 2))

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
        op = _ASSIGN_OPS[p[2]]
        target = p[1]
        if isinstance(target, ast.ArrayLit):
            if op is not None:
                self._error("cannot use %s with a destructuring assignment" % p[2], target)
            self._check_pattern(target)
        elif not isinstance(target, (ast.Var, ast.Index, ast.Slice, ast.Prop)) and not (
            isinstance(target, ast.Static) and target.var
        ):
            self._error("cannot assign to this expression", target)
        elif isinstance(target, ast.Slice) and op is not None:
            self._error("cannot use %s with a slice" % p[2], target)
        p[0] = ast.Assign(target, op, p[3], **self._at(p, 2))

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
        op = "!" if p[1] in ("!", "not") else p[1]
        p[0] = ast.Unary(op, p[2], **self._at(p, 1))

    def p_expr_prefix(self, p):
        """expr : INC postfix
        | DEC postfix"""
        self._check_incdec(p[2])
        p[0] = ast.IncDec(p[1], True, p[2], **self._at(p, 1))

    def p_expr_postfix_incdec(self, p):
        """expr : postfix INC
        | postfix DEC"""
        self._check_incdec(p[1])
        p[0] = ast.IncDec(p[2], False, p[1], **self._at(p, 2))

    def _check_incdec(self, target):
        if not isinstance(target, (ast.Var, ast.Index, ast.Prop)) and not (
            isinstance(target, ast.Static) and target.var
        ):
            self._error("cannot increment or decrement this expression", target)

    def p_expr_postfix(self, p):
        """expr : postfix"""
        p[0] = p[1]

    def p_postfix_primary(self, p):
        """postfix : primary"""
        p[0] = p[1]

    def p_postfix_index(self, p):
        """postfix : postfix LBRACKET expr RBRACKET
        | postfix LBRACKET RBRACKET"""
        p[0] = ast.Index(p[1], p[3] if len(p) == 5 else None, **self._at(p, 2))

    def p_postfix_slice(self, p):
        """postfix : postfix LBRACKET expr_opt COLON expr_opt RBRACKET
        | postfix LBRACKET expr_opt COLON expr_opt COLON expr_opt RBRACKET
        | postfix LBRACKET expr_opt DCOLON expr_opt RBRACKET"""
        if p.slice[4].type == "DCOLON":
            start, stop, step = p[3], None, p[5]
        else:
            start, stop, step = p[3], p[5], p[7] if len(p) == 9 else None
        p[0] = ast.Slice(p[1], start, stop, step, **self._at(p, 2))

    def p_postfix_call(self, p):
        """postfix : postfix LPAREN args RPAREN"""
        func = p[1]
        if isinstance(func, (ast.Name, ast.Builtin, ast.Prop, ast.Static)):
            pos = {"file": func.file, "line": func.line, "column": func.column}
        else:
            pos = self._at(p, 2)
        p[0] = ast.Call(func, p[3], **pos)

    def p_postfix_prop(self, p):
        """postfix : postfix ARROW ID"""
        p[0] = ast.Prop(p[1], p[3], **self._at(p, 3))

    def p_args(self, p):
        """args : arg_list
        | arg_list COMMA
        | empty"""
        p[0] = p[1] or []

    def p_arg_list(self, p):
        """arg_list : arg
        | arg_list COMMA arg"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_arg(self, p):
        """arg : expr
        | ELLIPSIS expr"""
        if len(p) == 2:
            p[0] = ast.Arg(p[1], False).at(p[1])
        else:
            p[0] = ast.Arg(p[2], True, **self._at(p, 1))

    def p_primary_variable(self, p):
        """primary : VARIABLE"""
        p[0] = ast.Var(p[1], **self._at(p, 1))

    def p_primary_number(self, p):
        """primary : NUMBER"""
        p[0] = ast.Number(p[1], **self._at(p, 1))

    def p_primary_string(self, p):
        """primary : STRING"""
        p[0] = self._string(p[1], self._at(p, 1))

    def p_primary_regex(self, p):
        """primary : REGEX"""
        p[0] = ast.Regex(p[1][0], p[1][1], **self._at(p, 1))

    def p_primary_constant(self, p):
        """primary : TRUE
        | FALSE
        | NONE"""
        if p[1] == "none":
            p[0] = ast.NoneLit(**self._at(p, 1))
        else:
            p[0] = ast.Bool(p[1] == "true", **self._at(p, 1))

    def p_primary_name(self, p):
        """primary : ID"""
        p[0] = ast.Name(p[1], **self._at(p, 1))

    def p_primary_builtin(self, p):
        """primary : BUILTIN ID"""
        p[0] = ast.Builtin(p[2], **self._at(p, 2))

    def p_primary_static(self, p):
        """primary : ID DCOLON ID
        | ID DCOLON VARIABLE
        | STATIC DCOLON ID
        | STATIC DCOLON VARIABLE"""
        is_var = p.slice[3].type == "VARIABLE"
        scope = None if p.slice[1].type == "STATIC" else p[1]
        p[0] = ast.Static(scope, p[3], is_var, **self._at(p, 3))

    def p_primary_paren(self, p):
        """primary : LPAREN expr RPAREN"""
        p[0] = p[2]

    def p_primary_array(self, p):
        """primary : LBRACKET array_items RBRACKET
        | ARRAY LPAREN array_items RPAREN"""
        p[0] = ast.ArrayLit(p[2] if len(p) == 4 else p[3], **self._at(p, 1))

    def p_array_items(self, p):
        """array_items : item_list
        | item_list COMMA
        | empty"""
        p[0] = p[1] or []

    def p_item_list(self, p):
        """item_list : item
        | item_list COMMA item"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_item(self, p):
        """item : expr
        | expr DARROW expr
        | ELLIPSIS expr"""
        if p.slice[1].type == "ELLIPSIS":
            p[0] = ast.ArrayItem(None, p[2], True, **self._at(p, 1))
        elif len(p) == 4:
            p[0] = ast.ArrayItem(p[1], p[3], False).at(p[1])
        else:
            p[0] = ast.ArrayItem(None, p[1], False).at(p[1])

    def p_primary_function(self, p):
        """primary : FUNCTION LPAREN params RPAREN block
        | FUNCTION LPAREN params RPAREN CLOSURE LPAREN varlist RPAREN block"""
        if len(p) == 6:
            p[0] = ast.FuncLit(p[3], [], p[5].body, **self._at(p, 1))
        else:
            p[0] = ast.FuncLit(p[3], p[7], p[9].body, **self._at(p, 1))

    def p_primary_isset(self, p):
        """primary : ISSET LPAREN expr RPAREN
        | UNSET LPAREN expr RPAREN"""
        target = p[3]
        if not isinstance(target, (ast.Var, ast.Index, ast.Prop, ast.Slice)) and not (
            isinstance(target, ast.Static) and target.var
        ):
            self._error("%s() takes a variable" % p[1], target)
        if isinstance(target, ast.Index) and target.index is None:
            self._error("%s() cannot take []" % p[1], target)
        cls = ast.Isset if p[1] == "isset" else ast.Unset
        p[0] = cls(target, **self._at(p, 1))

    def p_primary_cache(self, p):
        """primary : CACHE LBRACKET array_items RBRACKET cached_call
        | CACHE cached_call"""
        if len(p) == 6:
            options = ast.ArrayLit(p[3], **self._at(p, 2))
            call = p[5]
        else:
            options = None
            call = p[2]
        p[0] = ast.Cache(options, call, **self._at(p, 1))

    def p_cached_call(self, p):
        """cached_call : ID LPAREN args RPAREN
        | BUILTIN ID LPAREN args RPAREN"""
        if len(p) == 5:
            p[0] = ast.Call(ast.Name(p[1], **self._at(p, 1)), p[3], **self._at(p, 1))
        else:
            p[0] = ast.Call(ast.Builtin(p[2], **self._at(p, 2)), p[4], **self._at(p, 2))

    def p_primary_match(self, p):
        """primary : MATCH LPAREN expr RPAREN LBRACE arms RBRACE
        | MATCH LPAREN expr RPAREN LBRACE arms COMMA RBRACE"""
        arms = p[6]
        defaults = [arm for arm in arms if arm.conditions is None]
        if len(defaults) > 1:
            self._error("match has more than one default", defaults[1])
        p[0] = ast.Match(p[3], arms, **self._at(p, 1))

    def p_arms(self, p):
        """arms : arm
        | arms COMMA arm"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_arm(self, p):
        """arm : match_values DARROW expr
        | DEFAULT DARROW expr"""
        if p.slice[1].type == "DEFAULT":
            p[0] = ast.MatchArm(None, p[3], **self._at(p, 1))
        else:
            p[0] = ast.MatchArm(p[1], p[3]).at(p[1][0])

    def p_match_values(self, p):
        """match_values : expr
        | match_values COMMA expr"""
        p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]

    def p_empty(self, p):
        """empty :"""
        p[0] = None

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
            what = "variable $%s" % t.value
        elif t.type == "REGEX":
            what = "regex"
        else:
            what = "'%s'" % t.value
        raise HSLSyntaxError("syntax error, unexpected %s" % what, self.lexer.position(t.lineno, t.lexpos))


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
