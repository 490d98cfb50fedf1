"""
The registry that stdlib modules add their functions and classes to.

A function is a plain Python callable taking HSL values positionally (see
L{halon.hsl.values} for the representation) and returning one.  Functions
that need the outside world declare C{host=True} and receive the
L{halon.hsl.host.Host} as their first argument; the host is bound once per
program when the namespace is built, so calls cost nothing extra.
"""

import functools
import inspect


class Entry:
    """One registered function: its callable and the arity scripts may use."""

    __slots__ = ("name", "fn", "host", "min_args", "max_args")

    def __init__(self, name, fn, host):
        self.name = name
        self.fn = fn
        self.host = host
        self.min_args, self.max_args = _arity(fn, skip=1 if host else 0)


def _arity(fn, skip):
    params = list(inspect.signature(fn).parameters.values())[skip:]
    lo = hi = 0
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            return lo, None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is p.empty:
                lo += 1
    return lo, hi


class Library:
    """
    A set of HSL functions and classes.  C{core} holds the standard library;
    hook contexts (connect, eod, predelivery ...) build their own small ones.
    """

    def __init__(self, name):
        self.name = name
        self.functions = {}
        self.classes = {}

    def function(self, name=None, *, host=False):
        """Decorator: register a function under C{name} (default: its own)."""

        def register(fn):
            hsl_name = name or fn.__name__
            if hsl_name in self.functions:
                raise ValueError("%s: %s() registered twice" % (self.name, hsl_name))
            self.functions[hsl_name] = Entry(hsl_name, fn, host)
            return fn

        return register

    def cls(self, name=None):
        """Decorator: register a builtin class (an HSLObject subclass)."""

        def register(klass):
            hsl_name = name or klass.hsl_class_name
            if hsl_name in self.classes:
                raise ValueError("%s: class %s registered twice" % (self.name, hsl_name))
            self.classes[hsl_name] = klass
            return klass

        return register

    def names(self):
        return set(self.functions) | set(self.classes)

    def namespace(self, host):
        """HSL name -> callable, host-needing functions bound to C{host}."""
        ns = {}
        for name, entry in self.functions.items():
            ns[name] = functools.partial(entry.fn, host) if entry.host else entry.fn
        for name, klass in self.classes.items():
            ns[name] = bind_class(klass, host) if getattr(klass, "hsl_needs_host", False) else klass
        return ns


def bind_class(klass, host):
    """
    A subclass of C{klass} whose C{hsl_host} is C{host}: how a builtin class
    that declares C{hsl_needs_host = True} reaches the host's files and
    services from its constructor, methods and statics.  Made once per
    host when the namespace is built; C{isinstance} against C{klass} holds.
    """
    return type(klass.__name__, (klass,), {"__slots__": (), "__module__": klass.__module__, "hsl_host": host})
