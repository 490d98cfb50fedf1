"""
Small constructors for the Python C{ast} nodes the compiler emits, so the
compiler reads as what it generates rather than as node plumbing.
"""

import ast as py


# Contexts carry no state: one instance serves every name.
_LOAD = py.Load()
_STORE = py.Store()


def _name(id, ctx=_LOAD):
    return py.Name(id=id, ctx=ctx)


def _const(value):
    return py.Constant(value=value)


def _call(func, *args):
    if isinstance(func, str):
        func = _name(func)
    return py.Call(func=func, args=list(args), keywords=[])


def _r(helper, *args):
    return _call("R_" + helper, *args)


def _store(id):
    return _name(id, _STORE)


def _assign(id, value):
    return py.Assign(targets=[_store(id)], value=value)


def _truthy(expr):
    return _r("truthy", expr)


def _class_of(expr):
    """C{expr.__class__}: the type test the fast paths use (cheaper than a call to type())."""
    return py.Attribute(value=expr, attr="__class__", ctx=py.Load())
