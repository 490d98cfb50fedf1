"""
Compiled scripts and their executions: L{compile_program}, L{Program},
L{Session}, and the translation of whatever a script raised into a
positioned L{HSLRuntimeError}.
"""

import builtins
import collections
import functools
import gc
import importlib
import itertools
import os
import re
import threading
import weakref

from halon.hsl import runtime
from halon.hsl.compiler import LINE_BASE, Compiler
from halon.hsl.errors import HSLError, HSLRuntimeError, HSLSyntaxError, Position, ScriptExit, ScriptTimeout
from halon.hsl.parser import parse
from halon.hsl.values import HSLArray

__all__ = ["compile_program", "Program", "Session", "translate"]

# co_filename of each compiled unit -> its list of HSL file names.
_UNITS = {}
_unit_ids = itertools.count(1)

_CACHE_SIZE = 256
_cache = collections.OrderedDict()
_cache_lock = threading.Lock()

# Python modules scripts may import as extras://name: name -> (exports, factory(host) -> namespace).
# extras://a-b not yet registered is looked for as the module halon.extras.a_b.
EXTRAS = {}


def register_extra(name, functions, factory):
    """Offer C{import {...} from "extras://name"}: C{factory(host)} returns name -> callable."""
    EXTRAS[name] = ({"functions": sorted(functions), "classes": []}, factory)


@functools.lru_cache(maxsize=1)
def _builtin_tables():
    from halon.hsl.stdlib import core

    names = frozenset(core.names())
    arity = {name: (entry.min_args, entry.max_args) for name, entry in core.functions.items()}
    return names, arity


# -- positions ---------------------------------------------------------------


def position_of(tb):
    """file:line:column of the innermost script frame in traceback C{tb}."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        files = _UNITS.get(code.co_filename)
        if files is not None:
            found = (code, tb.tb_lasti, files)
        tb = tb.tb_next
    if found is None:
        return None
    code, lasti, files = found
    for i, (line, _, col, _) in enumerate(code.co_positions()):
        if i == lasti // 2:
            if line is None:
                return None
            index, line = divmod(line, LINE_BASE)
            return Position(files[index] if index < len(files) else files[0], line, (col or 0) + 1)
    return None


_UNDEFINED = re.compile(r"'(g_|v\d+_|V_|H_|B_|f\d*_|c\d*_)(\w+)'")


def translate(exc):
    """A positioned L{HSLRuntimeError} for anything a script execution raised."""
    position = position_of(exc.__traceback__)
    if isinstance(exc, HSLError):
        if exc.position is None:
            exc.position = position
        return exc
    if isinstance(exc, runtime.Throw):
        from halon.hsl.stdlib.exception import HSLException
        from halon.hsl.values import to_bytes

        value = exc.value
        message = value.message() if isinstance(value, HSLException) else to_bytes(value)
        return HSLRuntimeError("uncaught exception: %s" % message.decode("utf-8", "replace"), position)
    if isinstance(exc, NameError):
        m = _UNDEFINED.search(str(exc))
        if m:
            prefix, name = m.groups()
            if prefix in ("H_", "B_"):
                return HSLRuntimeError("%s() is not available here" % name, position)
            if prefix.startswith(("f", "c")):
                return HSLRuntimeError("%s is not defined yet" % name, position)
            return HSLRuntimeError("$%s is not defined" % name, position)
    if isinstance(exc, RecursionError):
        return HSLRuntimeError("too deep recursion", position)
    if isinstance(exc, TypeError) and "argument" in str(exc):
        return HSLRuntimeError("wrong number of arguments: %s" % _arguments_message(str(exc)), position)
    if isinstance(exc, MemoryError):
        return HSLRuntimeError("out of memory", position)
    return HSLRuntimeError("%s: %s" % (type(exc).__name__, exc), position)


_PY_CALLABLE = re.compile(r"^(?:[\w<>]+\.)*(\w+)\(\) (.*)$", re.S)
_PY_PREFIX = re.compile(r"^(?:f\d*_|c\d*_|B_|H_)")


def _arguments_message(text):
    """Python's arity complaint in HSL's names (f_multiply() -> multiply())."""
    m = _PY_CALLABLE.match(text)
    if m is None:
        return text
    name, rest = m.groups()
    if name.startswith("fn") and name[2:].isdigit():
        name = "function"
    elif name.endswith("__constructor"):
        name = _PY_PREFIX.sub("", name[: -len("__constructor")])
    else:
        name = _PY_PREFIX.sub("", name)
    return "%s() %s" % (name, rest)


def caught(exc):
    """The value HSL's C{catch ($e)} receives."""
    if isinstance(exc, runtime.Throw):
        return exc.value
    from halon.hsl.stdlib.exception import HSLException

    error = translate(exc)
    return HSLException(error.message.encode("utf-8", "surrogateescape")).located(error.position)


# -- loading included files and modules ----------------------------------------


class _Loader:
    """Reads included files and imported modules through the host at compile time."""

    def __init__(self, host, options):
        self.host = host
        self.options = options

    def include(self, path, from_file, node):
        if self.host is None:
            raise HSLSyntaxError("cannot read %s without a host" % path, Position(node.file, node.line, node.column))
        key = path
        for prefix in ("file://", "file:"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        try:
            if key in self.host.files:
                return key, self.host.files[key]
            relative = from_file if from_file and os.path.isabs(from_file) else None
            full = self.host.resolve_path(key, relative)
            with open(full, "rb") as f:
                return full, f.read()
        except (HSLRuntimeError, OSError) as e:
            reason = e.message if isinstance(e, HSLRuntimeError) else e.strerror
            raise HSLSyntaxError("cannot read %s: %s" % (path, reason), Position(node.file, node.line, node.column))

    def module(self, path, from_file, node, modules):
        if path.startswith("extras://"):
            name = path[len("extras://") :]
            if name not in EXTRAS and re.match(r"\A[a-z][a-z0-9-]*\Z", name):
                try:
                    importlib.import_module("halon.extras." + name.replace("-", "_"))
                except ImportError:
                    pass
            if name not in EXTRAS:
                raise HSLSyntaxError("no such module %s" % path, Position(node.file, node.line, node.column))
            exports, factory = EXTRAS[name]
            modules.append(("extra", name))
            return len(modules) - 1, exports
        key, source = self.include(path, from_file, node)
        script = parse(source, key)
        compiler = Compiler(key, loader=self, module=True, modules=modules, **self.options)
        unit = compiler.compile(script)
        code = _to_code(unit)
        modules.append(("hsl", code, unit))
        return len(modules) - 1, unit.exports


def _to_code(unit):
    filename = "<hsl:%d>" % next(_unit_ids)
    try:
        code = compile(unit.tree, filename, "exec")
    except SyntaxError as e:
        index, line = divmod(e.lineno or 1, LINE_BASE)
        raise HSLSyntaxError(e.msg, Position(unit.files[min(index, len(unit.files) - 1)], line, e.offset or 1))
    except RecursionError:
        raise HSLSyntaxError("the script nests too deeply", Position(unit.files[0], 1, 1))
    _UNITS[filename] = unit.files
    return code


# -- programs -------------------------------------------------------------------


# Host -> the globals every execution on it starts from.  Keyed on the host
# object itself: hosts that share script state (Host.with_files) still bind
# their own functions.
_HOST_GLOBALS = weakref.WeakKeyDictionary()
_host_globals_lock = threading.Lock()


def _host_globals(host):
    """
    The names every execution on C{host} shares, with Python's builtins:
    an execution's own globals look them up through C{__builtins__}, so
    that each starts with a dozen names instead of a copy of hundreds.
    """
    state = _HOST_GLOBALS.get(host)
    if state is not None:
        return state
    with _host_globals_lock:
        state = _HOST_GLOBALS.get(host)
        if state is None:
            state = _HOST_GLOBALS[host] = _make_host_globals(host)
    return state


def _make_host_globals(host):
    g = dict(vars(builtins))
    g.update(("R_" + name, value) for name, value in runtime.HELPERS.items())
    for name, value in host.namespace().items():
        g["B_" + name] = value
    from halon.hsl.values import to_bytes

    g["R_echo"] = lambda value: host.echo(to_bytes(value))
    g["R_cache_store"] = host.cache_store()
    g["R_barrier_store"] = host.shared_state("hsl.barrier", runtime.new_barrier_store)
    g["R_cached_call"] = runtime.cached_call
    g["R_barrier"] = runtime.barrier
    g["R_Catchable"] = Exception
    g["R_caught"] = caught
    g["R_isset"] = _isset
    g["R_keep"] = _keep
    g["R_exports"] = _exports
    g["R_export_var"] = _export_var
    g["R_export_function"] = _export_function
    g["R_export_class"] = _export_class
    return g


def _isset(container, key, is_prop):
    if is_prop:
        if isinstance(container, runtime.ScriptObject):
            return key in container.p
        key = key.encode()
    if type(container) is HSLArray:
        return container.has(key)
    return False


def _keep(session, scope):
    for name, value in scope.items():
        if name[1:2] == "_" and name[0] in "gfc":
            session[name] = value


def _exports(scope):
    out = {"vars": {}, "functions": {}, "classes": {}}
    for name, value in scope.items():
        if name.startswith("g_"):
            out["vars"][name[2:]] = value
        elif name.startswith("f_"):
            out["functions"][name[2:]] = value
        elif name.startswith("c_"):
            out["classes"][name[2:]] = value
    return out


def _export_var(module, name):
    return runtime.share(module["vars"].get(name))


def _export_function(module, name):
    try:
        return module["functions"][name]
    except KeyError:
        raise HSLRuntimeError("the module has no function %s()" % name)


def _export_class(module, name):
    try:
        return module["classes"][name]
    except KeyError:
        raise HSLRuntimeError("the module has no class %s" % name)


class Program:
    """A compiled script; L{run} executes it with a fresh global scope."""

    def __init__(self, code, unit, variables):
        self.code = code
        self.unit = unit
        self.variables = tuple(variables)
        self.includes = unit.includes
        # The predefined variables the script may read: a host need not build the others.
        self.reads = unit.reads

    def globals_for(self, host, variables=None, functions=None):
        g = {"__builtins__": _host_globals(host)}
        variables = variables or {}
        for name in self.variables:
            g["V_" + name] = variables.get(name)
        for name, fn in (functions or {}).items():
            g["H_" + name] = fn
        # Only a script that imports calls these (most hooks do not).
        if self.unit.modules:
            g["R_import_module"] = functools.partial(self._import_module, host, {}, functions)
        if self.unit.data:
            g["R_import_data"] = functools.partial(self._import_data, host)
        return g

    def run(self, host, variables=None, functions=None):
        """Execute once; see L{halon.hsl}."""
        from halon.hsl.stdlib.time import begin_execution

        g = self.globals_for(host, variables, functions)
        out = g["R_out"] = {}
        exec(self.code, g)
        begin_execution()
        try:
            g["__main__"]()
        except ScriptExit:
            pass
        except ScriptTimeout:
            raise
        except Exception as e:
            raise translate(e) from None
        finally:
            # The function and its globals refer to each other: a cycle
            # that would keep everything the execution made (its variables,
            # the message) alive until the cyclic collector runs.
            del g["__main__"]
        return {name: out.get("g_" + name) for name in self.variables}

    def _import_module(self, host, loaded, functions, index):
        if index in loaded:
            return loaded[index]
        entry = self.unit.modules[index]
        if entry[0] == "extra":
            _, factory = EXTRAS[entry[1]]
            namespace = {"functions": factory(host), "vars": {}, "classes": {}}
        else:
            _, code, unit = entry
            sub = Program(code, unit, ())
            sub.unit.modules = self.unit.modules
            g = sub.globals_for(host, None, functions)
            g["R_import_module"] = functools.partial(self._import_module, host, loaded, functions)
            exec(code, g)
            namespace = g["__main__"]()
        loaded[index] = namespace
        return namespace

    def _import_data(self, host, index, options):
        path, data = self.unit.data[index]
        ns = host.namespace()
        lower = path.lower()
        if lower.endswith(".json"):
            return ns["json_decode"](data) if options is None else ns["json_decode"](data, options)
        if lower.endswith(".csv"):
            return ns["csv_decode"](data) if options is None else ns["csv_decode"](data, options)
        if type(options) is HSLArray and options.get(b"array"):
            return HSLArray.from_list(data.splitlines())
        return data


def compile_program(source, filename="<script>", *, functions=(), variables=(), readonly=(), host=None):
    """Compile a script into a L{Program}; see L{halon.hsl}."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    key = (source, filename, tuple(sorted(functions)), tuple(variables), tuple(sorted(readonly)), id(host) if host else None)
    with _cache_lock:
        program = _cache.get(key)
        if program is not None:
            _cache.move_to_end(key)
    if program is not None and _includes_unchanged(program, host):
        return program
    program = _compile(source, filename, functions, variables, readonly, host)
    with _cache_lock:
        _cache[key] = program
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return program


def _includes_unchanged(program, host):
    if not program.includes:
        return True
    loader = _Loader(host, {})
    for path, content in program.includes:
        try:
            node = Position(path, 1, 1)
            _, now = loader.include(path, None, node)
        except HSLSyntaxError:
            return False
        if now != content:
            return False
    return True


def _compile(source, filename, functions, variables, readonly, host, session=None):
    # Compiling makes tens of thousands of short-lived tree nodes; the cyclic
    # collector would walk them again and again (a third of the time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile_unit(source, filename, functions, variables, readonly, host, session)
    finally:
        if enabled:
            gc.enable()


def _compile_unit(source, filename, functions, variables, readonly, host, session):
    names, arity = _builtin_tables()
    options = {"functions": functions, "builtin_names": names, "builtin_arity": arity}
    loader = _Loader(host, options)
    script = parse(source, filename)
    compiler = Compiler(
        filename, variables=variables, readonly=readonly, loader=loader, session=session, **options
    )
    unit = compiler.compile(script)
    return Program(_to_code(unit), unit, variables)


class Session:
    """A global scope kept across pieces of script: the REPL's."""

    def __init__(self, host, filename="<stdin>", variables=None, functions=None, readonly=()):
        self.host = host
        self.filename = filename
        self.functions = dict(functions or {})
        self.readonly = tuple(readonly)
        self.scope = {"g_" + name: value for name, value in (variables or {}).items()}
        self.names = set(self.scope)

    @property
    def known_functions(self):
        return [name[2:] for name in self.scope if name.startswith("f_")]

    @property
    def known_classes(self):
        return [name[2:] for name in self.scope if name.startswith("c_")]

    def is_complete(self, source):
        """Whether C{source} parses, or fails for a reason more lines cannot fix."""
        try:
            parse(source, self.filename)
        except HSLSyntaxError as e:
            return "end of input" not in e.message
        return True

    def execute(self, source):
        if isinstance(source, str):
            source = source.encode("utf-8")
        info = _SessionInfo(set(self.scope), self.known_functions, self.known_classes)
        program = _compile(source, self.filename, tuple(self.functions), (), self.readonly, self.host, session=info)
        g = program.globals_for(self.host, None, self.functions)
        g["R_session"] = self.scope
        exec(program.code, g)
        from halon.hsl.stdlib.time import begin_execution

        begin_execution()
        try:
            g["__main__"]()
        except ScriptExit:
            return
        except ScriptTimeout:
            raise
        except Exception as e:
            raise translate(e) from None


class _SessionInfo:
    def __init__(self, names, functions, classes):
        self.names = names
        self.functions = functions
        self.classes = classes
