"""
The HSL syntax tree.

Nodes are declared in one table below (name, then fields), as pycparser
declares its C nodes in a config file; the classes are generated from it
with C{__slots__}.  Every node carries C{file}, C{line} and C{column}
(1-based), so every error the compiler or the runtime reports can name the
place in the script.  Fields named in C{CHILDREN} hold nodes or lists of
nodes; the others hold plain values.
"""

__all__ = ["Node"]

# name: fields.  A trailing "*" marks a child node, "**" a list of child
# nodes (entries may be None); unmarked fields are plain values.
_NODES = """
Script:      body**

Number:      value
String:      value
Interpolated: parts**
Regex:       pattern flags
Bool:        value
NoneLit:
Var:         name
ArrayLit:    items**
ArrayItem:   key* value* spread
FuncLit:     params** captures body**
Name:        name
Builtin:     name
Call:        func* args**
Arg:         value* spread
Cache:       options* call*
Index:       obj* index*
Slice:       obj* start* stop* step*
Prop:        obj* name
Static:      scope name var
Unary:       op operand*
Binary:      op left* right*
Logical:     op left* right*
Ternary:     cond* then* orelse*
Coalesce:    left* right*
Assign:      target* op value*
IncDec:      op prefix target*
Isset:       target*
Unset:       target*
Match:       subject* arms**
MatchArm:    conditions** value*

Echo:        value*
ExprStmt:    value*
If:          cond* then* orelse*
For:         init** cond* step** body*
Foreach:     iterable* key value body*
While:       cond* body*
Forever:     body*
Break:
Continue:
Switch:      subject* cases**
Case:        value* body**
Return:      value*
Global:      names
FunctionDef: name params** body**
Param:       name default* variadic
ClassDef:    name members**
Constructor: params** body**
Method:      name params** body** private static
Property:    name default* private readonly static
Include:     path once
Import:      names path
ImportAll:   alias path
ImportData:  var path options*
Try:         body** var handler**
Throw:       value*
Barrier:     name* var body**
Block:       body**
Empty:
"""


class Node:
    """
    Base of all nodes: a position and the fields of the subclass.  Each
    subclass is built with its own C{__init__(fields..., file=None, line=0,
    column=0)}, as namedtuple builds one, since the parser makes tens of
    thousands of nodes per large script.
    """

    __slots__ = ("file", "line", "column")
    fields = ()
    children = ()

    def at(self, other):
        """Take the position of node C{other}; returns self."""
        self.file, self.line, self.column = other.file, other.line, other.column
        return self

    def __repr__(self):
        return "%s(%s)" % (
            type(self).__name__,
            ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.fields),
        )


def _init(fields):
    """An C{__init__} storing C{fields} and the position, compiled for those names."""
    params = "".join(name + ", " for name in fields)
    stores = "".join("    self.%s = %s\n" % (name, name) for name in fields)
    source = "def __init__(self, %sfile=None, line=0, column=0):\n%s    self.file = file\n    self.line = line\n    self.column = column\n" % (
        params,
        stores,
    )
    namespace = {}
    exec(source, namespace)
    return namespace["__init__"]


def _declare(table):
    classes = {}
    for line in table.strip().splitlines():
        if not line.strip():
            continue
        name, _, spec = line.partition(":")
        fields, children = [], []
        for field in spec.split():
            plain = field.rstrip("*")
            fields.append(plain)
            if field.endswith("*"):
                children.append(plain)
        classes[name.strip()] = type(
            name.strip(),
            (Node,),
            {
                "__slots__": tuple(fields),
                "__init__": _init(fields),
                "fields": tuple(fields),
                "children": tuple(children),
                "__module__": __name__,
            },
        )
    return classes


_CLASSES = _declare(_NODES)
globals().update(_CLASSES)
__all__ += sorted(_CLASSES)

