"""
Compiling HSL assignments: plain, compound (C{+=} ... C{??=}), into array
elements, properties and static variables, slices, destructuring patterns,
and C{unset()}.  Arrays are values, so an assignment into C{$a["x"]["y"]}
takes private copies down the path and stores each back up.
"""

import ast as py

from halon.hsl import ast
from halon.hsl._pyast import _assign, _class_of, _const, _name, _r, _store, pn
from halon.hsl.compile_expr import _FRESH


class AssignmentCompiler:
    """Mixed into L{halon.hsl.compiler.Compiler}; uses its scope, positions and expressions."""

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
        return pn.IfExp(
            test=pn.Compare(
                left=_class_of(pn.NamedExpr(target=_store(temp), value=value)), ops=[py.Is()], comparators=[_name("R_HSLArray")]
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
                    pn.If(
                        test=pn.Compare(left=self.safe(target), ops=[py.Is()], comparators=[_const(None)]),
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
            return [pn.Expr(self.at(_r("sset", cls, _const(target.name), value), node))]
        if isinstance(target, ast.Prop) and self.is_this(target.obj):
            this = _name(self.scope.var("this"))
            if node.op is None:
                value = self.stored(node.value)
            else:
                value = self.compound(_r("prop", this, _const(target.name), _const(True)), node)
            return [pn.Expr(self.at(_r("setprop", this, _const(target.name), value, _const(True)), node))]
        container, rebuild = self.path(target.obj, node)
        key = self.key_of(target)
        is_prop = isinstance(target, ast.Prop)
        holder = self.temp()
        if node.op is None:
            # setitem/setprop take a private copy when they must and return the container to store back.
            if is_prop:
                store = _r("setprop", container, key, self.stored(node.value))
            elif key is None:
                store = _r("append", container, self.stored(node.value))
            else:
                store = _r("setitem", container, key, self.stored(node.value))
            return [_assign(holder, self.at(store, node))] + rebuild(_name(holder))
        out = [_assign(holder, self.at(_r("own", container), node))]
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
        store = _r("setprop" if is_prop else "setitem", _name(holder), key, value)
        out.append(pn.Expr(self.at(store, node)))
        out += rebuild(_name(holder))
        return out

    def compound(self, current, node):
        if node.op == "??":
            temp = self.temp()
            return pn.IfExp(
                test=pn.Compare(
                    left=pn.NamedExpr(target=_store(temp), value=current), ops=[py.Is()], comparators=[_const(None)]
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
                    pn.Try(
                        body=[_assign(current, _name(pyname))],
                        handlers=[pn.ExceptHandler(type=_name("NameError"), name=None, body=[_assign(current, _const(None))])],
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
            return _r("sget", cls, _const(node.name)), lambda value: [pn.Expr(_r("sset", cls, _const(node.name), value))]
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
                used_keys = pn.List(elts=used, ctx=py.Load()) if keyed else _const(position)
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
                value = pn.IfExp(
                    test=pn.Compare(left=pn.NamedExpr(target=_store(temp), value=value), ops=[py.Is()], comparators=[_const(None)]),
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
