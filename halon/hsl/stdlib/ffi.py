"""
FFI: calling C libraries from scripts, on ctypes.

Only a host created with C{ffi=True} (the program's FFI setting) lets a
script load a library or make FFI values; anywhere else every FFI entry
point is a runtime error.  As in Halon, a script with FFI can crash the
process: nothing here checks pointers.

Values are C{FFIValue} resources holding a ctypes object of their type.
Memory a value owns (C{cstring}, C{allocate}) lives as long as the value
and whatever was derived from it (C{byref}, C{offset}); C{attach} gives a
pointer a destructor (C{free} by default) run when the value is collected,
C{detach} takes ownership away.
"""

import ctypes
import ctypes.util
import os
import weakref

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.stdlib._check import array, fail, function, integer, number, string
from halon.hsl.values import HSLArray, HSLObject, HSLResource

__all__ = ["FFI", "FFIFunction", "FFIType", "FFIValue", "file_pointer", "descriptor_value"]

_CTYPES = {
    "void": None,
    "uint8": ctypes.c_uint8,
    "sint8": ctypes.c_int8,
    "uint16": ctypes.c_uint16,
    "sint16": ctypes.c_int16,
    "uint32": ctypes.c_uint32,
    "sint32": ctypes.c_int32,
    "uint64": ctypes.c_uint64,
    "sint64": ctypes.c_int64,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
    "pointer": ctypes.c_void_p,
    "...": None,
}
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.fdopen.restype = ctypes.c_void_p
_libc.fmemopen.restype = ctypes.c_void_p
_libc.fmemopen.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_libc.fseek.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
_libc.fclose.argtypes = [ctypes.c_void_p]
_detached = []


class FFIType(HSLResource):
    __slots__ = ("name", "ctype")
    hsl_resource_name = "FFIType"

    def __init__(self, name):
        self.name = name
        self.ctype = _CTYPES[name]


class FFIValue(HSLResource):
    """A C value: C{type} (an FFIType name), C{c} (the ctypes object), C{keep} (memory it depends on)."""

    __slots__ = ("type", "c", "keep", "_finalizer", "__weakref__")
    hsl_resource_name = "FFIValue"

    def __init__(self, type_name, c, keep=()):
        self.type = type_name
        self.c = c
        self.keep = list(keep)
        self._finalizer = None

    @property
    def address(self):
        return self.c.value or 0


def _pointer(address, keep=()):
    return FFIValue("pointer", ctypes.c_void_p(address or None), keep)


def _require(host, what):
    if host is None or not host.ffi:
        raise HSLRuntimeError("%s: FFI is not enabled" % what)


def _ffi_type(value, what="type"):
    if not isinstance(value, FFIType):
        fail("FFI", "%s must be an FFIType (from FFI::type())", what)
    return value


def _ffi_pointer(value, fn):
    if not isinstance(value, FFIValue) or value.type != "pointer":
        fail(fn, "expected an FFIValue of pointer type")
    return value


def _number_value(type_name, n):
    ctype = _CTYPES[type_name]
    if ctype in (ctypes.c_float, ctypes.c_double):
        return FFIValue(type_name, ctype(n))
    return FFIValue(type_name, ctype(int(n)))


def _argument(declared, value, keep):
    """A ctypes argument for C{value} declared as C{declared} (None: variadic)."""
    if isinstance(value, FFIValue):
        return value.c
    if declared is None:
        fail("FFIFunction", "variadic arguments must be FFIValues")
    if declared.name == "pointer":
        if value is None:
            return ctypes.c_void_p(None)
        if type(value) is bytes:
            buf = ctypes.create_string_buffer(value.split(b"\0", 1)[0])
            keep.append(buf)
            return ctypes.c_void_p(ctypes.addressof(buf))
    elif type(value) is float and declared.ctype is not None:
        return _number_value(declared.name, value).c
    fail("FFIFunction", "cannot pass a %s as %s", type(value).__name__, declared.name)


def _result(rettype, raw):
    if rettype.ctype is None:
        return None
    if rettype.name == "pointer":
        return None if not raw else _pointer(raw)
    return FFIValue(rettype.name, rettype.ctype(raw))


class FFIFunction(HSLObject):
    """A C function with its signature; call it like a function (or ->call())."""

    __slots__ = ("_fn", "_args", "_variadic", "_ret", "_owner")
    hsl_class_name = "FFIFunction"
    hsl_methods = {"call": "__call__"}

    def __init__(self, fn, argtypes, rettype, owner):
        self._fn = fn
        self._variadic = bool(argtypes) and argtypes[-1].name == "..."
        self._args = argtypes[:-1] if self._variadic else argtypes
        self._ret = rettype
        self._owner = owner
        fn.restype = rettype.ctype
        fn.argtypes = None

    def __call__(self, *args):
        if len(args) < len(self._args) or (len(args) > len(self._args) and not self._variadic):
            fail("FFIFunction", "expected %d arguments, got %d", len(self._args), len(args))
        keep = []
        cargs = [_argument(self._args[i] if i < len(self._args) else None, v, keep) for i, v in enumerate(args)]
        return _result(self._ret, self._fn(*cargs))


@core.cls("FFI")
class FFI(HSLObject):
    """FFI(string $path): a loaded shared library."""

    __slots__ = ("_lib",)
    hsl_class_name = "FFI"
    hsl_needs_host = True
    hsl_host = None
    hsl_methods = {"func": "func", "symbol": "symbol"}
    hsl_statics = {
        name: "s_" + name
        for name in (
            "type cnumber cstring callback nullptr allocate memcpy byref deref offset string number number64 attach detach"
        ).split()
    }

    def __init__(self, path):
        _require(self.hsl_host, "FFI()")
        name = string("FFI", path, "path")
        try:
            self._lib = ctypes.CDLL(os.fsdecode(name))
        except OSError as e:
            raise HSLRuntimeError("FFI(): %s" % e)

    def func(self, name, arguments, returntype):
        argtypes = [_ffi_type(t, "an argument type") for t in array("func", arguments, "arguments").values()]
        if any(t.name == "void" for t in argtypes) or any(t.name == "..." for t in argtypes[:-1]):
            fail("func", "void is only a return type and ... only the last argument")
        rettype = _ffi_type(returntype, "returntype")
        if rettype.name == "...":
            fail("func", "... is not a return type")
        try:
            fn = getattr(self._lib, string("func", name, "name").decode("ascii"))
        except (AttributeError, UnicodeDecodeError):
            return None
        return FFIFunction(fn, argtypes, rettype, self)

    def symbol(self, name):
        try:
            address = ctypes.c_void_p.in_dll(self._lib, string("symbol", name, "name").decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return None
        return _pointer(ctypes.addressof(address), [self._lib])

    # -- statics -------------------------------------------------------------------

    @classmethod
    def s_type(cls, name):
        _require(cls.hsl_host, "FFI::type()")
        key = string("FFI::type", name, "name").decode("ascii", "replace")
        if key not in _CTYPES:
            fail("FFI::type", "unknown type %r", key)
        return FFIType(key)

    @classmethod
    def s_cnumber(cls, type, number_):
        _require(cls.hsl_host, "FFI::cnumber()")
        t = _ffi_type(type)
        if t.name in ("void", "...", "pointer"):
            fail("FFI::cnumber", "%s is not a number type", t.name)
        return _number_value(t.name, number("FFI::cnumber", number_, "number"))

    @classmethod
    def s_cstring(cls, value):
        _require(cls.hsl_host, "FFI::cstring()")
        buf = ctypes.create_string_buffer(string("FFI::cstring", value, "value").split(b"\0", 1)[0])
        return _pointer(ctypes.addressof(buf), [buf])

    @classmethod
    def s_callback(cls, arguments, returntype, callback):
        _require(cls.hsl_host, "FFI::callback()")
        argtypes = [_ffi_type(t) for t in array("FFI::callback", arguments, "arguments").values()]
        rettype = _ffi_type(returntype)
        fn = function("FFI::callback", callback)

        def trampoline(*raw):
            values = [_result(t, r) if t.name != "pointer" else _pointer(r) for t, r in zip(argtypes, raw)]
            out = fn(*values)
            if rettype.ctype is None:
                return None
            if isinstance(out, FFIValue):
                return out.c.value
            return 0 if out is None else int(out) if rettype.name not in ("float", "double") else out

        prototype = ctypes.CFUNCTYPE(rettype.ctype, *[t.ctype for t in argtypes])
        cfunc = prototype(trampoline)
        return _pointer(ctypes.cast(cfunc, ctypes.c_void_p).value, [cfunc])

    @classmethod
    def s_nullptr(cls):
        _require(cls.hsl_host, "FFI::nullptr()")
        return _pointer(None)

    @classmethod
    def s_allocate(cls, size):
        _require(cls.hsl_host, "FFI::allocate()")
        n = integer("FFI::allocate", size, "size")
        if n < 0:
            fail("FFI::allocate", "size must not be negative")
        buf = ctypes.create_string_buffer(n)
        return _pointer(ctypes.addressof(buf), [buf])

    @classmethod
    def s_memcpy(cls, pointer, data):
        _require(cls.hsl_host, "FFI::memcpy()")
        p = _ffi_pointer(pointer, "FFI::memcpy")
        payload = string("FFI::memcpy", data, "data")
        ctypes.memmove(p.address, payload, len(payload))
        return p

    @classmethod
    def s_byref(cls, value):
        _require(cls.hsl_host, "FFI::byref()")
        if not isinstance(value, FFIValue):
            fail("FFI::byref", "expected an FFIValue")
        return _pointer(ctypes.addressof(value.c), [value])

    @classmethod
    def s_deref(cls, value, type=None):
        _require(cls.hsl_host, "FFI::deref()")
        p = _ffi_pointer(value, "FFI::deref")
        t = FFIType("pointer") if type is None else _ffi_type(type)
        if t.ctype is None:
            fail("FFI::deref", "cannot dereference as %s", t.name)
        raw = t.ctype.from_address(p.address).value
        if t.name == "pointer":
            return None if not raw else _pointer(raw, [p])
        return FFIValue(t.name, t.ctype(raw))

    @classmethod
    def s_offset(cls, pointer, offset):
        _require(cls.hsl_host, "FFI::offset()")
        p = _ffi_pointer(pointer, "FFI::offset")
        return _pointer(p.address + integer("FFI::offset", offset, "offset"), [p])

    @classmethod
    def s_string(cls, pointer, size=None):
        _require(cls.hsl_host, "FFI::string()")
        p = _ffi_pointer(pointer, "FFI::string")
        if size is None:
            return ctypes.string_at(p.address)
        return ctypes.string_at(p.address, integer("FFI::string", size, "size"))

    @classmethod
    def s_number(cls, value):
        _require(cls.hsl_host, "FFI::number()")
        if not isinstance(value, FFIValue):
            fail("FFI::number", "expected an FFIValue")
        return float(value.c.value or 0)

    @classmethod
    def s_number64(cls, value):
        _require(cls.hsl_host, "FFI::number64()")
        if not isinstance(value, FFIValue):
            fail("FFI::number64", "expected an FFIValue")
        n = int(value.c.value or 0) & 0xFFFFFFFFFFFFFFFF
        return HSLArray.from_list([float(n >> 32), float(n & 0xFFFFFFFF)])

    @classmethod
    def s_attach(cls, pointer, destructor=None):
        _require(cls.hsl_host, "FFI::attach()")
        p = _ffi_pointer(pointer, "FFI::attach")
        if destructor is not None and not isinstance(destructor, FFIFunction):
            fail("FFI::attach", "the destructor must be an FFIFunction")
        address = p.address
        if p._finalizer is not None:
            p._finalizer.detach()
        if destructor is None:
            p._finalizer = weakref.finalize(p, _libc.free, address)
        else:
            p._finalizer = weakref.finalize(p, destructor, _pointer(address))
        return p

    @classmethod
    def s_detach(cls, pointer):
        _require(cls.hsl_host, "FFI::detach()")
        p = _ffi_pointer(pointer, "FFI::detach")
        if p._finalizer is not None:
            p._finalizer.detach()
            p._finalizer = None
        _detached.extend(p.keep)
        return p


def descriptor_value(fd):
    """A socket's descriptor as an FFIValue (Socket->toFFIValue())."""
    return FFIValue("sint32", ctypes.c_int32(fd))


def file_pointer(host, file):
    """
    A FILE* over a File's content at its current position, closed with
    fclose when the value is collected (File->toFFIValue()); none on error.
    """
    _require(host, "toFFIValue()")
    stream = file.resource.stream if file.resource is not None else None
    if stream is None:
        return None
    position = stream.tell()
    try:
        fd = stream.fileno()
    except (OSError, AttributeError, ValueError):
        fd = None
    if fd is not None:
        handle = _libc.fdopen(os.dup(fd), b"rb")
        keep = []
    else:
        data = file.read_all()
        buf = ctypes.create_string_buffer(data, len(data) or 1)
        handle = _libc.fmemopen(ctypes.addressof(buf), len(data), b"rb")
        keep = [buf]
    if not handle:
        return None
    _libc.fseek(handle, position, 0)
    value = _pointer(handle, keep)
    value._finalizer = weakref.finalize(value, _libc.fclose, handle)
    return value
