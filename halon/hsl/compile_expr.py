"""
Compiling HSL expressions to Python expressions: the half of
L{halon.hsl.compiler.Compiler} that produces values.  Operators whose
semantics differ from Python's become calls into L{halon.hsl.runtime}
(C{R_*}), with the common number and string cases inlined.
"""

import ast as py

from halon.hsl import ast
from halon.hsl._pyast import _assign, _call, _class_of, _const, _name, _r, _store, _truthy, pn


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
    return lambda a, b: pn.BinOp(left=a, op=op(), right=b)


def _compare(op):
    return lambda a, b: pn.Compare(left=a, ops=[op()], comparators=[b])


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

def known_number(node, floats, recursive):
    """Whether compiled expression C{node} surely gives a number, in a number path."""
    cls = node.__class__
    if cls is py.Constant:
        return node.value.__class__ is float
    if cls is py.Name:
        return node.id in floats
    if cls is py.BinOp:
        return (
            node.op.__class__ in (py.Add, py.Sub, py.Mult)
            and known_number(node.left, floats, recursive)
            and known_number(node.right, floats, recursive)
        )
    if cls is py.IfExp:
        return known_number(node.body, floats, recursive) and known_number(node.orelse, floats, recursive)
    if cls is py.Call and recursive is not None:
        name, arity = recursive
        return (
            node.func.__class__ is py.Name
            and node.func.id == name
            and len(node.args) == arity
            and not node.keywords
            and all(known_number(a, floats, recursive) for a in node.args)
        )
    return False


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


class ExpressionCompiler:
    """Mixed into L{halon.hsl.compiler.Compiler}; uses its scope, positions and statements."""

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
        return _call(pn.Attribute(value=_const(b""), attr="join", ctx=py.Load()), pn.Tuple(elts=parts, ctx=py.Load()))

    def e_Var(self, node):
        if node.name.startswith("\0"):
            return _name(node.name[1:])
        return _name(self.scope.var(node.name))

    def e_ArrayLit(self, node):
        literal = self.constant_keys(node)
        if literal is not None:
            keys, next_index = literal
            values = [self.stored(item.value) for item in node.items]
            return _r("literal", pn.Dict(keys=[_const(k) for k in keys], values=values), _const(next_index))
        flat = []
        for item in node.items:
            if item.spread:
                flat += [_name("R_SPREAD"), self.expr(item.value)]
            elif item.key is None:
                flat += [_name("R_NOKEY"), self.stored(item.value)]
            else:
                flat += [self.expr(item.key), self.stored(item.value)]
        return _r("array", pn.Tuple(elts=flat, ctx=py.Load()))

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
        fn = self.function_def(pyname, node.params, node.body, node, "closure", captures=captures)
        self.pending.append(fn)
        self.pending.extend(self.comparator_twin(fn, node.params, node.body))
        return _name(pyname)

    def declare(self, pyname):
        """Make C{pyname} a variable of the current Python function so closures can bind to it."""
        self.pending.append(pn.If(test=_const(False), body=[_assign(pyname, _const(None))], orelse=[]))

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
                out.append(pn.Starred(value=self.at(_r("spread", self.expr(arg.value)), arg), ctx=py.Load()))
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
        return pn.Call(func=target, args=self.arguments(node.args, share), keywords=[])

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
        args = pn.List(elts=self.arguments(call.args, True), ctx=py.Load())
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
            return pn.UnaryOp(op=py.Not(), operand=self.condition(node.operand))
        return _r("bnot", self.expr(node.operand))

    def e_Binary(self, node):
        if node.op in ("=~", "!~"):
            match = _r("rmatch", self.expr(node.left), self.expr(node.right))
            return match if node.op == "=~" else pn.UnaryOp(op=py.Not(), operand=match)
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
            if op == "%" and isinstance(right, py.Constant) and type(right.value) is float and right.value != 0:
                # Number % a non-zero constant is C's fmod (what the helper ends in).
                inline = (float, lambda a, b: _r("fmod", a, b))
            else:
                return helper
        kind, make = inline
        operands = []
        checks = []
        for value in (left, right):
            if isinstance(value, py.Constant) and type(value.value) is kind:
                operands.append(value)
            elif kind is float and self.scope.floats and known_number(value, self.scope.floats, self.scope.recursive):
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
            return make(*operands)
        typed = [
            _class_of(value if temp is None else pn.NamedExpr(target=_store(temp), value=value)) for temp, value in checks
        ]
        test = pn.Compare(left=typed[0], ops=[py.Is()] * len(typed), comparators=typed[1:] + [_name(kind.__name__)])
        return pn.IfExp(test=test, body=make(*operands), orelse=helper)

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
        return pn.BoolOp(op=op, values=[self.condition(node.left), self.condition(node.right)])

    def e_Ternary(self, node):
        if node.then is None:
            temp = self.temp()
            return pn.IfExp(
                test=_truthy(pn.NamedExpr(target=_store(temp), value=self.expr(node.cond))),
                body=_name(temp),
                orelse=self.expr(node.orelse),
            )
        return pn.IfExp(test=self.condition(node.cond), body=self.expr(node.then), orelse=self.expr(node.orelse))

    def safe(self, node):
        """An expression that is none where C{node} would fail as undefined (for ?? and isset)."""
        if isinstance(node, ast.Var):
            if node.name.startswith("\0"):
                return _name(node.name[1:])
            if self.is_this(node):
                return _name(self.scope.var("this"))
            return _call(pn.Attribute(value=_call("locals"), attr="get", ctx=py.Load()), _const(self.scope.var(node.name)))
        if isinstance(node, ast.Index) and node.index is not None:
            return _r("index_safe", self.safe(node.obj), self.expr(node.index))
        if isinstance(node, ast.Prop):
            return _r("prop_safe", self.safe(node.obj), _const(node.name))
        return self.expr(node)

    def e_Coalesce(self, node):
        temp = self.temp()
        return pn.IfExp(
            test=pn.Compare(left=pn.NamedExpr(target=_store(temp), value=self.safe(node.left)), ops=[py.IsNot()], comparators=[_const(None)]),
            body=_name(temp),
            orelse=self.expr(node.right),
        )

    def e_Isset(self, node):
        target = node.target
        if isinstance(target, ast.Var) and not self.is_this(target):
            return pn.Compare(
                left=_const(self.scope.var(target.name)), ops=[py.In()], comparators=[_call("locals")]
            )
        if isinstance(target, ast.Static):
            return pn.Compare(left=self.expr(target), ops=[py.IsNot()], comparators=[_const(None)])
        if isinstance(target, ast.Slice):
            return pn.Compare(left=self.safe(target.obj), ops=[py.IsNot()], comparators=[_const(None)])
        return _r("isset", self.safe(target.obj), self.key_of(target), _const(isinstance(target, ast.Prop)))

    def e_Unset(self, node):
        raise self.error("unset() must be used as a statement", node)

    def unset(self, target, node):
        if isinstance(target, ast.Var):
            pyname = self.var_target(target.name, target)
            return [
                pn.Try(
                    body=[pn.Delete(targets=[_name(pyname, py.Del())])],
                    handlers=[pn.ExceptHandler(type=_name("NameError"), name=None, body=[py.Pass()])],
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
                return pn.IfExp(
                    test=pn.Compare(left=self.safe(target), ops=[py.Is()], comparators=[_const(None)]),
                    body=pn.NamedExpr(target=_store(pyname), value=self.stored(node.value)),
                    orelse=_name(pyname),
                )
            else:
                value = self.at(_r(_BINARY[node.op], _name(pyname), self.expr(node.value)), node)
            return pn.NamedExpr(target=_store(pyname), value=value)
        raise self.error("this assignment must be a statement of its own", node)

    def e_IncDec(self, node):
        target = node.target
        delta = _const(1.0 if node.op == "++" else -1.0)
        if not isinstance(target, ast.Var):
            raise self.error("%s on this expression must be a statement of its own" % node.op, node)
        pyname = self.var_target(target.name, target)
        new = pn.NamedExpr(target=_store(pyname), value=_r("incr", _name(pyname), delta))
        if node.prefix:
            return new
        temp = self.temp()
        return pn.Subscript(
            value=pn.Tuple(elts=[pn.NamedExpr(target=_store(temp), value=_r("incr", _name(pyname), _const(0.0))), new], ctx=py.Load()),
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
            test = tests[0] if len(tests) == 1 else pn.BoolOp(op=py.Or(), values=tests)
            result = pn.IfExp(test=test, body=self.expr(arm.value), orelse=result)
        return pn.Subscript(
            value=pn.Tuple(elts=[pn.NamedExpr(target=_store(subject), value=self.expr(node.subject)), result], ctx=py.Load()),
            slice=_const(1),
            ctx=py.Load(),
        )
