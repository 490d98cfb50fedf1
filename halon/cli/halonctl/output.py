"""
What halonctl prints: box-drawn tables as Halon draws them, plain lines,
and the JSON form of messages.

Commands return a L{Table} or L{Lines}; L{render} prints either.  Rows and
lines are iterated as they are printed, so a paged answer streams through.
A table needs its column widths before its first line; it measures up to
L{MEASURE_ROWS} rows and keeps those widths for any rows after them (a
longer cell then pushes its line out of alignment rather than being cut).
"""

MEASURE_ROWS = 10000

LEFT, RIGHT = "left", "right"


class Column:
    def __init__(self, name, align=LEFT):
        self.name = name
        self.align = align


class Table:
    """Columns, and rows of cell strings (any iterable)."""

    def __init__(self, columns, rows):
        self.columns = columns
        self.rows = rows


class Lines:
    """Lines of text (any iterable)."""

    def __init__(self, lines):
        self.lines = lines


def render(result, out):
    if isinstance(result, Table):
        _render_table(result, out)
    elif isinstance(result, Lines):
        for line in result.lines:
            out.write(line + "\n")
    elif result is not None:
        raise TypeError("cannot render %r" % (result,))


def _render_table(table, out):
    columns = table.columns
    widths = [len(c.name) for c in columns]
    rows = iter(table.rows)
    measured = []
    for row in rows:
        measured.append(row)
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
        if len(measured) >= MEASURE_ROWS:
            break

    def rule(left, middle, right):
        return left + middle.join("─" * (w + 2) for w in widths) + right + "\n"

    def line(cells):
        parts = []
        for column, width, cell in zip(columns, widths, cells):
            parts.append(cell.rjust(width) if column.align == RIGHT else cell.ljust(width))
        return "│ " + " │ ".join(parts) + " │\n"

    out.write(rule("┌", "┬", "┐"))
    out.write(line([c.name for c in columns]))
    out.write(rule("├", "┼", "┤"))
    for row in measured:
        out.write(line(row))
    del measured
    for row in rows:
        out.write(line(row))
    # Halon closes its tables with a rounded corner (seeds/002).
    out.write(rule("└", "┴", "╯"))


def number(value):
    """A number as Halon prints it: whole numbers in full, others with 6 significant digits."""
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return "%.6g" % (value,)


def json_dump(message, out, defaults=True):
    """
    C{message} as JSON (protobuf's JSON mapping, 64-bit integers as numbers
    where exact).  C{defaults}: print fields left at their default too, so
    scripts find every key (responses); requests show only what was set.
    """
    out.write(_json_text(message, defaults) + "\n")


def json_dump_pages(pages, field, out):
    """
    One JSON document for a paged response, written as the pages arrive:
    the first page's other fields, then the elements of C{field} from every
    page.  It parses to the same value as the merged response.
    """
    import json

    pages = iter(pages)
    first = next(pages)
    rest = type(first)()
    rest.CopyFrom(first)
    rest.ClearField(field)
    head = json.loads(_json_text(rest, True))
    head.pop(field, None)
    out.write("{\n")
    for key, value in head.items():
        out.write('  "%s": %s,\n' % (key, _indent(json.dumps(value, indent=2), 2)))
    out.write('  "%s": [' % (field,))
    separator = "\n"
    for page in _chain_pages(first, pages):
        for item in getattr(page, field):
            out.write(separator + "    " + _indent(_item_json(item), 4))
            separator = ",\n"
    out.write(("\n  ]" if separator != "\n" else "]") + "\n}\n")


def _chain_pages(first, pages):
    yield first
    yield from pages


def _item_json(item):
    import json

    if isinstance(item, str):
        return json.dumps(item)
    return _json_text(item, True)


def _indent(text, spaces):
    return text.replace("\n", "\n" + " " * spaces)


def _json_text(message, defaults):
    from google.protobuf import json_format

    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        indent=2,
        always_print_fields_with_no_presence=defaults,
        unquote_int64_if_possible=True,
    )
