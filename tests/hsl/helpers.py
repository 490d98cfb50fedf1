"""Running HSL snippets for the language tests."""

import io

from halon.hsl import compile_program
from halon.hsl.host import Host


def run(source, filename="t.hsl", host=None, **options):
    """The lines a script echoed (bytes, without newlines)."""
    out = io.BytesIO()
    host = host or Host(stdout=out)
    host._stdout = out
    variables = options.pop("values", None)
    functions = options.pop("callables", None)
    compile_program(source, filename, host=host, **options).run(host, variables, functions)
    return out.getvalue().splitlines()
