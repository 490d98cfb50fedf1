"""
The C{%} operator on a string and an array:
C{%[argument][[fill]align][width][.precision]type}.

C{argument} is C{[n]}, a 0-based index (the next implicit argument is
then n+1); C{fill} is C{'} and any character; C{align} one of C{< > ^ =};
C{type} C{s} (string), C{d}/C{f} (number), C{x} (hex), C{c} (character),
C{b} (binary).  Strings align left and numbers right unless told.
"""

import re

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, format_number, to_bytes, to_number

__all__ = ["format_string"]

_SPEC = re.compile(rb"%(?:\[([0-9]+)\])?(?:('.)?([<>^=]))?([0-9]+)?(?:\.([0-9]+))?([a-zA-Z%])")


def format_string(template, args):
    values = list(args.values()) if type(args) is HSLArray else [args]
    out = []
    pos = 0
    implicit = 0
    for m in _SPEC.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        index, fill, align, width, precision, kind = m.groups()
        if kind == b"%":
            out.append(b"%")
            continue
        if index is not None:
            implicit = int(index)
        if implicit >= len(values):
            raise HSLRuntimeError("format: too few arguments for %s" % m.group(0).decode("latin-1"))
        value = values[implicit]
        implicit += 1
        out.append(_one(value, fill[1:] if fill else b" ", align, width, precision, kind))
    out.append(template[pos:])
    return b"".join(out)


def _one(value, fill, align, width, precision, kind):
    numeric = kind != b"s"
    if kind == b"s":
        text = to_bytes(value)
        if precision is not None:
            text = text[: int(precision)]
    elif kind in (b"f", b"d"):
        n = to_number(value)
        if precision is not None:
            text = b"%.*f" % (int(precision), n)
        elif kind == b"d":
            text = b"%d" % int(n) if n == n and abs(n) != float("inf") else format_number(n)
        else:
            text = format_number(n)
    elif kind == b"x":
        text = b"%x" % int(to_number(value))
    elif kind == b"X":
        text = b"%X" % int(to_number(value))
    elif kind == b"b":
        text = format(int(to_number(value)), "b").encode()
    elif kind == b"o":
        text = b"%o" % int(to_number(value))
    elif kind == b"c":
        text = bytes([int(to_number(value)) & 0xFF])
    else:
        raise HSLRuntimeError("format: unknown type %%%s" % kind.decode("latin-1"))
    if width is None:
        return text
    width = int(width)
    if len(text) >= width:
        return text
    if align is None:
        align = b">" if numeric else b"<"
    pad = width - len(text)
    if align == b"<":
        return text + fill * pad
    if align == b">":
        return fill * pad + text
    if align == b"^":
        left = pad // 2
        return fill * left + text + fill * (pad - left)
    if text[:1] in (b"-", b"+"):
        return text[:1] + fill * pad + text[1:]
    return fill * pad + text
