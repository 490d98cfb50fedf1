"""
Compiling the scripts a configuration carries, to refuse a configuration
whose hooks would fail at the first connection.

The check is C{halon.hsl.check_syntax}, the same one C{hsh -s} runs.  When
the language package is not importable (a trimmed install running only
C{halonconfig --no-check-hsl}), scripts are not checked and
L{available} says so.
"""


def _checker():
    try:
        from halon.hsl import check_syntax
    except ImportError:
        return None
    return check_syntax


def available():
    """Whether scripts can be checked here."""
    return _checker() is not None


def syntax_errors(source, name):
    """
    The compile errors of script C{source} (str or bytes) as strings that
    start with C{name:line:column:}; empty when it compiles (or when no
    checker is available).
    """
    check = _checker()
    if check is None:
        return []
    from halon.hsl.errors import HSLError

    if isinstance(source, str):
        source = source.encode("utf-8")
    try:
        result = check(source, name)
    except HSLError as e:
        return [_positioned(e, name)]
    if not result:
        return []
    if isinstance(result, (list, tuple)):
        return [_positioned(e, name) if isinstance(e, HSLError) else str(e) for e in result]
    return [_positioned(result, name) if isinstance(result, HSLError) else str(result)]


def _positioned(error, name):
    if getattr(error, "position", None) is None:
        return "%s: %s" % (name, error.message)
    return str(error)
