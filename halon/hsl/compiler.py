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
import copy

from halon.hsl import ast
from halon.hsl._pyast import _assign, _call, _class_of, _const, _name, _r, _store, _truthy, pn
from halon.hsl.compile_assign import AssignmentCompiler
from halon.hsl.compile_expr import ExpressionCompiler, known_number
from halon.hsl.errors import HSLSyntaxError, Position
from halon.hsl.parser import parse

__all__ = ["Compiler", "LINE_BASE", "CompiledUnit"]

LINE_BASE = 1_000_000


class CompiledUnit:
    """What compiling one script (or module) produced."""

    def __init__(self, tree, files, modules, data, includes, builtins, hooks, exports, reads=frozenset()):
        self.tree = tree
        self.reads = reads
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
        # Parameters known to hold numbers (in a function's number path), and
        # (name, arity) when a call of the function itself with numbers for
        # all its parameters is supposed to give a number.
        self.floats = frozenset()
        self.recursive = None

    def var(self, name):
        if name in self.captures:
            return self.captures[name]
        if self.kind != "main" and name in self.globals:
            return "g_" + name
        return self.prefix + name


# Where statements hold statements.  Function and class definitions and
# global declarations are statements, so hoisting looks no deeper than this:
# expressions hold statements only inside function literals, which are
# scopes of their own.
_NESTED_STATEMENTS = {
    ast.Block: ("body",),
    ast.If: ("then", "orelse"),
    ast.For: ("body",),
    ast.Foreach: ("body",),
    ast.While: ("body",),
    ast.Forever: ("body",),
    ast.Switch: ("cases",),
    ast.Case: ("body",),
    ast.Try: ("body", "handler"),
    ast.Barrier: ("body",),
}


class _Hoisted:
    """Function and class definitions and global names declared in one scope."""

    def __init__(self, statements):
        self.functions = []
        self.classes = []
        self.globals = []
        self.collect(statements)

    def collect(self, statements):
        for node in statements:
            cls = node.__class__
            if cls is ast.FunctionDef:
                self.functions.append(node)
            elif cls is ast.ClassDef:
                self.classes.append(node)
            elif cls is ast.Global:
                self.globals.extend(node.names)
            else:
                for field in _NESTED_STATEMENTS.get(cls, ()):
                    value = getattr(node, field)
                    if value.__class__ is list:
                        self.collect(value)
                    elif value is not None:
                        self.collect((value,))


# Functions this small (Python nodes in their compiled body, not counting
# contexts and operators) are compiled a second time for number arguments:
# small functions called often, such as recursive ones, spend much of their
# time on type tests.
_FLOAT_PATH_MAX_NODES = 80


def _float_candidates(scope, params, body):
    """
    The parameters of a small function that its body tests for being numbers
    and never assigns; empty when the function is too large or defines
    functions or classes (which a second copy of the body would define
    twice).
    """
    names = {scope.var(p.name) for p in params if not p.variadic}
    if not names:
        return frozenset()
    tested = set()
    count = 0
    stack = list(body)
    pop, push = stack.pop, stack.append
    ast_type, name_type, constant_type, load_type = py.AST, py.Name, py.Constant, py.Load
    while stack:
        node = pop()
        count += 1
        cls = node.__class__
        shape = _SHAPES.get(cls)
        if shape is None:
            shape = _SHAPES[cls] = _shape(cls)
        for field in shape[1]:
            value = getattr(node, field, None)
            for item in value if value.__class__ is list else (value,):
                kind = item.__class__
                # Leaves are counted here rather than pushed and popped.
                if kind is name_type:
                    count += 1
                    if item.ctx.__class__ is not load_type:
                        names.discard(item.id)
                elif kind is constant_type:
                    count += 1
                elif isinstance(item, ast_type):
                    push(item)
        if count > _FLOAT_PATH_MAX_NODES:
            return frozenset()
        if cls is py.Compare:
            last = node.comparators[-1]
            if last.__class__ is py.Name and last.id == "float":
                for operand in [node.left, *node.comparators[:-1]]:
                    if operand.__class__ is py.Attribute and operand.value.__class__ is py.Name:
                        tested.add(operand.value.id)
        elif cls in (py.FunctionDef, py.Lambda, py.ClassDef, py.Nonlocal, py.Global):
            return frozenset()
    return frozenset(names & tested)


def _returns_numbers(body, floats, recursive):
    """Whether C{body} ends in a return and every return in it gives a number."""
    if not body or body[-1].__class__ is not py.Return:
        return False
    for node in (n for statement in body for n in py.walk(statement)):
        if node.__class__ is py.Return and (node.value is None or not known_number(node.value, floats, recursive)):
            return False
    return True


def _set_attribute(name, attr, value):
    return pn.Assign(targets=[pn.Attribute(value=_name(name), attr=attr, ctx=py.Store())], value=value)


def _plain_order(params, body):
    """C{"<"} or C{">"} when C{body} is just C{return $first OP $second;}, else None."""
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    test = body[0].value
    if not isinstance(test, ast.Binary) or test.op not in ("<", ">"):
        return None
    operands = (test.left, test.right)
    if all(isinstance(v, ast.Var) and v.name == p.name for v, p in zip(operands, params)):
        return test.op
    return None


class _ComparatorReturns(py.NodeTransformer):
    """C{return x} -> C{return -1 if x else 1} in one function body (not in functions nested in it)."""

    def __init__(self):
        self.top = True

    def visit_FunctionDef(self, node):
        if not self.top:
            return node
        self.top = False
        self.generic_visit(node)
        return node

    def visit_Lambda(self, node):
        return node

    def visit_ClassDef(self, node):
        return node

    def visit_Return(self, node):
        if node.value is None:
            node.value = _const(1)
        else:
            node.value = pn.IfExp(test=node.value, body=_const(-1), orelse=_const(1))
        return node


class Compiler(AssignmentCompiler, ExpressionCompiler):
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
        # id(statement list) -> (the list, its _Hoisted).
        self.hoisted_by_body = {}

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
        (L{_fill_positions}).  Only where a node starts: errors are located
        by that alone, and two attributes more would make the dictionary
        of most nodes grow once more (compile() takes the end to be the
        start).
        """
        index = self._file_index(node.file) if node.file != self.files[0] else 0
        if getattr(target, "lineno", None) is None:
            line = node.line
            col = node.column - 1
            target.lineno = index * LINE_BASE + (line if line > 1 else 1)
            target.col_offset = col if col > 0 else 0
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
                prologue.append(_assign(pyname, pn.Subscript(value=_name("R_session"), slice=_const(pyname), ctx=py.Load())))
            for name in self.session.functions:
                self.scope.functions[name] = ("f_" + name, None)
            for name in self.session.classes:
                self.scope.classes[name] = "c_" + name
        body = self.scope_body(script.body, script)
        for name in sorted(self.global_names - set(self.variables)):
            prologue.append(pn.If(test=_const(False), body=[_assign("g_" + name, _const(None))], orelse=[]))
        keep = "R_session" if self.session is not None else "R_out" if self.variables else None
        if keep is not None:
            body = [
                pn.Try(
                    body=body or [py.Pass()],
                    handlers=[],
                    orelse=[],
                    finalbody=[pn.Expr(_r("keep", _name(keep), _call("locals")))],
                )
            ]
        epilogue = []
        if self.module:
            epilogue.append(pn.Return(value=_r("exports", _call("locals"))))
        main = pn.FunctionDef(
            name="__main__",
            args=pn.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
            body=prologue + body + epilogue or [py.Pass()],
            decorator_list=[],
            returns=None,
        )
        self.at(main, script)
        module = pn.Module(body=[main], type_ignores=[])
        reads = _fill_positions(module, {"g_" + name for name in self.variables})
        exports = {
            "functions": sorted(n for n, v in self.scope.functions.items()),
            "classes": sorted(self.scope.classes),
        }
        return CompiledUnit(
            module,
            self.files,
            self.modules,
            self.data,
            self.includes,
            self.used_builtins,
            self.used_hooks,
            exports,
            reads,
        )

    def hoisted(self, statements):
        """The L{_Hoisted} of a scope's statements, found once however often they are compiled."""
        entry = self.hoisted_by_body.get(id(statements))
        if entry is None:
            # The list is kept with its result so that its id stays its own.
            entry = self.hoisted_by_body[id(statements)] = (statements, _Hoisted(statements))
        return entry[1]

    def scope_body(self, statements, owner):
        """A scope's statements with its functions and classes defined first."""
        hoisted = self.hoisted(statements)
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
            fn = self.function_def(self.scope.functions[node.name][0], node.params, node.body, node)
            out.append(fn)
            out.extend(self.comparator_twin(fn, node.params, node.body))
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
                args.args.insert(0, pn.arg(arg=scope.var("this")))
            hoisted = self.hoisted(body)
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
            stmts = [pn.Nonlocal(names=nonlocals)] if nonlocals else []
            stmts += init
            generic = self.scope_body(body, node)
            floats = _float_candidates(scope, params, generic) if kind in ("function", "closure") else ()
            if floats:
                stmts.append(self.float_path(floats, body, node, pyname, len(args.args)))
            stmts += generic
            if not stmts:
                stmts = [py.Pass()]
        finally:
            self.scope = outer
            self.loops = outer_loops
        fn = pn.FunctionDef(name=pyname, args=args, body=stmts, decorator_list=[], returns=None)
        return self.at(fn, node)

    def float_path(self, floats, body, node, pyname, arity):
        """
        C{if} every parameter in C{floats} is a number: the body again,
        compiled with those parameters known to be numbers, so arithmetic and
        comparisons on them skip their type tests (L{_float_candidates} says
        which functions get one).  First compiled supposing that the
        function, called with numbers for all its parameters, returns a
        number (so a recursive call's result needs no test either), which
        holds when every return of that body gives a number; otherwise again
        without.
        """
        fast = self.number_body(floats, body, node, (pyname, arity))
        if not _returns_numbers(fast, floats, (pyname, arity)):
            fast = self.number_body(floats, body, node, None)
            fast.append(pn.Return(value=_const(None)))
        tests = [pn.Compare(left=_class_of(_name(name)), ops=[py.Is()], comparators=[_name("float")]) for name in sorted(floats)]
        test = tests[0] if len(tests) == 1 else pn.BoolOp(op=py.And(), values=tests)
        return self.at(pn.If(test=test, body=fast, orelse=[]), node)

    def number_body(self, floats, body, node, recursive):
        scope = self.scope
        scope.floats, scope.recursive = floats, recursive
        try:
            return self.scope_body(body, node)
        finally:
            scope.floats, scope.recursive = frozenset(), None

    def comparator_twin(self, fn, params, body):
        """
        For a function of exactly two parameters, which array_sort() may be
        given as its less-than callback: a copy whose returns give -1 (the
        result is true) or 1, set as the function's C{hsl_cmp} attribute, so
        functools.cmp_to_key can call it straight from C instead of through a
        wrapper that asks the function (one Python call per comparison, not
        two).  The copy runs the same body in the same scope.

        A body that is only C{return $a < $b;} (or C{>}) of the two
        parameters in order also gets C{hsl_order}, the operator: on numbers
        it asks exactly what Python's own float comparison asks, so
        array_sort() can sort numbers without calling back at all.
        """
        if len(params) != 2 or any(p.default is not None or p.variadic for p in params):
            return []
        twin = _ComparatorReturns().visit(copy.deepcopy(fn))
        twin.name = "cmp_" + fn.name
        twin.body.append(pn.Return(value=_const(1)))
        out = [twin, self.at(_set_attribute(fn.name, "hsl_cmp", _name(twin.name)), params[0])]
        order = _plain_order(params, body)
        if order is not None:
            out.append(self.at(_set_attribute(fn.name, "hsl_order", _const(order)), params[0]))
        return out

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
                vararg = pn.arg(arg=pyname)
                init.append(self.at(_assign(pyname, _call(pn.Attribute(value=_name("R_HSLArray"), attr="from_list", ctx=py.Load()), _name(pyname))), param))
                continue
            args.append(pn.arg(arg=pyname))
            if param.default is not None:
                defaults.append(_name("R_NO_DEFAULT"))
                value = self.expr(param.default)
                init.append(
                    self.at(
                        pn.If(
                            test=pn.Compare(left=_name(pyname), ops=[py.Is()], comparators=[_name("R_NO_DEFAULT")]),
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
        arguments = pn.arguments(
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
                        pn.Tuple(
                            elts=[
                                _const(member.name),
                                pn.Lambda(
                                    args=pn.arguments(
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
            return pn.Dict(keys=[_const(k) for k, _ in pairs], values=[v for _, v in pairs])

        make = _r(
            "make_class",
            _const(node.name),
            pn.List(elts=properties, ctx=py.Load()),
            constructor,
            mapping(functions),
            mapping(statics),
            mapping(static_vars),
            pn.List(elts=[_const(p) for p in private], ctx=py.Load()),
            pn.List(elts=[_const(r) for r in readonly], ctx=py.Load()),
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
        return [pn.Expr(self.at(_r("echo", self.expr(node.value)), node))]

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
        return [pn.Expr(self.expr(value))]

    def s_If(self, node):
        return [
            pn.If(
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
        return [pn.While(test=self.condition(node.cond), body=self.loop(node.body), orelse=[])]

    def s_Forever(self, node):
        return [pn.While(test=_const(True), body=self.loop(node.body), orelse=[])]

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
            head.append(pn.If(test=pn.UnaryOp(op=py.Not(), operand=_name(first)), body=steps, orelse=[]))
        head.append(_assign(first, _const(False)))
        if node.cond is not None:
            head.append(pn.If(test=pn.UnaryOp(op=py.Not(), operand=self.condition(node.cond)), body=[py.Break()], orelse=[]))
        out.append(pn.While(test=_const(True), body=head + self.loop(node.body), orelse=[]))
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
            target = pn.Tuple(elts=[_store(key_var), _store(value_var)], ctx=py.Store())
            iterable = _r("items", self.expr(node.iterable))
        return [pn.For(target=target, iter=self.at(iterable, node.iterable), body=self.loop(node.body), orelse=[])]

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
            chain = pn.If(test=test, body=[_assign(start, _const(i))], orelse=orelse)
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
                        pn.If(
                            test=pn.Compare(left=_name(start), ops=[py.LtE()], comparators=[_const(i)]),
                            body=stmts,
                            orelse=[],
                        )
                    )
        finally:
            self.loops.pop()
        body.append(py.Break())
        if flag["used"]:
            out.append(_assign(flag["name"], _const(False)))
        out.append(pn.While(test=_const(True), body=body, orelse=[]))
        if flag["used"]:
            out.append(pn.If(test=_name(flag["name"]), body=self.continue_at(len(self.loops) - 1, node), orelse=[]))
        return out

    def s_Return(self, node):
        if node.value is None:
            return [pn.Return(value=_const(None))]
        return [pn.Return(value=self.returned(node.value))]

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
                pn.IfExp(test=self.condition(node.cond), body=self.returned(node.then), orelse=self.returned(node.orelse)), node
            )
        return self.stored(node)

    def s_Throw(self, node):
        return [pn.Raise(exc=_r("Throw", self.expr(node.value)), cause=None)]

    def s_Try(self, node):
        body = self.block(node.body) or [py.Pass()]
        caught = self.temp()
        handler_body = []
        if node.var is not None:
            name, pos = node.var
            handler_body.append(_assign(self.var_target(name, ast.Var(name, **pos)), _r("caught", _name(caught))))
        handler_body += self.block(node.handler)
        return [
            pn.Try(
                body=body,
                handlers=[pn.ExceptHandler(type=_name("R_Catchable"), name=caught, body=handler_body or [py.Pass()])],
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
            value = pn.Attribute(value=_name(handle), attr="value", ctx=py.Load())
            body.append(
                pn.If(
                    test=pn.Compare(left=value, ops=[py.IsNot()], comparators=[_name("R_NO_DEFAULT")]),
                    body=[_assign(pyname, _r("share", value))],
                    orelse=[],
                )
            )
            final.append(
                pn.Assign(
                    targets=[pn.Attribute(value=_name(handle), attr="value", ctx=py.Store())],
                    value=_r(
                        "share",
                        _call(
                            pn.Attribute(value=_call("locals"), attr="get", ctx=py.Load()),
                            _const(pyname),
                            _name("R_NO_DEFAULT"),
                        ),
                    ),
                )
            )
        body += self.block(node.body)
        final.append(
            pn.Expr(_call(pn.Attribute(value=pn.Attribute(value=_name(handle), attr="lock", ctx=py.Load()), attr="release", ctx=py.Load())))
        )
        out.append(pn.Try(body=body or [py.Pass()], handlers=[], orelse=[], finalbody=final))
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


# Fields that never hold a node needing a position: names, flags, and the
# contexts and operators (leaves without positions).
_LEAF_FIELDS = frozenset(
    ("ctx", "op", "ops", "id", "attr", "name", "names", "arg", "kind", "type_comment", "level", "module", "conversion", "is_async", "simple")
)
_SHAPES = {}


def _shape(cls):
    """Whether nodes of C{cls} carry a position, and the fields that may hold nodes."""
    fields = () if cls is py.Constant else tuple(f for f in cls._fields if f not in _LEAF_FIELDS)
    return "lineno" in cls._attributes, fields


def _fill_positions(tree, names):
    """
    What C{ast.fix_missing_locations} does (a node without a position takes
    its parent's), without recursion and generators: a few times faster on
    the tens of thousands of nodes of a large script.

    The same walk finds which predefined variables the code may read (a
    frozenset of names without C{g_}; C{names} are their C{g_<name>}s):
    every load of one (also by a function that declared it global, a
    closure, or C{isset} and C{??}, which name it as a string); only plain
    stores do not count.
    """
    found = set()
    stack = [(tree, 1, 0)]
    pop, push = stack.pop, stack.append
    ast_type, name_type, nonlocal_type, constant_type, load_type = py.AST, py.Name, py.Nonlocal, py.Constant, py.Load
    shapes = _SHAPES
    while stack:
        node, line, col = pop()
        cls = node.__class__
        shape = shapes.get(cls)
        if shape is None:
            shape = shapes[cls] = _shape(cls)
        positioned, fields = shape
        if names and cls is nonlocal_type:
            found.update(n for n in node.names if n in names)
        if positioned:
            if getattr(node, "lineno", None) is None:
                node.lineno = line
                node.col_offset = col
            else:
                line, col = node.lineno, node.col_offset
        for field in fields:
            value = getattr(node, field, None)
            for item in value if value.__class__ is list else (value,):
                kind = item.__class__
                if kind is name_type or kind is constant_type:
                    # Leaves (half the nodes) are done here, not pushed and popped.
                    if getattr(item, "lineno", None) is None:
                        item.lineno = line
                        item.col_offset = col
                    if names:
                        if kind is name_type:
                            if item.id in names and item.ctx.__class__ is load_type:
                                found.add(item.id)
                        elif item.value.__class__ is str and item.value in names:
                            found.add(item.value)
                elif isinstance(item, ast_type):
                    push((item, line, col))
    return frozenset(name[2:] for name in found)
