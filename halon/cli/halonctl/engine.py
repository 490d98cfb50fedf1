"""
halonctl config, hsl, resolver and process-stats: the running
configuration and live stage, the script engine's rates, shared memory and
cache, the DNS resolver, and the process counters.
"""

import sys

from halon.cli.halonctl.command import Command, Failed, merged
from halon.cli.halonctl.options import Option, UsageError, seconds, whole
from halon.cli.halonctl.output import RIGHT, Column, Lines, Table, number

# -- config -------------------------------------------------------------------------

_PROGRAMS = ("smtpd", "rated", "dlpd")


def _fill_livestage(options, request):
    if not options["id"]:
        raise UsageError("--id is required")
    if not options["file"]:
        raise UsageError("--file is required (- or /dev/stdin reads standard input)")
    request.id = options["id"]
    request.config = _read(options["file"])
    conditions = request.conditions
    conditions.remoteips.extend(options["remoteip"])
    conditions.serverids.extend(options["serverid"])
    if options["probability"] is not None:
        conditions.probability = seconds("--probability", options["probability"])
        if conditions.probability > 1:
            raise UsageError("--probability: %r is not between 0 and 1" % (options["probability"],))
    if options["time"] is not None:
        conditions.time = seconds("--time", options["time"])
    if options["count"] is not None:
        conditions.count = whole("--count", options["count"], 1)
    request.connectionbound = bool(options["connectionbound"])


def _read(path):
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError("--file: %s: %s" % (path, getattr(e, "strerror", None) or e)) from None


def _show_status(pages, options):
    status = merged(pages)
    if not status.id:
        return Lines(["No live stage running"])
    conditions = status.conditions
    connections = str(status.connections)
    if conditions.HasField("count"):
        connections += "/%d" % (conditions.count,)
    runtime = str(status.runtime)
    if conditions.HasField("time"):
        runtime += "/" + number(conditions.time)
    return Lines(["%s: %s connections(s), %s runtime" % (status.id, connections, runtime)])


CONFIG = Command(
    "config",
    "Configuration management",
    description="Reload the running configuration and control live stage (blue-green testing).",
    subcommands=[
        Command(
            "reload",
            "Reload the running configuration",
            call="ConfigReload",
            options=[
                Option("--program", "The program to reload: smtpd, rated or dlpd", "program", choices=_PROGRAMS),
            ],
            program=lambda options: options["program"] or "smtpd",
            description=(
                "Reload the running configuration of a program (smtpd-app.yaml, rated-app.yaml or\n"
                "dlpd-app.yaml). A configuration with errors is refused, and the program keeps the one it runs."
            ),
        ),
        Command(
            "livestage",
            "Live stage (blue-green testing)",
            subcommands=[
                Command(
                    "start",
                    "Deploy a configuration for a selection of the traffic",
                    call="ConfigGreenDeploy",
                    options=[
                        Option("--id", "Live stage ID", "string"),
                        Option("--file", "Running configuration (- for standard input)", "path"),
                        Option("--remoteip", "For connections from this IP or network (repeatable)", "ip", repeat=True, group="Conditions"),
                        Option("--serverid", "For connections to this server (repeatable)", "id", repeat=True, group="Conditions"),
                        Option("--probability", "For this share of the connections, chosen at random", "0..1", group="Conditions"),
                        Option("--time", "For this many seconds", "seconds", group="Conditions"),
                        Option("--count", "For this many connections", "number", group="Conditions"),
                        Option("--connectionbound", "Keep a connection on the configuration it started with"),
                    ],
                    fill=_fill_livestage,
                ),
                Command("status", "Show the live stage", call="ConfigGreenStatus", show=_show_status),
                Command("cancel", "Stop the live stage", call="ConfigGreenCancel"),
            ],
        ),
    ],
)


# -- hsl --------------------------------------------------------------------------

_NAMESPACE = Option("--namespace", "Only this namespace", "string")


def _fill_rates(options, request):
    request.namespace = options["namespace"] or ""
    request.entry = options["entry"] or ""


def _show_rates(pages, options):
    columns = [Column("Namespace"), Column("Entry")] + [
        Column(n, RIGHT) for n in ("Count", "Local count", "Oldest", "Newest", "Rate (#/s)")
    ]

    def rows():
        for page in pages:
            for r in page.rates:
                yield [r.namespace, r.entry] + [number(v) for v in (r.count, r.localcount, r.oldest, r.newest, r.rate)]

    return Table(columns, rows())


def _fill_key(options, request):
    request.key = options["args"][0]


def _fill_store(options, request):
    import json

    key, value = options["args"]
    try:
        json.loads(value)
    except ValueError as e:
        raise UsageError("VALUE must be JSON (a string is \"quoted\"): %s" % (e,)) from None
    request.key, request.value = key, value


def _show_fetch(pages, options):
    response = merged(pages)
    if not response.found:
        raise Failed("%s: no such key" % (options["args"][0],))
    return Lines([response.value])


def _fill_cache_clear(options, request):
    request.namespace = options["namespace"] or ""
    request.function = options["function"] or ""


def _show_cache(pages, options):
    columns = [Column("Namespace"), Column("Function")] + [
        Column(n, RIGHT) for n in ("Max size", "Size", "Hits", "Misses", "Evicts", "Hit rate")
    ]

    def rows():
        for page in pages:
            for b in page.buckets:
                lookups = b.hits + b.misses
                rate = 100.0 * b.hits / lookups if lookups else 0
                yield [b.namespace, b.function] + [number(v) for v in (b.maxsize, b.size, b.hits, b.misses, b.evicts, rate)]

    return Table(columns, rows())


def _counted(text):
    return lambda pages, options: Lines([text % (merged(pages).count,)])


HSL = Command(
    "hsl",
    "Script engine",
    description="The script engine's rate counters, shared memory and function cache.",
    subcommands=[
        Command(
            "rates",
            "The rate() function's counters (rated)",
            subcommands=[
                Command(
                    "list",
                    "List rate entries",
                    call="HSLRateList",
                    options=[_NAMESPACE, Option("--entry", "Only this entry", "string")],
                    fill=_fill_rates,
                    show=_show_rates,
                ),
                Command(
                    "clear",
                    "Delete rate entries",
                    call="HSLRateClear",
                    options=[_NAMESPACE, Option("--entry", "Only this entry", "string")],
                    fill=_fill_rates,
                    show=_counted("%d entries deleted"),
                ),
            ],
        ),
        Command(
            "memory",
            "Shared memory (memory_store, memory_fetch, memory_delete)",
            description="Store, fetch and delete the script engine's shared memory. Values are JSON.",
            subcommands=[
                Command("store", "Store a JSON value", call="HSLMemoryStore", args=("key", "value"), fill=_fill_store),
                Command("fetch", "Print a value as JSON", call="HSLMemoryFetch", args=("key",), fill=_fill_key, show=_show_fetch),
                Command("delete", "Delete a value", call="HSLMemoryDelete", args=("key",), fill=_fill_key),
            ],
        ),
        Command(
            "cache",
            "Function cache buckets (the cache statement)",
            subcommands=[
                Command("list", "List cache buckets", call="HSLCacheList", show=_show_cache),
                Command(
                    "clear",
                    "Clear cache buckets",
                    call="HSLCacheClear",
                    options=[_NAMESPACE, Option("--function", "Only this function", "name")],
                    fill=_fill_cache_clear,
                    show=_counted("%d buckets cleared"),
                ),
            ],
        ),
    ],
)


# -- resolver, process-stats ------------------------------------------------------

RESOLVER = Command(
    "resolver",
    "DNS resolver",
    subcommands=[Command("clear", "Clear the DNS resolver's cache", call="ResolverClear")],
)


def _show_stats(pages, options):
    def lines():
        for page in pages:
            for stat in page.stats:
                value = number(stat.number) if stat.WhichOneof("value") == "number" else stat.text
                yield "%s: %s" % (stat.name, value)

    return Lines(lines())


PROCESS_STATS = Command(
    "process-stats",
    "Show process statistics",
    call="ProcessStats",
    options=[Option("--program", "The program to ask: smtpd, rated or dlpd", "program", choices=_PROGRAMS)],
    program=lambda options: options["program"] or "smtpd",
    show=_show_stats,
    description="Show the process statistics (counters) of a program, one name: value per line.",
)
