"""
halonctl: manage the Halon daemons over their control sockets.

Each run is three separate steps: the command line becomes a request
message (the command's C{fill}), the request is sent on the daemon's
control socket (L{halon.control.client}), and the response becomes tables
or lines (the command's C{show}) or, with --json, JSON.  --json-request
prints the request and stops.

halonctl answers in a few tens of milliseconds: it imports neither Twisted
nor argparse, and protobuf only for the call it makes.
"""

import os
import sys

from halon.cli.halonctl.command import Command, Failed
from halon.cli.halonctl.engine import CONFIG, HSL, PROCESS_STATS, RESOLVER
from halon.cli.halonctl.options import UsageError, help_text, parse
from halon.cli.halonctl.policy import DELIVERY, POLICY, SUSPEND
from halon.cli.halonctl.queue import GROUPBY, LIST, UNLOAD, UPDATE

QUEUE = Command(
    "queue",
    "Queue management",
    description="Operate on the messages in queue, and the active queue's policies and suspends.",
    subcommands=[LIST, GROUPBY, UPDATE, UNLOAD, POLICY, SUSPEND, DELIVERY],
)

ROOT = Command(
    "",
    "",
    description=(
        "Manage the Halon programs over their control sockets. Every command has --help,\n"
        "--json (print the response as JSON) and --json-request (print the request).\n"
        "\n"
        "The control socket is --socket, else $HALON_CTL (smtpd) or $HALON_RATED_CTL,\n"
        "$HALON_DLPD_CTL, else ./var/run/halon/<socket> when it exists, else\n"
        "/var/run/halon/<socket> (smtpd.ctl, queued.ctl for rated, dlpd.ctl)."
    ),
    subcommands=[QUEUE, CONFIG, HSL, RESOLVER, PROCESS_STATS],
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Environment:
    """Where halonctl reads and writes; tests pass their own streams, variables and folder."""

    def __init__(self, stdout=None, stderr=None, environ=None, cwd=None):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.environ = os.environ if environ is None else environ
        self.cwd = cwd or os.getcwd()


def socket_path(program, given, env):
    """The control socket of C{program}, found as the module docstring of L{ROOT} says."""
    if given:
        return given
    names = ["HALON_%s_CTL" % (program.upper(),)] + (["HALON_CTL"] if program == "smtpd" else [])
    for name in names:
        if env.environ.get(name):
            return env.environ[name]
    from halon.control.api import PROGRAMS

    local = os.path.join("var", "run", "halon", PROGRAMS[program])
    if os.path.exists(os.path.join(env.cwd, local)):
        return os.path.join(".", local)
    return os.path.join("/var/run/halon", PROGRAMS[program])


def main(argv=None, env=None):
    """Run halonctl; the exit status (0, 1 when the command failed, 2 for a bad command line)."""
    env = env or Environment()
    _utf8(env.stdout)
    try:
        return run(sys.argv[1:] if argv is None else argv, env)
    except BrokenPipeError:
        # The reader went away (halonctl queue list | head): stop quietly,
        # and keep the interpreter from failing again when it flushes stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def run(argv, env):
    from halon.control.client import ControlClientError

    try:
        command, rest = ROOT.find(argv)
        options = parse(command, rest)
    except UsageError as e:
        return _usage_error(env, argv, str(e))
    if options["help"]:
        env.stdout.write(help_text(command))
        return EXIT_OK
    if command.subcommands:
        env.stderr.write(help_text(command))
        return EXIT_USAGE
    try:
        return _call(command, options, env)
    except UsageError as e:
        return _usage_error(env, argv, str(e), command)
    except (ControlClientError, Failed) as e:
        env.stderr.write("halonctl: %s\n" % (e,))
        return EXIT_FAILED


def _call(command, options, env):
    from halon.control.api import CALLS
    from halon.control.client import ControlClient
    from halon.cli.halonctl import output

    call = CALLS[command.call]
    request = call.request_class()()
    command.fill(options, request)
    if options["json_request"]:
        output.json_dump(request, env.stdout, defaults=False)
        return EXIT_OK
    path = socket_path(command.program(options), options["socket"], env)
    with ControlClient(path) as client:
        pages = client.pages(call.name, request)
        if options["json"] and call.paged:
            output.json_dump_pages(pages, call.paged, env.stdout)
        elif options["json"]:
            output.json_dump(next(pages), env.stdout)
        else:
            output.render(command.show(pages, options), env.stdout)
    env.stdout.flush()
    return EXIT_OK


def _usage_error(env, argv, message, command=None):
    if command is None:
        command = ROOT
        for word in argv:
            known = {sub.name: sub for sub in command.subcommands}
            if word not in known:
                break
            command = known[word]
    where = ("halonctl " + command.words).rstrip()
    env.stderr.write("%s: %s\nSee '%s --help'.\n" % (where, message, where))
    return EXIT_USAGE


def _utf8(stream):
    """Tables are drawn with box characters: write UTF-8 where the locale cannot encode them."""
    encoding = getattr(stream, "encoding", None)
    try:
        "┌│╯".encode(encoding or "utf-8")
    except (LookupError, UnicodeEncodeError):
        stream.reconfigure(encoding="utf-8")
