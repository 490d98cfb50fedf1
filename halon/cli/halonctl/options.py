"""
halonctl's command line: a small declarative parser whose help text has
Halon's layout (the option in a 28-column field, the description, the
value's kind in angle brackets):

    --transportid               Filter on transport ID (repeatable) <string>

argparse lays help out differently and costs more to import than a
halonctl call may take, hence this parser.
"""

import math

HELP_COLUMN = 28


class UsageError(Exception):
    """A command line halonctl cannot run; the message names the option."""


def whole(option, text, minimum=0):
    """C{text} as a whole number of at least C{minimum}, for the value of C{option}."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError("%s: %r is not a whole number" % (option, text)) from None
    if value < minimum:
        raise UsageError("%s: %r is below %d" % (option, text, minimum))
    return value


def seconds(option, text):
    """C{text} as a finite, non-negative number (seconds, a share), for the value of C{option}."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise UsageError("%s: %r is not a number" % (option, text))
    if value < 0:
        raise UsageError("%s: %r is negative" % (option, text))
    return value


class Option:
    """
    One option.  A flag takes no value; any other option takes one, and a
    repeatable one collects a list.

    @ivar dest: the key in the parsed options (C{--all-states} -> C{all_states}).
    """

    def __init__(self, name, help, metavar=None, short=None, repeat=False, group="Options", choices=None):
        self.name = name
        self.help = help
        self.metavar = metavar
        self.short = short
        self.repeat = repeat
        self.group = group
        self.choices = choices
        self.dest = name.lstrip("-").replace("-", "_")

    @property
    def flag(self):
        return self.metavar is None

    def help_line(self):
        names = "%s, %s" % (self.short, self.name) if self.short else self.name
        text = self.help + (" <%s>" % (self.metavar,) if self.metavar else "")
        return names.ljust(HELP_COLUMN - 1) + " " + text


class Parsed(dict):
    """Option values by dest (absent options are None, or [] when repeatable), and C{args}."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def parse(command, argv):
    """
    The options and positional arguments of C{command} (a
    L{halon.cli.halonctl.commands.Command}) in C{argv}; L{UsageError} when
    they do not fit.
    """
    options = command.all_options()
    by_name = {}
    for option in options:
        by_name[option.name] = option
        if option.short:
            by_name[option.short] = option
    parsed = Parsed((o.dest, [] if o.repeat else None) for o in options)
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg[:2], "", arg[2:])
        option = by_name.get(name)
        if option is None:
            raise UsageError("unknown option %s" % (arg,))
        if option.flag:
            if eq or (value and not arg.startswith("--")):
                raise UsageError("%s takes no value" % (option.name,))
            parsed[option.dest] = True
            continue
        if not eq and not value:
            if i >= len(argv):
                raise UsageError("%s needs a value <%s>" % (option.name, option.metavar))
            value = argv[i]
            i += 1
        if option.choices and value not in option.choices:
            raise UsageError("%s: %r is not one of %s" % (option.name, value, ", ".join(option.choices)))
        if option.repeat:
            parsed[option.dest].append(value)
        elif parsed[option.dest] is not None:
            raise UsageError("%s given twice (it is not repeatable)" % (option.name,))
        else:
            parsed[option.dest] = value
    if parsed.get("help"):
        parsed["args"] = positional
        return parsed
    names = [a.split("...")[0] for a in command.args]
    variadic = any(a.endswith("...") for a in command.args)
    if len(positional) < len(names) or (len(positional) > len(names) and not variadic):
        wanted = " ".join(a.upper() for a in command.args) or "no arguments"
        raise UsageError("expected %s, got %s" % (wanted, " ".join(positional) or "none"))
    parsed["args"] = positional
    return parsed


def help_text(command):
    """The --help of C{command}: usage, description, options by group, notes."""
    usage = ("Usage: halonctl " + command.words).rstrip()
    if command.subcommands:
        usage += " <command>"
    usage += " [options]"
    for arg in command.args:
        usage += " " + arg.upper()
    lines = [usage, ""]
    if command.description:
        lines += [command.description, ""]
    if command.subcommands:
        lines.append("Commands:")
        for sub in command.subcommands:
            lines.append(sub.name.ljust(HELP_COLUMN - 1) + " " + sub.summary)
        lines.append("")
    groups = []
    for option in command.all_options():
        if option.group not in groups:
            groups.append(option.group)
    for group in groups:
        lines.append(group + ":")
        lines += [o.help_line() for o in command.all_options() if o.group == group]
        lines.append("")
    if command.notes:
        lines += [command.notes.rstrip("\n"), ""]
    return "\n".join(lines)
