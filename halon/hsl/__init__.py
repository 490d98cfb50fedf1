"""
HSL, the Halon Scripting Language: compiling and running scripts.

Scripts are parsed (PLY) into a syntax tree whose nodes all carry
file:line:column, compiled to Python code objects (cached per script), and
run against a L{halon.hsl.host.Host}.

    check_syntax(source, filename)
        Raises L{HSLSyntaxError} (positioned) when the script does not
        compile.  C{hsh -s} and halonconfig use it.

    compile_program(source, filename, *, functions=(), variables=(),
                    readonly=(), host=None) -> Program
        C{source} is bytes or str.  C{functions}: names of functions the
        caller supplies at run time (hook functions such as Accept and
        Reject).  C{variables}: predefined variable names without C{$}
        (C{"connection"}, C{"arguments"} ...); C{readonly}: those of them
        scripts may not assign.  C{host} resolves C{include} statements
        (read through L{Host.read_file}); without it a script that
        includes files cannot compile.  Raises L{HSLSyntaxError}.
        Programs are cached on the source, file name, these names and the
        content of included files, so compiling the same script again
        costs one hash.

    Program.run(host, variables=None, functions=None)
        Executes the script once with a fresh global scope.  C{variables}:
        name -> HSL value (see L{halon.hsl.values}); C{functions}: name ->
        Python callable.  Returns, when the script ends (also by
        L{ScriptExit}), the final value of every predefined variable
        (name -> value; none for one the script unset), so a hook can hand
        C{$context} to the next; raises L{HSLRuntimeError} carrying the
        file:line:column of the innermost script frame for any error
        (runtime errors, errors raised inside stdlib functions, bugs in
        Python code, uncaught C{throw}); L{ScriptTimeout} propagates.

    Program.reads
        The predefined variables the script may read (a frozenset of
        names): a host may leave the others out of C{variables}.

    Session(host, filename="<stdin>", variables=None, functions=None,
            readonly=())
        A global scope kept across calls, for the REPL:
        C{session.execute(source)} compiles and runs one piece of script
        in it; C{session.is_complete(source)} tells whether more lines are
        needed before the piece can be parsed.
"""

from halon.hsl.errors import HSLRuntimeError, HSLSyntaxError, ScriptExit, ScriptTimeout
from halon.hsl.parser import parse
from halon.hsl.program import Program, Session, compile_program

__all__ = [
    "check_syntax",
    "compile_program",
    "Program",
    "Session",
    "HSLSyntaxError",
    "HSLRuntimeError",
    "ScriptExit",
    "ScriptTimeout",
]


def check_syntax(source, filename="<script>"):
    """Raise L{HSLSyntaxError} if C{source} does not parse."""
    parse(source, filename)
