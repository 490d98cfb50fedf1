"""
halonctl queue policy, queue suspend and queue delivery: the active
queue's dynamic policies and suspends, and reloading their files.
"""

from halon.cli.halonctl.command import Command, merged
from halon.cli.halonctl.options import Option, UsageError, seconds, whole
from halon.cli.halonctl.output import LEFT, RIGHT, Column, Lines, Table, number

_MATCH = [
    Option("--transportid", "Match transport ID", "string", group="Conditions"),
    Option("--localip", "Match local IP", "ip", group="Conditions"),
    Option("--remoteip", "Match remote IP", "ip", group="Conditions"),
    Option("--remotemx", "Match remote MX (wildcards allowed)", "host", group="Conditions"),
    Option("--recipientdomain", "Match recipient domain", "domain", group="Conditions"),
    Option("--jobid", "Match job ID", "string", group="Conditions"),
]
_MATCH_NAMES = ("transportid", "localip", "remoteip", "remotemx", "recipientdomain", "jobid")
_FIELDS = _MATCH_NAMES + ("grouping",)
_TTL = Option("--ttl", "Remove it after this many seconds", "seconds")
_TAG = Option("--tag", "Tag", "string")


def _fill_match(options, request):
    for name in _MATCH_NAMES:
        if options[name] is not None:
            setattr(request, name, options[name])


def _fill_ttl_tag(options, request):
    if options["ttl"] is not None:
        request.ttl = seconds("--ttl", options["ttl"])
    if options["tag"] is not None:
        request.tag = options["tag"]


def _show_id(pages, options):
    return Lines([str(merged(pages).id)])


def _id_argument(options, request):
    request.id = whole("ID", options["args"][0])


def _ttl(message):
    return number(message.ttl) if message.HasField("ttl") else ""


# -- queue policy -----------------------------------------------------------------


def _fill_policy_add(options, request):
    for field in options["field"]:
        if field not in _FIELDS:
            raise UsageError("-F: %r is not a policy field (%s)" % (field, ", ".join(_FIELDS)))
    request.fields.extend(options["field"])
    _fill_match(options, request)
    if options["concurrency"] is not None:
        request.concurrency = whole("--concurrency", options["concurrency"], 1)
    if options["rate"] is not None:
        count, slash, interval = options["rate"].partition("/")
        try:
            request.rate.count, request.rate.interval = float(count), float(interval)
        except ValueError:
            slash = ""
        if not slash or request.rate.count < 0 or request.rate.interval <= 0:
            raise UsageError("--rate: %r is not messages/seconds (eg 10/600)" % (options["rate"],))
    if options["connectinterval"] is not None:
        request.connectinterval = seconds("--connectinterval", options["connectinterval"])
    _fill_ttl_tag(options, request)
    if not (request.HasField("concurrency") or request.HasField("rate") or request.HasField("connectinterval")):
        raise UsageError("give a limit: --concurrency, --rate or --connectinterval")


def _show_policies(pages, options):
    names = ("id", "fields") + _MATCH_NAMES + ("concurrency", "rate", "ttl", "tag")
    right = ("id", "concurrency", "rate", "ttl")
    columns = [Column(n, RIGHT if n in right else LEFT) for n in names]

    def rows():
        for page in pages:
            for c in page.conditions:
                rate = "%s/%s" % (number(c.rate.count), number(c.rate.interval)) if c.HasField("rate") else ""
                concurrency = str(c.concurrency) if c.HasField("concurrency") else ""
                match = [getattr(c, n) for n in _MATCH_NAMES]
                yield [str(c.id), ",".join(c.fields)] + match + [concurrency, rate, _ttl(c), c.tag]

    return Table(columns, rows())


def _show_count(pages, options):
    return Lines([str(merged(pages).count)])


def _fill_refill(options, request):
    _fill_match(options, request)
    if options["tokens"] is not None:
        request.tokens = seconds("--tokens", options["tokens"])


POLICY = Command(
    "policy",
    "Active queue policies",
    description=(
        "Add, list and delete dynamic active queue policies, which override the ones in\n"
        "environment.policyconf, reload that file, and refill rate buckets."
    ),
    subcommands=[
        Command(
            "add",
            "Add a dynamic policy; prints its ID",
            call="PolicyConditionAdd",
            options=[
                Option("--field", "Count per distinct value of this field (repeatable)", "field", short="-F", repeat=True),
                *_MATCH,
                Option("--concurrency", "Concurrent connections", "number", group="Limits"),
                Option("--rate", "Messages per interval", "count/seconds", group="Limits"),
                Option("--connectinterval", "Seconds between new connections", "seconds", group="Limits"),
                _TTL,
                _TAG,
            ],
            fill=_fill_policy_add,
            show=_show_id,
        ),
        Command("list", "List the dynamic policies", call="PolicyConditionList", show=_show_policies),
        Command("delete", "Delete a dynamic policy", call="PolicyConditionDelete", args=("id",), fill=_id_argument),
        Command("reload", "Reload the policy configuration (environment.policyconf)", call="PolicyReload"),
        Command(
            "rate",
            "Policy rate buckets",
            subcommands=[
                Command(
                    "refill",
                    "Clear or refill rate buckets; prints how many",
                    call="PolicyRateRefill",
                    options=_MATCH + [Option("--tokens", "Add this many instead of refilling completely", "number")],
                    fill=_fill_refill,
                    show=_show_count,
                    description=(
                        "Clear or partially refill the rate buckets matched exactly by the conditions;\n"
                        "without conditions, every bucket of every policy."
                    ),
                )
            ],
        ),
    ],
)


# -- queue suspend ----------------------------------------------------------------


def _fill_suspend_add(options, request):
    _fill_match(options, request)
    _fill_ttl_tag(options, request)
    if not any(options[n] for n in _MATCH_NAMES):
        raise UsageError("give at least one condition of what to suspend")


def _show_suspends(pages, options):
    names = ("id", "source") + _MATCH_NAMES + ("ttl", "tag")
    columns = [Column(n, RIGHT if n in ("id", "ttl") else LEFT) for n in names]

    def rows():
        for page in pages:
            for s in page.suspends:
                yield [str(s.id), s.source] + [getattr(s, n) for n in _MATCH_NAMES] + [_ttl(s), s.tag]

    return Table(columns, rows())


SUSPEND = Command(
    "suspend",
    "Active queue suspends",
    description=(
        "Add, list and delete dynamic active queue suspends, which override the ones in\n"
        "environment.suspendconf, and reload that file."
    ),
    subcommands=[
        Command(
            "add",
            "Suspend delivery; prints the suspend's ID",
            call="SuspendAdd",
            options=_MATCH + [_TTL, _TAG],
            fill=_fill_suspend_add,
            show=_show_id,
        ),
        Command("list", "List the suspends", call="SuspendList", show=_show_suspends),
        Command("delete", "Delete a dynamic suspend", call="SuspendDelete", args=("id",), fill=_id_argument),
        Command("reload", "Reload the suspend configuration (environment.suspendconf)", call="SuspendReload"),
    ],
)

DELIVERY = Command(
    "delivery",
    "Active queue delivery settings",
    subcommands=[
        Command("reload", "Reload the delivery settings (environment.deliveryconf)", call="DeliveryReload"),
    ],
)
