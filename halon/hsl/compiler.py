"""
HSL syntax tree -> Python C{ast} -> code object.

The script's global scope becomes one Python function, C{__main__}; HSL
functions, closures and class members become Python functions nested in
the scope that declares them, so that:

  - HSL variables are Python locals (C{g_name} in the global scope,
    C{v<n>_name} in the function numbered n), and reading one that was
    never assigned raises Python's NameError, which the program turns into
    "undefined variable";
  - C{global $x} is C{nonlocal g_x} and C{closure ($n)} is C{nonlocal} of
    the enclosing scope's name: both are by reference, as in HSL;
  - named functions are hoisted: their C{def} opens their scope.

Everything else that differs from Python (arithmetic on mixed types,
copy-on-write arrays, properties) is a call into L{halon.hsl.runtime},
whose helpers are globals named C{R_*}; stdlib functions are C{B_*},
functions the host supplies per execution (hook functions) C{H_*}, and
predefined variables C{V_*}.

Each Python node carries the HSL position it came from: the line is
C{file index * LINE_BASE + line} and the column is the HSL column, so the
runtime can name file:line:column for any error from the traceback alone.
"""

import ast as py

from halon.hsl import ast
from halon.hsl.errors import HSLSyntaxError, Position
from halon.hsl.parser import parse

__all__ = ["compile_script", "LINE_BASE", "CompiledUnit"]

LINE_BASE = 1_000_000

_BINARY = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "%": "mod",
    "**": "pow",
    ".": "concat",
    "==": "eq",
    "!=": "ne",
    "===": "seq",
    "!==": "sne",
    "<": "lt",
    ">": "gt",
    "<=": "le",
    ">=": "ge",
    "&": "band",
    "|": "bor",
    "^": "bxor",
    "<<": "shl",
    ">>": "shr",
    ">>>": "ushr",
}


def _arith(op):
    return lambda a, b: py.BinOp(left=a, op=op(), right=b)


def _compare(op):
    return lambda a, b: py.Compare(left=a, ops=[op()], comparators=[b])


# Operators with a plain Python fast path: operand type -> Python node.
_INLINE = {
    "+": (float, _arith(py.Add)),
    "-": (float, _arith(py.Sub)),
    "*": (float, _arith(py.Mult)),
    ".": (bytes, _arith(py.Add)),
    "<": (float, _compare(py.Lt)),
    ">": (float, _compare(py.Gt)),
    "<=": (float, _compare(py.LtE)),
    ">=": (float, _compare(py.GtE)),
    "==": (float, _compare(py.Eq)),
    "!=": (float, _compare(py.NotEq)),
}

# Expressions whose value is fresh: storing it needs no copy-on-write mark.
_FRESH = (
    ast.Number,
    ast.String,
    ast.Interpolated,
    ast.Bool,
    ast.NoneLit,
    ast.ArrayLit,
    ast.Binary,
    ast.Unary,
    ast.Logical,
    ast.FuncLit,
    ast.Regex,
    ast.Isset,
)


def _name(id, ctx=None):
    return py.Name(id=id, ctx=ctx or py.Load())


def _const(value):
    return py.Constant(value=value)


def _call(func, *args):
    if isinstance(func, str):
        func = _name(func)
    return py.Call(func=func, args=list(args), keywords=[])


def _r(helper, *args):
    return _call("R_" + helper, *args)


def _store(id):
    return _name(id, py.Store())


def _assign(id, value):
    return py.Assign(targets=[_store(id)], value=value)


def _truthy(expr):
    return _r("truthy", expr)


class CompiledUnit:
    """What compiling one script (or module) produced."""

    def __init__(self, tree, files, modules, data, includes, builtins, hooks, exports):
        self.tree = tree
        self.files = files
        self.modules = modules
        self.data = data
        self.includes = includes
        self.builtins = builtins
        self.hooks = hooks
        self.exports = exports


class _Scope:
    """One HSL variable scope: the global scope, a function, a method or a closure."""

    def __init__(self, compiler, kind, parent=None, captures=(), cls=None, this=False):
        self.kind = kind
        self.parent = parent
        self.cls = cls
        if kind == "main":
            self.prefix = "g_"
            self.id = 0
        else:
            compiler.counter += 1
            self.id = compiler.counter
            self.prefix = "v%d_" % self.id
        self.functions = {}
        self.classes = {}
        self.globals = set()
        self.captures = dict(captures)
        self.this = this
        self.readonly = set()

    def var(self, name):
        if name in self.captures:
            return self.captures[name]
        if self.kind != "main" and name in self.globals:
            return "g_" + name
        return self.prefix + name


class _Hoisted(ast.NodeVisitor):
    """Function and class definitions and global names declared in one scope."""

    def __init__(self):
        ast.NodeVisitor.__init__(self)
        self.functions = []
        self.classes = []
        self.globals = []

    def visit_FunctionDef(self, node):
        self.functions.append(node)

    def visit_ClassDef(self, node):
        self.classes.append(node)

    def visit_Global(self, node):
        self.globals.extend(node.names)

    def visit_FuncLit(self, node):
        pass


class Compiler:
    def __init__(
        self,
        filename,
        functions=(),
        variables=(),
        readonly=(),
        loader=None,
        builtin_names=frozenset(),
        builtin_arity=None,
        session=None,
        module=False,
        modules=None,
    ):
        self.files = [filename]
        self.hook_names = set(functions)
        self.variables = list(variables)
        self.readonly = set(readonly)
        self.loader = loader
        self.builtin_names = builtin_names
        self.builtin_arity = builtin_arity or {}
        self.session = session
        self.module = module
        self.counter = 0
        self.temps = 0
        self.pending = []
        self.loops = []
        self.include_stack = []
        self.included_once = set()
        self.includes = []
        self.modules = modules if modules is not None else []
        self.module_index = {}
        self.data = []
        self.used_builtins = set()
        self.used_hooks = set()
        self.imports = {}
        self.arity = {}
        self.scope = None
        self.global_names = set()

    # -- positions ----------------------------------------------------------

    def _file_index(self, filename):
        try:
            return self.files.index(filename)
        except ValueError:
            self.files.append(filename)
            return len(self.files) - 1

    def at(self, target, node):
        """
        Give Python node C{target} C{node}'s position unless it has one;
        unpositioned children take their parent's when the unit is done
        (C{fix_missing_locations}).
        """
        index = self._file_index(node.file) if node.file != self.files[0] else 0
        line = index * LINE_BASE + max(node.line, 1)
        col = max(node.column - 1, 0)
        if getattr(target, "lineno", None) is None:
            target.lineno = line
            target.col_offset = col
            target.end_lineno = line
            target.end_col_offset = col + 1
        return target

    def error(self, message, node):
        return HSLSyntaxError(message, Position(node.file, node.line, node.column))

    def temp(self):
        self.temps += 1
        return "t%d" % self.temps

    # -- the unit -------------------------------------------------------------

    def compile(self, script):
        self.scope = _Scope(self, "main")
        self.scope.readonly = set(self.readonly)
        prologue = []
        for name in self.variables:
            prologue.append(_assign("g_" + name, _name("V_" + name)))
        if self.session is not None:
            for pyname in sorted(self.session.names):
                prologue.append(_assign(pyname, py.Subscript(value=_name("R_session"), slice=_const(pyname), ctx=py.Load())))
            for name in self.session.functions:
                self.scope.functions[name] = ("f_" + name, None)
            for name in self.session.classes:
                self.scope.classes[name] = "c_" + name
        body = self.scope_body(script.body, script)
        for name in sorted(self.global_names - set(self.variables)):
            prologue.append(py.If(test=_const(False), body=[_assign("g_" + name, _const(None))], orelse=[]))
        keep = "R_session" if self.session is not None else "R_out" if self.variables else None
        if keep is not None:
            body = [
                py.Try(
                    body=body or [py.Pass()],
                    handlers=[],
                    orelse=[],
                    finalbody=[py.Expr(_r("keep", _name(keep), _call("locals")))],
                )
            ]
        epilogue = []
        if self.module:
            epilogue.append(py.Return(value=_r("exports", _call("locals"))))
        main = py.FunctionDef(
            name="__main__",
            args=py.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
            body=prologue + body + epilogue or [py.Pass()],
            decorator_list=[],
            returns=None,
        )
        self.at(main, script)
        module = py.Module(body=[main], type_ignores=[])
        py.fix_missing_locations(module)
        exports = {
            "functions": sorted(n for n, v in self.scope.functions.items()),
            "classes": sorted(self.scope.classes),
        }
        return CompiledUnit(
            module, self.files, self.modules, self.data, self.includes, self.used_builtins, self.used_hooks, exports
        )

    def scope_body(self, statements, owner):
        """A scope's statements with its functions and classes defined first."""
        hoisted = _Hoisted()
        for statement in statements:
            hoisted.visit(statement)
        out = []
        for node in hoisted.functions:
            if node.name in self.scope.functions and self.scope.functions[node.name][1] is not None:
                raise self.error("function %s() is already defined" % node.name, node)
            self.scope.functions[node.name] = (self.scope_name("f", node.name), node)
        for node in hoisted.classes:
            if node.name in self.scope.classes:
                raise self.error("class %s is already defined" % node.name, node)
            self.scope.classes[node.name] = self.scope_name("c", node.name)
        for node in hoisted.functions:
            out.append(self.function_def(self.scope.functions[node.name][0], node.params, node.body, node))
        for node in hoisted.classes:
            out.extend(self.class_def(node))
        out.extend(self.block(statements))
        return out

    def scope_name(self, kind, name):
        if self.scope.kind == "main":
            return "%s_%s" % (kind, name)
        return "%s%d_%s" % (kind, self.scope.id, name)

    # -- functions ----------------------------------------------------------

    def function_def(self, pyname, params, body, node, kind="function", captures=(), cls=None, this=False):
        outer = self.scope
        outer_loops = self.loops
        scope = _Scope(self, kind, parent=outer, captures=captures, cls=cls, this=this)
        self.scope = scope
        self.loops = []
        try:
            args, init = self.parameters(params, node)
            if this:
                args.args.insert(0, py.arg(arg=scope.var("this")))
            hoisted = _Hoisted()
            for statement in body:
                hoisted.visit(statement)
            names = []
            for name, pos in hoisted.globals:
                if any(p.name == name for p in params):
                    raise self.error("$%s is a parameter and cannot be global" % name, ast.Var(name, **pos))
                scope.globals.add(name)
                self.global_names.add(name)
                names.append("g_" + name)
                if name in self.readonly:
                    scope.readonly.add(name)
            nonlocals = sorted(set(names) | set(scope.captures.values()))
            stmts = [py.Nonlocal(names=nonlocals)] if nonlocals else []
            stmts += init
            stmts += self.scope_body(body, node)
            if not stmts:
                stmts = [py.Pass()]
        finally:
            self.scope = outer
            self.loops = outer_loops
        fn = py.FunctionDef(name=pyname, args=args, body=stmts, decorator_list=[], returns=None)
        return self.at(fn, node)

    def parameters(self, params, node):
        args = []
        defaults = []
        init = []
        vararg = None
        seen = set()
        required = 0
        for param in params:
            if param.name in seen:
                raise self.error("parameter $%s given twice" % param.name, param)
            seen.add(param.name)
            pyname = self.scope.var(param.name)
            if param.variadic:
                vararg = py.arg(arg=pyname)
                init.append(self.at(_assign(pyname, _call(py.Attribute(value=_name("R_HSLArray"), attr="from_list", ctx=py.Load()), _name(pyname))), param))
                continue
            args.append(py.arg(arg=pyname))
            if param.default is not None:
                defaults.append(_name("R_NO_DEFAULT"))
                value = self.expr(param.default)
                init.append(
                    self.at(
                        py.If(
                            test=py.Compare(left=_name(pyname), ops=[py.Is()], comparators=[_name("R_NO_DEFAULT")]),
                            body=[_assign(pyname, value)],
                            orelse=[],
                        ),
                        param,
                    )
                )
            elif defaults:
                raise self.error("parameter $%s without a default follows one with a default" % param.name, param)
            else:
                required += 1
        arguments = py.arguments(
            posonlyargs=[], args=args, vararg=vararg, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=defaults
        )
        self.arity[id(node)] = (required, None if vararg else len(args))
        return arguments, init

    def class_def(self, node):
        pyname = self.scope.classes[node.name]
        cls_info = {"name": node.name, "pyname": pyname}
        members = {}
        out = []
        properties = []
        functions = []
        statics = []
        static_vars = []
        private = []
        readonly = []
        constructor = _const(None)
        for member in node.members:
            name = getattr(member, "name", "constructor")
            if name in members:
                raise self.error("%s is defined twice in class %s" % (name, node.name), member)
            members[name] = member
            if isinstance(member, ast.Constructor):
                fn_name = "%s__constructor" % pyname
                out.append(self.function_def(fn_name, member.params, member.body, member, "method", cls=cls_info, this=True))
                constructor = _name(fn_name)
            elif isinstance(member, ast.Method):
                fn_name = "%s_%s" % (pyname, member.name)
                out.append(
                    self.function_def(
                        fn_name, member.params, member.body, member, "method", cls=cls_info, this=not member.static
                    )
                )
                target = statics if member.static else functions
                target.append((member.name, _name(fn_name)))
                if member.private:
                    private.append(member.name)
            else:
                default = self.expr(member.default) if member.default is not None else _const(None)
                if member.static:
                    static_vars.append((member.name, default))
                else:
                    properties.append(
                        py.Tuple(
                            elts=[
                                _const(member.name),
                                py.Lambda(
                                    args=py.arguments(
                                        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
                                    ),
                                    body=default,
                                ),
                            ],
                            ctx=py.Load(),
                        )
                    )
                if member.private:
                    private.append(member.name)
                if member.readonly:
                    readonly.append(member.name)

        def mapping(pairs):
            return py.Dict(keys=[_const(k) for k, _ in pairs], values=[v for _, v in pairs])

        make = _r(
            "make_class",
            _const(node.name),
            py.List(elts=properties, ctx=py.Load()),
            constructor,
            mapping(functions),
            mapping(statics),
            mapping(static_vars),
            py.List(elts=[_const(p) for p in private], ctx=py.Load()),
            py.List(elts=[_const(r) for r in readonly], ctx=py.Load()),
        )
        out.append(self.at(_assign(pyname, make), node))
        return out

    # -- statements -----------------------------------------------------------

    def block(self, statements):
        out = []
        for statement in statements:
            out.extend(self.statement(statement))
        return out

    def statement(self, node):
        method = getattr(self, "s_" + type(node).__name__)
        saved = self.pending
        self.pending = []
        try:
            stmts = method(node)
            result = self.pending + stmts
        finally:
            self.pending = saved
        for stmt in result:
            self.at(stmt, node)
        return result

    def body_of(self, node):
        """A statement used as a body (if/while/...), as a non-empty list."""
        if node is None:
            return [py.Pass()]
        stmts = self.statement(node)
        return stmts or [py.Pass()]

    def s_Block(self, node):
        return self.block(node.body)

    def s_Empty(self, node):
        return []

    def s_FunctionDef(self, node):
        return []

    def s_ClassDef(self, node):
        return []

    def s_Global(self, node):
        return []

    def s_Echo(self, node):
        return [py.Expr(self.at(_r("echo", self.expr(node.value)), node))]

    def s_ExprStmt(self, node):
        value = node.value
        if isinstance(value, ast.Assign):
            return self.assign_statement(value)
        if isinstance(value, ast.IncDec):
            return self.assign_statement(
                ast.Assign(value.target, "+" if value.op == "++" else "-", ast.Number(1.0).at(value)).at(value)
            )
        if isinstance(value, ast.Unset):
            return self.unset(value.target, value)
        return [py.Expr(self.expr(value))]

    def s_If(self, node):
        return [
            py.If(
                test=self.condition(node.cond),
                body=self.body_of(node.then),
                orelse=self.statement(node.orelse) if node.orelse is not None else [],
            )
        ]

    def condition(self, node):
        if isinstance(node, ast.Logical) or (isinstance(node, ast.Unary) and node.op == "!"):
            return self.expr(node)
        if isinstance(node, ast.Binary) and node.op in ("==", "!=", "===", "!==", "<", ">", "<=", ">=", "=~", "!~"):
            return self.expr(node)
        if isinstance(node, (ast.Bool, ast.Isset)):
            return self.expr(node)
        return self.at(_truthy(self.expr(node)), node)

    def loop(self, body_node, kind="loop"):
        self.loops.append((kind, None))
        try:
            return self.body_of(body_node)
        finally:
            self.loops.pop()

    def s_While(self, node):
        return [py.While(test=self.condition(node.cond), body=self.loop(node.body), orelse=[])]

    def s_Forever(self, node):
        return [py.While(test=_const(True), body=self.loop(node.body), orelse=[])]

    def s_For(self, node):
        out = []
        for init in node.init:
            out.extend(self.statement(ast.ExprStmt(init).at(init)))
        first = self.temp()
        out.append(_assign(first, _const(True)))
        steps = []
        for step in node.step:
            steps.extend(self.statement(ast.ExprStmt(step).at(step)))
        head = []
        if steps:
            head.append(py.If(test=py.UnaryOp(op=py.Not(), operand=_name(first)), body=steps, orelse=[]))
        head.append(_assign(first, _const(False)))
        if node.cond is not None:
            head.append(py.If(test=py.UnaryOp(op=py.Not(), operand=self.condition(node.cond)), body=[py.Break()], orelse=[]))
        out.append(py.While(test=_const(True), body=head + self.loop(node.body), orelse=[]))
        return out

    def s_Foreach(self, node):
        value_name, value_pos = node.value
        value_var = self.var_target(value_name, ast.Var(value_name, **value_pos))
        if node.key is None:
            target = _store(value_var)
            iterable = _r("values", self.expr(node.iterable))
        else:
            key_name, key_pos = node.key
            key_var = self.var_target(key_name, ast.Var(key_name, **key_pos))
            target = py.Tuple(elts=[_store(key_var), _store(value_var)], ctx=py.Store())
            iterable = _r("items", self.expr(node.iterable))
        return [py.For(target=target, iter=self.at(iterable, node.iterable), body=self.loop(node.body), orelse=[])]

    def s_Break(self, node):
        if not self.loops:
            raise self.error("break outside a loop or switch", node)
        return [py.Break()]

    def s_Continue(self, node):
        return self.continue_at(len(self.loops) - 1, node)

    def continue_at(self, level, node):
        while level >= 0 and self.loops[level][0] == "switch":
            flag = self.loops[level][1]
            flag["used"] = True
            return [_assign(flag["name"], _const(True)), py.Break()]
        if level < 0:
            raise self.error("continue outside a loop", node)
        return [py.Continue()]

    def s_Switch(self, node):
        subject = self.temp()
        start = self.temp()
        out = [_assign(subject, self.expr(node.subject))]
        chain = None
        default_index = len(node.cases)
        tests = []
        for i, case in enumerate(node.cases):
            if case.value is None:
                default_index = i
                continue
            tests.append((i, self.at(_r("eq", _name(subject), self.expr(case.value)), case)))
        orelse = [_assign(start, _const(default_index))]
        for i, test in reversed(tests):
            chain = py.If(test=test, body=[_assign(start, _const(i))], orelse=orelse)
            orelse = [chain]
        out.extend(orelse)
        flag = {"name": self.temp(), "used": False}
        self.loops.append(("switch", flag))
        try:
            body = []
            for i, case in enumerate(node.cases):
                stmts = self.block(case.body)
                if stmts:
                    body.append(
                        py.If(
                            test=py.Compare(left=_name(start), ops=[py.LtE()], comparators=[_const(i)]),
                            body=stmts,
                            orelse=[],
                        )
                    )
        finally:
            self.loops.pop()
        body.append(py.Break())
        if flag["used"]:
            out.append(_assign(flag["name"], _const(False)))
        out.append(py.While(test=_const(True), body=body, orelse=[]))
        if flag["used"]:
            out.append(py.If(test=_name(flag["name"]), body=self.continue_at(len(self.loops) - 1, node), orelse=[]))
        return out

    def s_Return(self, node):
        if node.value is None:
            return [py.Return(value=_const(None))]
        return [py.Return(value=self.returned(node.value))]

    def returned(self, node):
        """
        A returned value: a function's own local dies with it, so only values
        that live on elsewhere (globals, captures, properties) are shared.
        """
        if isinstance(node, ast.Var) and self.scope.kind != "main":
            if node.name not in self.scope.globals and node.name not in self.scope.captures:
                return self.expr(node)
        if isinstance(node, ast.Ternary) and node.then is not None:
            return self.at(
                py.IfExp(test=self.condition(node.cond), body=self.returned(node.then), orelse=self.returned(node.orelse)), node
            )
        return self.stored(node)

    def s_Throw(self, node):
        return [py.Raise(exc=_r("Throw", self.expr(node.value)), cause=None)]

    def s_Try(self, node):
        body = self.block(node.body) or [py.Pass()]
        caught = self.temp()
        handler_body = []
        if node.var is not None:
            name, pos = node.var
            handler_body.append(_assign(self.var_target(name, ast.Var(name, **pos)), _r("caught", _name(caught))))
        handler_body += self.block(node.handler)
        return [
            py.Try(
                body=body,
                handlers=[py.ExceptHandler(type=_name("R_Catchable"), name=caught, body=handler_body or [py.Pass()])],
                orelse=[],
                finalbody=[],
            )
        ]

    def s_Barrier(self, node):
        handle = self.temp()
        out = [_assign(handle, _r("barrier", _name("R_barrier_store"), self.expr(node.name)))]
        body = []
        final = []
        if node.var is not None:
            name, pos = node.var
            pyname = self.var_target(name, ast.Var(name, **pos))
            value = py.Attribute(value=_name(handle), attr="value", ctx=py.Load())
            body.append(
                py.If(
                    test=py.Compare(left=value, ops=[py.IsNot()], comparators=[_name("R_NO_DEFAULT")]),
                    body=[_assign(pyname, _r("share", value))],
                    orelse=[],
                )
            )
            final.append(
                py.Assign(
                    targets=[py.Attribute(value=_name(handle), attr="value", ctx=py.Store())],
                    value=_r(
                        "share",
                        _call(
                            py.Attribute(value=_call("locals"), attr="get", ctx=py.Load()),
                            _const(pyname),
                            _name("R_NO_DEFAULT"),
                        ),
                    ),
                )
            )
        body += self.block(node.body)
        final.append(
            py.Expr(_call(py.Attribute(value=py.Attribute(value=_name(handle), attr="lock", ctx=py.Load()), attr="release", ctx=py.Load())))
        )
        out.append(py.Try(body=body or [py.Pass()], handlers=[], orelse=[], finalbody=final))
        return out

    def s_Include(self, node):
        if self.loader is None:
            raise self.error("include needs a host to read %s" % node.path, node)
        path, source = self.loader.include(node.path, node.file, node)
        if node.once:
            if path in self.included_once:
                return []
            self.included_once.add(path)
        if path in self.include_stack:
            raise self.error("%s includes itself" % node.path, node)
        self.includes.append((path, source))
        script = parse(source, path)
        self.include_stack.append(path)
        try:
            return self.scope_body(script.body, script)
        finally:
            self.include_stack.pop()

    def s_Import(self, node):
        self.top_level(node, "import")
        index, exports = self.module_for(node.path, node)
        handle = self.temp()
        out = [_assign(handle, _r("import_module", _const(index)))]
        for is_var, name, alias, pos in node.names:
            if is_var:
                target = self.var_target(alias, ast.Var(alias, **pos))
                out.append(_assign(target, _r("export_var", _name(handle), _const(name))))
            elif name in exports["functions"]:
                self.scope.functions[alias] = ("f_" + alias, "import")
                out.append(_assign("f_" + alias, _r("export_function", _name(handle), _const(name))))
            elif name in exports["classes"]:
                self.scope.classes[alias] = "c_" + alias
                out.append(_assign("c_" + alias, _r("export_class", _name(handle), _const(name))))
            else:
                raise self.error("%s does not define %s" % (node.path, name), ast.Name(name, **pos))
        return out

    def s_ImportAll(self, node):
        self.top_level(node, "import")
        index, exports = self.module_for(node.path, node)
        self.imports[node.alias] = exports
        return [_assign("n_" + node.alias, _r("import_module", _const(index)))]

    def s_ImportData(self, node):
        self.top_level(node, "import")
        if self.loader is None:
            raise self.error("import needs a host to read %s" % node.path, node)
        path, data = self.loader.include(node.path, node.file, node)
        self.includes.append((path, data))
        self.data.append((path, data))
        options = self.expr(node.options) if node.options is not None else _const(None)
        target = self.var_target(node.var, node)
        return [_assign(target, _r("import_data", _const(len(self.data) - 1), options))]

    def top_level(self, node, what):
        if self.scope.kind != "main" or self.loops:
            raise self.error("%s must be at the top level of a script" % what, node)

    def module_for(self, path, node):
        if path in self.module_index:
            return self.module_index[path]
        if self.loader is None:
            raise self.error("import needs a host to read %s" % path, node)
        result = self.loader.module(path, node.file, node, self.modules)
        self.module_index[path] = result
        return result

    # -- assignment -------------------------------------------------------------

    def var_target(self, name, node):
        if name in self.scope.readonly or (self.scope.kind == "main" and name in self.readonly):
            raise self.error("$%s is read-only" % name, node)
        if name == "this" and self.scope.this:
            raise self.error("cannot assign to $this", node)
        return self.scope.var(name)

    def stored(self, node):
        """An expression whose value is about to be stored (shared if an array from elsewhere)."""
        value = self.expr(node)
        if isinstance(node, _FRESH) or isinstance(node, ast.Call) and isinstance(node.func, ast.Builtin):
            return value
        temp = self.temp()
        return py.IfExp(
            test=py.Compare(
                left=_call("type", py.NamedExpr(target=_store(temp), value=value)), ops=[py.Is()], comparators=[_name("R_HSLArray")]
            ),
            body=_r("share", _name(temp)),
            orelse=_name(temp),
        )

    def assign_statement(self, node):
        target = node.target
        if isinstance(target, ast.ArrayLit):
            temp = self.temp()
            out = [_assign(temp, self.expr(node.value))]
            out += self.destructure(target, temp)
            return out
        if isinstance(target, ast.Var):
            pyname = self.var_target(target.name, target)
            if node.op is None:
                return [_assign(pyname, self.stored(node.value))]
            if node.op == "??":
                return [
                    py.If(
                        test=py.Compare(left=self.safe(target), ops=[py.Is()], comparators=[_const(None)]),
                        body=[_assign(pyname, self.stored(node.value))],
                        orelse=[],
                    )
                ]
            return [_assign(pyname, self.at(self.binop(node.op, _name(pyname), self.expr(node.value)), node))]
        if isinstance(target, ast.Slice):
            root, rebuild = self.path(target.obj, node)
            new = _r(
                "slice_assign",
                root,
                *(self.expr(x) if x is not None else _const(None) for x in (target.start, target.stop, target.step)),
                self.expr(node.value),
            )
            return rebuild(new)
        return self.place_assign(target, node)

    def place_assign(self, target, node):
        """C{$a[...][...] = v}, C{$o->p = v}, C{Class::$s = v} and their compound forms."""
        if isinstance(target, ast.Static):
            cls = self.static_scope(target)
            if node.op is None:
                value = self.stored(node.value)
            else:
                value = self.compound(_r("sget", cls, _const(target.name)), node)
            return [py.Expr(self.at(_r("sset", cls, _const(target.name), value), node))]
        if isinstance(target, ast.Prop) and self.is_this(target.obj):
            this = _name(self.scope.var("this"))
            if node.op is None:
                value = self.stored(node.value)
            else:
                value = self.compound(_r("prop", this, _const(target.name), _const(True)), node)
            return [py.Expr(self.at(_r("setprop", this, _const(target.name), value, _const(True)), node))]
        container, rebuild = self.path(target.obj, node)
        key = self.key_of(target)
        is_prop = isinstance(target, ast.Prop)
        holder = self.temp()
        out = [_assign(holder, self.at(_r("own", container), node))]
        if node.op is None:
            value = self.stored(node.value)
        else:
            if key is None:
                raise self.error("cannot use %s= with []" % node.op, node)
            key_temp = self.temp()
            out.append(_assign(key_temp, key))
            key = _name(key_temp)
            if is_prop:
                current = _r("prop", _name(holder), key)
            else:
                current = _r("index", _name(holder), key)
            value = self.compound(current, node)
        if is_prop:
            store = _r("setprop", _name(holder), key, value)
        else:
            store = _r("setitem", _name(holder), key if key is not None else _name("R_NOKEY"), value)
        out.append(py.Expr(self.at(store, node)))
        out += rebuild(_name(holder))
        return out

    def compound(self, current, node):
        if node.op == "??":
            temp = self.temp()
            return py.IfExp(
                test=py.Compare(
                    left=py.NamedExpr(target=_store(temp), value=current), ops=[py.Is()], comparators=[_const(None)]
                ),
                body=self.stored(node.value),
                orelse=_name(temp),
            )
        return self.at(self.binop(node.op, current, self.expr(node.value)), node)

    def key_of(self, target):
        if isinstance(target, ast.Prop):
            return _const(target.name)
        if target.index is None:
            return None
        return self.expr(target.index)

    def is_this(self, node):
        return isinstance(node, ast.Var) and node.name == "this" and self.scope.this

    def path(self, node, assign):
        """
        The current value of the container at C{node} and a function that
        stores a new container back: the chain C{$a["x"]->y} of an
        assignment, outermost first.
        """
        if isinstance(node, ast.Var):
            if self.is_this(node):
                return _name(self.scope.var("this")), lambda value: []
            pyname = self.var_target(node.name, node)
            current = self.temp()
            self.pending.append(
                self.at(
                    py.Try(
                        body=[_assign(current, _name(pyname))],
                        handlers=[py.ExceptHandler(type=_name("NameError"), name=None, body=[_assign(current, _const(None))])],
                        orelse=[],
                        finalbody=[],
                    ),
                    assign,
                )
            )
            return _name(current), lambda value: [_assign(pyname, value)]
        if isinstance(node, (ast.Index, ast.Prop)):
            parent, rebuild = self.path(node.obj, assign)
            key = self.key_of(node)
            holder = self.temp()
            is_prop = isinstance(node, ast.Prop)
            args = [_name(holder), key if key is not None else _name("R_NOKEY")]
            if is_prop:
                args.append(_const(True))
            self.pending.append(self.at(_assign(holder, _r("own", parent)), assign))
            child = _r("child", *args)

            def store(value, holder=holder, rebuild=rebuild):
                return rebuild(_name(holder))

            return child, store
        if isinstance(node, ast.Static) and node.var:
            cls = self.static_scope(node)
            return _r("sget", cls, _const(node.name)), lambda value: [py.Expr(_r("sset", cls, _const(node.name), value))]
        if isinstance(node, (ast.Call, ast.Name)):
            return self.expr(node), lambda value: []
        raise self.error("cannot assign into this expression", assign)

    def destructure(self, pattern, source):
        out = []
        keyed = any(item.key is not None for item in pattern.items)
        used = []
        for position, item in enumerate(pattern.items):
            if item.spread:
                target = item.value
                pyname = self.var_target(target.name, target)
                used_keys = py.List(elts=used, ctx=py.Load()) if keyed else _const(position)
                out.append(_assign(pyname, _r("destructure_rest", _name(source), used_keys, _const(not keyed))))
                continue
            key = self.expr(item.key) if keyed else _const(float(position))
            if keyed:
                key_temp = self.temp()
                out.append(_assign(key_temp, key))
                key = _name(key_temp)
                used.append(key)
            target = item.value
            default = None
            if isinstance(target, ast.Assign) and target.op is None:
                default = target.value
                target = target.target
            value = _r("destructure", _name(source), key)
            if default is not None:
                temp = self.temp()
                value = py.IfExp(
                    test=py.Compare(left=py.NamedExpr(target=_store(temp), value=value), ops=[py.Is()], comparators=[_const(None)]),
                    body=self.stored(default),
                    orelse=_name(temp),
                )
            if isinstance(target, ast.ArrayLit):
                temp = self.temp()
                out.append(_assign(temp, value))
                out += self.destructure(target, temp)
            else:
                out += self.assign_value(target, value, item)
        return out

    def assign_value(self, target, value, node):
        """Store an already compiled Python value into an HSL target."""
        temp = self.temp()
        fake = ast.Assign(target, None, ast.Var("\0" + temp, file=node.file, line=node.line, column=node.column)).at(node)
        return [_assign(temp, value)] + self.assign_statement(fake)

    # -- expressions -----------------------------------------------------------

    def expr(self, node):
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is None:
            raise self.error("%s cannot be used as a value" % type(node).__name__.lower(), node)
        return self.at(method(node), node)

    def e_Number(self, node):
        return _const(float(node.value))

    def e_String(self, node):
        return _const(node.value)

    def e_Bool(self, node):
        return _const(bool(node.value))

    def e_NoneLit(self, node):
        return _const(None)

    def e_Regex(self, node):
        return _r("regex", _const(node.pattern), _const(node.flags))

    def e_Interpolated(self, node):
        parts = []
        for part in node.parts:
            if isinstance(part, ast.String):
                parts.append(_const(part.value))
            else:
                parts.append(self.at(_r("text", self.expr(part)), part))
        return _call(py.Attribute(value=_const(b""), attr="join", ctx=py.Load()), py.Tuple(elts=parts, ctx=py.Load()))

    def e_Var(self, node):
        if node.name.startswith("\0"):
            return _name(node.name[1:])
        return _name(self.scope.var(node.name))

    def e_ArrayLit(self, node):
        if all(item.key is None and not item.spread for item in node.items):
            values = [self.stored(item.value) for item in node.items]
            return _call(py.Attribute(value=_name("R_HSLArray"), attr="from_list", ctx=py.Load()), py.List(elts=values, ctx=py.Load()))
        literal = self.constant_keys(node)
        if literal is not None:
            keys, next_index = literal
            values = [self.stored(item.value) for item in node.items]
            return _r("literal", py.Dict(keys=[_const(k) for k in keys], values=values), _const(next_index))
        flat = []
        for item in node.items:
            if item.spread:
                flat += [_name("R_SPREAD"), self.expr(item.value)]
            elif item.key is None:
                flat += [_name("R_NOKEY"), self.stored(item.value)]
            else:
                flat += [self.expr(item.key), self.stored(item.value)]
        return _r("array", py.Tuple(elts=flat, ctx=py.Load()))

    def constant_keys(self, node):
        """The normalised keys of an array literal whose keys are all constants, and its next index."""
        from halon.hsl.values import norm_key

        keys = []
        next_index = 0.0
        for item in node.items:
            if item.spread:
                return None
            if item.key is None:
                key = next_index
            elif isinstance(item.key, (ast.Number, ast.String, ast.Bool)):
                key = norm_key(float(item.key.value) if isinstance(item.key, ast.Number) else item.key.value)
            else:
                return None
            if type(key) is float and key >= next_index:
                next_index = key + 1.0
            keys.append(key)
        return keys, next_index

    def e_FuncLit(self, node):
        captures = {}
        for name, pos in node.captures:
            captures[name] = self.scope.var(name)
            if self.scope.kind == "main" or name not in self.scope.globals:
                self.declare(captures[name])
        self.temps += 1
        pyname = "fn%d" % self.temps
        self.pending.append(self.function_def(pyname, node.params, node.body, node, "closure", captures=captures))
        return _name(pyname)

    def declare(self, pyname):
        """Make C{pyname} a variable of the current Python function so closures can bind to it."""
        self.pending.append(py.If(test=_const(False), body=[_assign(pyname, _const(None))], orelse=[]))

    def resolve(self, name, node):
        """The Python expression for function or class C{name}, and its arity if known."""
        scope = self.scope
        while scope is not None:
            if name in scope.functions:
                pyname, definition = scope.functions[name]
                arity = self.arity.get(id(definition)) if isinstance(definition, ast.Node) else None
                return _name(pyname), arity
            if name in scope.classes:
                return _name(scope.classes[name]), None
            scope = scope.parent
        return self.builtin(name, node)

    def builtin(self, name, node):
        if name in self.hook_names:
            self.used_hooks.add(name)
            return _name("H_" + name), None
        if name in self.builtin_names:
            self.used_builtins.add(name)
            return _name("B_" + name), self.builtin_arity.get(name)
        raise self.error("undefined function %s()" % name, node)

    def e_Name(self, node):
        return self.resolve(node.name, node)[0]

    def e_Builtin(self, node):
        return self.builtin(node.name, node)[0]

    def arguments(self, args, share):
        out = []
        for arg in args:
            if arg.spread:
                out.append(py.Starred(value=self.at(_r("spread", self.expr(arg.value)), arg), ctx=py.Load()))
            else:
                out.append(self.stored(arg.value) if share else self.expr(arg.value))
        return out

    def check_arity(self, name, arity, args, node):
        if arity is None or any(a.spread for a in args):
            return
        low, high = arity
        if len(args) < low:
            raise self.error("%s() takes at least %d argument%s, %d given" % (name, low, "" if low == 1 else "s", len(args)), node)
        if high is not None and len(args) > high:
            raise self.error("%s() takes at most %d argument%s, %d given" % (name, high, "" if high == 1 else "s", len(args)), node)

    def e_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            target, arity = self.resolve(func.name, func)
            self.check_arity(func.name, arity, node.args, node)
            share = not target.id.startswith("B_")
        elif isinstance(func, ast.Builtin):
            target, arity = self.builtin(func.name, func)
            self.check_arity(func.name, arity, node.args, node)
            share = False
        elif isinstance(func, ast.Prop):
            helper = "method_in" if self.is_this(func.obj) else "method"
            target = _r(helper, self.expr(func.obj), _const(func.name))
            share = True
        elif isinstance(func, ast.Static) and not func.var:
            target = self.static_function(func)
            share = True
        else:
            target = _r("call", self.expr(func))
            share = True
        return py.Call(func=target, args=self.arguments(node.args, share), keywords=[])

    def static_scope(self, node):
        """The class (or module) C{node} names before C{::}."""
        if node.scope is None:
            if self.current_class() is None:
                raise self.error("static:: outside a class", node)
            return _name(self.current_class()["pyname"])
        if node.scope in self.imports:
            return _name("n_" + node.scope)
        target, _ = self.resolve(node.scope, node)
        return target

    def current_class(self):
        scope = self.scope
        while scope is not None:
            if scope.cls is not None:
                return scope.cls
            scope = scope.parent
        return None

    def static_function(self, node):
        if node.scope in self.imports:
            return _r("export_function", _name("n_" + node.scope), _const(node.name))
        cls = self.static_scope(node)
        inside = self.current_class() is not None and (node.scope is None or node.scope == self.current_class()["name"])
        return _r("static_in" if inside else "static", cls, _const(node.name))

    def e_Static(self, node):
        if not node.var:
            return self.static_function(node)
        if node.scope in self.imports:
            return _r("export_var", _name("n_" + node.scope), _const(node.name))
        return _r("sget", self.static_scope(node), _const(node.name))

    def e_Cache(self, node):
        call = node.call
        func = call.func
        if isinstance(func, ast.Builtin):
            target, arity = self.builtin(func.name, func)
        else:
            target, arity = self.resolve(func.name, func)
        self.check_arity(func.name, arity, call.args, call)
        options = self.expr(node.options) if node.options is not None else _const(None)
        args = py.List(elts=self.arguments(call.args, True), ctx=py.Load())
        return _r("cached_call", _name("R_cache_store"), options, _const(func.name), target, args)

    def e_Index(self, node):
        if node.index is None:
            raise self.error("cannot read from []", node)
        return _r("index", self.expr(node.obj), self.expr(node.index))

    def e_Slice(self, node):
        parts = [self.expr(x) if x is not None else _const(None) for x in (node.start, node.stop, node.step)]
        return _r("slice", self.expr(node.obj), *parts)

    def e_Prop(self, node):
        if self.is_this(node.obj):
            return _r("prop", self.expr(node.obj), _const(node.name), _const(True))
        return _r("prop", self.expr(node.obj), _const(node.name))

    def e_Unary(self, node):
        if node.op == "-":
            if isinstance(node.operand, ast.Number):
                return _const(-float(node.operand.value))
            return _r("neg", self.expr(node.operand))
        if node.op == "!":
            return py.UnaryOp(op=py.Not(), operand=self.condition(node.operand))
        return _r("bnot", self.expr(node.operand))

    def e_Binary(self, node):
        if node.op in ("=~", "!~"):
            match = _r("rmatch", self.expr(node.left), self.expr(node.right))
            return match if node.op == "=~" else py.UnaryOp(op=py.Not(), operand=match)
        folded = self.fold(node)
        if folded is not None:
            return folded
        return self.binop(node.op, self.expr(node.left), self.expr(node.right))

    def binop(self, op, left, right):
        """
        C{left op right}: plain Python when both are numbers (strings for
        C{.}, either for C{==}), the runtime helper otherwise.  The fast path
        is inlined because a helper call costs more than the arithmetic.
        """
        inline = _INLINE.get(op)
        helper = _r(_BINARY[op], left, right)
        if inline is None:
            return helper
        kind, make = inline
        operands = []
        checks = []
        for value in (left, right):
            if isinstance(value, py.Constant) and type(value.value) is kind:
                operands.append(value)
            elif isinstance(value, py.Name):
                checks.append((None, value))
                operands.append(value)
            else:
                temp = self.temp()
                checks.append((temp, value))
                operands.append(_name(temp))
        helper.args = list(operands)
        if not checks:
            return helper
        typed = [
            _call("type", value if temp is None else py.NamedExpr(target=_store(temp), value=value)) for temp, value in checks
        ]
        test = py.Compare(left=typed[0], ops=[py.Is()] * len(typed), comparators=typed[1:] + [_name(kind.__name__)])
        return py.IfExp(test=test, body=make(*operands), orelse=helper)

    def fold(self, node):
        """Constant folding of arithmetic on number literals, as HSL's compiler does."""
        left, right = node.left, node.right
        if node.op in ("+", "-", "*", "/", "**") and isinstance(left, ast.Number) and isinstance(right, ast.Number):
            from halon.hsl import runtime

            helper = {"+": runtime.add, "-": runtime.sub, "*": runtime.mul, "/": runtime.div, "**": runtime.pow_}[node.op]
            return _const(helper(float(left.value), float(right.value)))
        return None

    def e_Logical(self, node):
        op = py.And() if node.op == "and" else py.Or()
        return py.BoolOp(op=op, values=[self.condition(node.left), self.condition(node.right)])

    def e_Ternary(self, node):
        if node.then is None:
            temp = self.temp()
            return py.IfExp(
                test=_truthy(py.NamedExpr(target=_store(temp), value=self.expr(node.cond))),
                body=_name(temp),
                orelse=self.expr(node.orelse),
            )
        return py.IfExp(test=self.condition(node.cond), body=self.expr(node.then), orelse=self.expr(node.orelse))

    def safe(self, node):
        """An expression that is none where C{node} would fail as undefined (for ?? and isset)."""
        if isinstance(node, ast.Var):
            if node.name.startswith("\0"):
                return _name(node.name[1:])
            if self.is_this(node):
                return _name(self.scope.var("this"))
            return _call(py.Attribute(value=_call("locals"), attr="get", ctx=py.Load()), _const(self.scope.var(node.name)))
        if isinstance(node, ast.Index) and node.index is not None:
            return _r("index_safe", self.safe(node.obj), self.expr(node.index))
        if isinstance(node, ast.Prop):
            return _r("prop_safe", self.safe(node.obj), _const(node.name))
        return self.expr(node)

    def e_Coalesce(self, node):
        temp = self.temp()
        return py.IfExp(
            test=py.Compare(left=py.NamedExpr(target=_store(temp), value=self.safe(node.left)), ops=[py.IsNot()], comparators=[_const(None)]),
            body=_name(temp),
            orelse=self.expr(node.right),
        )

    def e_Isset(self, node):
        target = node.target
        if isinstance(target, ast.Var) and not self.is_this(target):
            return py.Compare(
                left=_const(self.scope.var(target.name)), ops=[py.In()], comparators=[_call("locals")]
            )
        if isinstance(target, ast.Static):
            return py.Compare(left=self.expr(target), ops=[py.IsNot()], comparators=[_const(None)])
        if isinstance(target, ast.Slice):
            return py.Compare(left=self.safe(target.obj), ops=[py.IsNot()], comparators=[_const(None)])
        return _r("isset", self.safe(target.obj), self.key_of(target), _const(isinstance(target, ast.Prop)))

    def e_Unset(self, node):
        raise self.error("unset() must be used as a statement", node)

    def unset(self, target, node):
        if isinstance(target, ast.Var):
            pyname = self.var_target(target.name, target)
            return [
                py.Try(
                    body=[py.Delete(targets=[_name(pyname, py.Del())])],
                    handlers=[py.ExceptHandler(type=_name("NameError"), name=None, body=[py.Pass()])],
                    orelse=[],
                    finalbody=[],
                )
            ]
        if isinstance(target, (ast.Index, ast.Prop)):
            container, rebuild = self.path(target.obj, node)
            holder = self.temp()
            if isinstance(target, ast.Prop):
                inside = _const(self.is_this(target.obj))
                new = _r("delprop", container, self.key_of(target), inside)
            else:
                new = _r("delitem", container, self.key_of(target))
            return [_assign(holder, self.at(new, node))] + rebuild(_name(holder))
        raise self.error("cannot unset this expression", node)

    def e_Assign(self, node):
        target = node.target
        if isinstance(target, ast.Var):
            pyname = self.var_target(target.name, target)
            if node.op is None:
                value = self.stored(node.value)
            elif node.op == "??":
                return py.IfExp(
                    test=py.Compare(left=self.safe(target), ops=[py.Is()], comparators=[_const(None)]),
                    body=py.NamedExpr(target=_store(pyname), value=self.stored(node.value)),
                    orelse=_name(pyname),
                )
            else:
                value = self.at(_r(_BINARY[node.op], _name(pyname), self.expr(node.value)), node)
            return py.NamedExpr(target=_store(pyname), value=value)
        raise self.error("this assignment must be a statement of its own", node)

    def e_IncDec(self, node):
        target = node.target
        delta = _const(1.0 if node.op == "++" else -1.0)
        if not isinstance(target, ast.Var):
            raise self.error("%s on this expression must be a statement of its own" % node.op, node)
        pyname = self.var_target(target.name, target)
        new = py.NamedExpr(target=_store(pyname), value=_r("incr", _name(pyname), delta))
        if node.prefix:
            return new
        temp = self.temp()
        return py.Subscript(
            value=py.Tuple(elts=[py.NamedExpr(target=_store(temp), value=_r("incr", _name(pyname), _const(0.0))), new], ctx=py.Load()),
            slice=_const(0),
            ctx=py.Load(),
        )

    def e_Match(self, node):
        subject = self.temp()
        result = _r("no_match", _name(subject))
        for arm in reversed(node.arms):
            if arm.conditions is None:
                result = self.expr(arm.value)
        for arm in reversed(node.arms):
            if arm.conditions is None:
                continue
            tests = [self.at(_r("seq", _name(subject), self.expr(c)), c) for c in arm.conditions]
            test = tests[0] if len(tests) == 1 else py.BoolOp(op=py.Or(), values=tests)
            result = py.IfExp(test=test, body=self.expr(arm.value), orelse=result)
        return py.Subscript(
            value=py.Tuple(elts=[py.NamedExpr(target=_store(subject), value=self.expr(node.subject)), result], ctx=py.Load()),
            slice=_const(1),
            ctx=py.Load(),
        )


def compile_script(script, filename, **options):
    """A L{CompiledUnit} for a parsed script."""
    return Compiler(filename, **options).compile(script)
