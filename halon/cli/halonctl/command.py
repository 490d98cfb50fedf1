"""
How a halonctl command is declared: its words, options and help, the call
it makes, how its options become the request (C{fill}) and how the
response becomes output (C{show}).  The three steps never meet: C{fill}
sees only options, C{show} only the response pages, and the call between
them is made by L{halon.cli.halonctl.run}.
"""

from halon.cli.halonctl.options import Option, UsageError

HELP = Option("--help", "Show this help", short="-h")
JSON = Option("--json", "Print the response as JSON")
JSON_REQUEST = Option("--json-request", "Print the request as JSON instead of sending it")
SOCKET = Option("--socket", "Control socket (default: see halonctl --help)", "path")
COMMON = [JSON, JSON_REQUEST, SOCKET, HELP]


class Command:
    """
    A halonctl command, or a group of them (C{subcommands}).

    @ivar fill: C{fill(options, request)} sets the request message's fields
        from the parsed options (L{UsageError} for a bad value).
    @ivar show: C{show(pages, options)} turns the response pages into a
        L{Table<halon.cli.halonctl.output.Table>}, L{Lines<halon.cli.halonctl.output.Lines>}
        or C{None} (nothing to print).
    @ivar program: C{program(options)}: the daemon to ask, when the call
        alone does not say (config reload --program).
    """

    def __init__(
        self,
        name,
        summary,
        call=None,
        options=(),
        args=(),
        fill=None,
        show=None,
        description=None,
        notes=None,
        subcommands=(),
        program=None,
    ):
        self.name = name
        self.summary = summary
        self.call = call
        self.options = list(options)
        self.args = tuple(args)
        self.fill = fill or (lambda options, request: None)
        self.show = show or (lambda pages, options: _drain(pages))
        self.description = description or summary
        self.notes = notes
        self.subcommands = list(subcommands)
        self._program = program
        self.parent = None
        for sub in self.subcommands:
            sub.parent = self

    @property
    def words(self):
        names = []
        command = self
        while command is not None and command.parent is not None:
            names.append(command.name)
            command = command.parent
        return " ".join(reversed(names))

    def all_options(self):
        if self.subcommands:
            return [HELP]
        return self.options + COMMON

    def find(self, argv):
        """The command C{argv} names, and the arguments after its words."""
        command = self
        while command.subcommands and argv and not argv[0].startswith("-"):
            for sub in command.subcommands:
                if sub.name == argv[0]:
                    command, argv = sub, argv[1:]
                    break
            else:
                raise UsageError("unknown command %r" % (argv[0],))
        return command, argv

    def program(self, options):
        from halon.control.api import CALLS

        if self._program is not None:
            return self._program(options)
        return CALLS[self.call].programs[0]


def merged(pages):
    """The response pages as one message (for answers that are not listings)."""
    result = None
    for page in pages:
        if result is None:
            result = page
        else:
            result.MergeFrom(page)
    return result


def _drain(pages):
    for _ in pages:
        pass


class Failed(Exception):
    """Raised by C{show} when the answer means the command failed (a key not found)."""
