# -*- test-case-name: tests.smtpd.test_cheap -*-
"""
Which hook scripts may run on the reactor thread instead of the script
pool.

Handing a script to a worker thread and its result back costs more than
running a short script itself: two thread switches, a wake-up of the
reactor, and the GIL passed back and forth while both threads make system
calls.  A script whose running time is bounded by its own length and the
size of its variables, and which never waits for anything, gains from
running where its connection lives.

That is decided from the script's text alone, conservatively: only
straight-line code, C{if}/C{switch}/C{match}, C{foreach} (over a copy of an
array that exists already, so bounded), C{try}/C{throw}, and calls of the
functions and methods listed below, which do no I/O and take time in
proportion to their arguments.  Loops that may not end, user functions,
closures, classes, regular expressions, the cache and barrier
statements, and imports all send the script to the pool, where the
C{scripting.timeout} limit applies.
"""

from halon.hsl import ast as hsl_ast
from halon.hsl.errors import HSLSyntaxError
from halon.hsl.parser import parse

__all__ = ["runs_inline", "FUNCTIONS", "METHODS"]

FUNCTIONS = frozenset(
    """
    Accept Reject Defer Reply Pass
    abs array boolean ceil chr floor length number ord round string time uptime executiontime
    is_array is_boolean is_function is_number is_object is_string
    array_includes array_join array_keys array_reverse array_unique array_combine
    str_find str_lower str_lstrip str_replace str_rfind str_rstrip str_slice str_split str_strip str_upper str_chunk
    base32_decode base32_encode base64_decode base64_encode base64url_decode base64url_encode
    url_decode url_encode url_parse xtext_decode xtext_encode mimeword_decode mimeword_encode
    idna_decode idna_encode json_decode json_encode
    md5 sha1 sha2 hmac_md5 hmac_sha1 hmac_sha2 uuid
    inet_includes inet_ntop inet_pton inet_reverse domain_includes
    envelope_address_parse envelope_localpart_escape header_addresslist_extract
    gethostname
    """.split()
)

# Methods of the EOD message and of MIME parts that only read or change
# the message in memory.
METHODS = frozenset(
    """
    queue getID getHeader getHeaders getHeaderNames hasHeader addHeader setHeader delHeader
    getAddressList getSize
    """.split()
)

_ALLOWED = frozenset(
    """
    Script Number String Interpolated Bool NoneLit Var ArrayLit ArrayItem Name Builtin Call Arg
    Index Slice Prop Unary Binary Logical Ternary Coalesce Assign IncDec Isset Unset Match MatchArm
    Echo ExprStmt If Foreach Break Continue Switch Case Return Global Try Throw Block Empty
    """.split()
)


def runs_inline(source, filename="<script>"):
    """Whether the script C{source} is cheap enough to run on the reactor thread."""
    try:
        tree = parse(source, filename)
    except HSLSyntaxError:
        return False
    return _cheap(tree)


def _cheap(node):
    if node is None or isinstance(node, (str, bytes, int, float, bool)):
        return True
    if isinstance(node, list):
        return all(_cheap(item) for item in node)
    if not isinstance(node, hsl_ast.Node):
        return False
    kind = type(node).__name__
    if kind not in _ALLOWED:
        return False
    if kind == "Call" and not _cheap_callee(node.func):
        return False
    if kind == "Binary" and node.op in ("=~", "!~"):
        return False
    return all(_cheap(getattr(node, name)) for name in node.children)


def _cheap_callee(func):
    kind = type(func).__name__
    if kind in ("Name", "Builtin"):
        return func.name in FUNCTIONS
    if kind == "Prop":
        return func.name in METHODS and _cheap(func.obj)
    return False
