"""
Small constructors for the Python C{ast} nodes the compiler emits, so the
compiler reads as what it generates rather than as node plumbing.

C{pn.<Node>(field=...)} builds the same node as C{ast.<Node>(field=...)}
but hands the fields to it by position: the ast classes turn keyword
arguments into a dictionary first, which made building the tens of
thousands of nodes of a large script cost three times as much.  Each
takes the leading fields the compiler gives that node, by name.
"""

import ast as py
import types


def _positional(cls, count=None):
    fields = ", ".join(cls._fields[:count])
    namespace = {"cls": cls}
    exec("def %s(%s):\n    return cls(%s)\n" % (cls.__name__, fields, fields), namespace)
    return namespace[cls.__name__]


pn = types.SimpleNamespace(
    **{
        cls.__name__: _positional(cls, count)
        for cls, count in [
            (py.Assign, 2),
            (py.Attribute, None),
            (py.BinOp, None),
            (py.BoolOp, None),
            (py.Call, None),
            (py.Compare, None),
            (py.Constant, 1),
            (py.Delete, None),
            (py.Dict, None),
            (py.ExceptHandler, None),
            (py.Expr, None),
            (py.For, 4),
            (py.FunctionDef, 5),
            (py.If, None),
            (py.IfExp, None),
            (py.Lambda, None),
            (py.List, None),
            (py.Module, None),
            (py.Name, None),
            (py.NamedExpr, None),
            (py.Nonlocal, None),
            (py.Raise, None),
            (py.Return, None),
            (py.Starred, None),
            (py.Subscript, None),
            (py.Try, None),
            (py.Tuple, None),
            (py.UnaryOp, None),
            (py.While, None),
            (py.arg, 1),
            (py.arguments, None),
        ]
    }
)

# Contexts carry no state: one instance serves every name.
_LOAD = py.Load()
_STORE = py.Store()


def _name(id, ctx=_LOAD):
    return py.Name(id, ctx)


def _const(value):
    return py.Constant(value)


def _call(func, *args):
    if isinstance(func, str):
        func = py.Name(func, _LOAD)
    return py.Call(func, list(args), [])


def _r(helper, *args):
    return py.Call(py.Name("R_" + helper, _LOAD), list(args), [])


def _store(id):
    return py.Name(id, _STORE)


def _assign(id, value):
    return py.Assign([py.Name(id, _STORE)], value)


def _truthy(expr):
    return _r("truthy", expr)


def _class_of(expr):
    """C{expr.__class__}: the type test the fast paths use (cheaper than a call to type())."""
    return py.Attribute(expr, "__class__", _LOAD)
