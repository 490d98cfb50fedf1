"""
halonctl queue: list, groupby, update and unload with the shared
conditions, and the active queue's policies, suspends and delivery
settings.
"""

import datetime
import math
import re

from halon.cli.halonctl.command import Command, merged
from halon.cli.halonctl.options import Option, UsageError, seconds, whole
from halon.cli.halonctl.output import LEFT, RIGHT, Column, Lines, Table, number

STATES = ("ACTIVE", "DEFER", "SENDING", "UNKNOWN", "HOLD", "UPDATE")

CONDITIONS = [
    Option("--transportid", "Filter on transport ID (repeatable)", "string", repeat=True, group="Conditions"),
    Option("--jobid", "Filter on job ID (repeatable)", "string", repeat=True, group="Conditions"),
    Option("--senderdomain", "Filter on sender domain (repeatable)", "domain", repeat=True, group="Conditions"),
    Option("--recipientdomain", "Filter on recipient domain (repeatable)", "domain", repeat=True, group="Conditions"),
    Option("--sender", "Filter on sender (repeatable)", "address", repeat=True, group="Conditions"),
    Option("--recipient", "Filter on recipient (repeatable)", "address", repeat=True, group="Conditions"),
    Option("--id", "Filter on ID (repeatable)", "id", repeat=True, group="Conditions"),
    Option("--state", "Filter on state (repeatable)", "state", repeat=True, group="Conditions"),
    Option("--retrycount", "Filter on retry count (operators, repeatable)", "number", repeat=True, group="Conditions"),
    Option("--retrydelay", "Filter on next retry (operators, repeatable)", "seconds", repeat=True, group="Conditions"),
    Option("--age", "Filter on age (operators, repeatable)", "seconds", repeat=True, group="Conditions"),
    # "recevied" is how Halon's help spells it (seeds/002).
    Option("--ts", "Filter on recevied time (operators, repeatable)", "iso8601", repeat=True, group="Conditions"),
    Option("--metadata", "Filter on metadata", "key=value", repeat=True, group="Conditions"),
]

CONDITION_NOTES = """Available states are:
queue:   ACTIVE, DEFER
working: SENDING, UNKNOWN
freeze:  HOLD, UPDATE

Number and date format:
operators: >, >=, <, <= and = (eg ">2020-01-01T01:02:03")
range:     .. (eg "10..20")
"""

_OPERATOR = re.compile(r"^(>=|<=|>|<|=)?(.*)$", re.S)


def fill_conditions(options, conditions):
    """The shared --transportid ... --metadata options into a QueueConditions message."""
    for name in ("transportid", "jobid", "senderdomain", "recipientdomain", "sender", "recipient", "id"):
        getattr(conditions, name).extend(options[name])
    for state in options["state"]:
        if state.upper() not in STATES:
            raise UsageError("--state: %r is not a state (%s)" % (state, ", ".join(STATES)))
        conditions.state.append(conditions.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_name[state.upper()].number)
    for name in ("retrycount", "retrydelay", "age"):
        for text in options[name]:
            _number_condition(getattr(conditions, name).add(), "--" + name, text, _number)
    for text in options["ts"]:
        _number_condition(conditions.ts.add(), "--ts", text, _time)
    for pair in options["metadata"]:
        key, value = _pair("--metadata", pair)
        conditions.metadata[key] = value


def _number_condition(condition, option, text, parse):
    ops = {"=": "EQ", ">": "GT", ">=": "GTE", "<": "LT", "<=": "LTE"}
    operators = condition.DESCRIPTOR.enum_types_by_name["Operator"].values_by_name
    match = _OPERATOR.match(text.strip())
    op, value = match.group(1), match.group(2).strip()
    if op is None and ".." in value:
        low, _, high = value.partition("..")
        condition.operator = operators["RANGE"].number
        condition.value = parse(option, low.strip(), text)
        condition.upper = parse(option, high.strip(), text)
        if condition.upper < condition.value:
            raise UsageError("%s: %r is an empty range" % (option, text))
        return
    condition.operator = operators[ops[op or "="]].number
    condition.value = parse(option, value, text)


def _number(option, value, text):
    try:
        result = float(value)
    except ValueError:
        result = math.nan
    if not math.isfinite(result):
        raise UsageError('%s: %r is not a number, an operator and a number (">10") or a range ("10..20")' % (option, text))
    return result


def _time(option, value, text):
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError('%s: %r is not an ISO 8601 time (eg ">2020-01-01T01:02:03")' % (option, text)) from None
    return when.timestamp()


def _pair(option, text):
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise UsageError("%s: %r is not key=value" % (option, text))
    return key, value


# -- queue list -----------------------------------------------------------------

_FIELD = Option("--field", "Show field (repeatable)", "field", short="-F", repeat=True)


def _fill_list(options, request):
    fill_conditions(options, request.conditions)
    _check_fields(options["field"])
    request.fields.extend(options["field"])
    request.view = options["view"] or ""
    if options["offset"] is not None:
        request.offset = whole("--offset", options["offset"])
    if options["limit"] is not None:
        request.limit = whole("--limit", options["limit"], 1)


def _check_fields(fields):
    from halon.control.pb import message_class

    known = message_class("smtpd.QueueMessage").DESCRIPTOR.fields_by_name
    for field in fields:
        if field not in known:
            raise UsageError("-F: %r is not a field (%s)" % (field, ", ".join(known)))


def _show_list(pages, options):
    from halon.control.api import LIST_FIELDS

    pages = iter(pages)
    first = next(pages)
    fields = list(first.fields) or list(options["field"]) or list(LIST_FIELDS)
    descriptor = first.DESCRIPTOR.fields_by_name["messages"].message_type
    columns = [Column(f, RIGHT if _numeric(descriptor.fields_by_name[f]) else LEFT) for f in fields]

    def rows():
        for page in _chain(first, pages):
            for message in page.messages:
                yield [_cell(message, f) for f in fields]

    return Table(columns, rows())


def _numeric(field):
    return field.name != "ts" and field.cpp_type in (
        field.CPPTYPE_INT32,
        field.CPPTYPE_INT64,
        field.CPPTYPE_UINT32,
        field.CPPTYPE_UINT64,
        field.CPPTYPE_DOUBLE,
        field.CPPTYPE_FLOAT,
    )


def _cell(message, name):
    value = getattr(message, name)
    field = message.DESCRIPTOR.fields_by_name[name]
    if name == "ts":
        return datetime.datetime.fromtimestamp(value).isoformat(timespec="seconds") if value else ""
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name
    if name == "metadata":
        return ",".join("%s=%s" % (k, value[k]) for k in sorted(value))
    if _numeric(field):
        return number(value)
    return str(value)


def _chain(first, pages):
    yield first
    yield from pages


LIST = Command(
    "list",
    "Show messages in queue",
    call="QueueList",
    options=[
        _FIELD,
        Option("--view", "Show a view: active, defer or connections", "view", choices=("active", "defer", "connections")),
        Option("--offset", "Skip this many messages", "number"),
        Option("--limit", "Show at most this many messages", "number"),
    ]
    + CONDITIONS,
    fill=_fill_list,
    show=_show_list,
    description="Show information about messages in queue, filtered by the conditions.",
    notes=CONDITION_NOTES,
)


# -- queue groupby ----------------------------------------------------------------

_STATE_COLUMNS = ("ACTIVE", "DEFER", "HOLD", "UNKNOWN", "SENDING")


def _fill_groupby(options, request):
    fill_conditions(options, request.conditions)
    group_fields = request.DESCRIPTOR.fields_by_name["conditions"].message_type.fields_by_name
    for field in options["field"]:
        if field not in group_fields or field in ("retrycount", "retrydelay", "age", "ts", "metadata"):
            raise UsageError("-F: %r cannot be grouped by" % (field,))
    request.fields.extend(options["field"])
    request.view = options["view"] or ""


def _show_groupby(pages, options):
    from halon.control.api import GROUPBY_FIELDS

    pages = iter(pages)
    first = next(pages)
    fields = list(first.fields) or list(options["field"]) or list(GROUPBY_FIELDS)
    view = first.view or options["view"] or ""
    columns = [Column(f) for f in fields] + [Column("total", RIGHT)]
    states = list(_STATE_COLUMNS)
    if view == "state":
        if any(g.states.update for g in first.groups):
            states.append("UPDATE")
        columns += [Column(s, RIGHT) for s in states]
    elif view == "age":
        columns += [Column(label, RIGHT) for label in _age_labels(first.agebounds)]

    def rows():
        for page in _chain(first, pages):
            for group in page.groups:
                row = list(group.keys) + [number(group.total)]
                if view == "state":
                    row += [number(getattr(group.states, s.lower())) for s in states]
                elif view == "age":
                    row += [number(n) for n in group.ages]
                yield row

    return Table(columns, rows())


def _age_labels(bounds):
    names = [_duration(b) for b in bounds]
    if not names:
        return ["all"]
    labels = ["<" + names[0]]
    labels += ["%s-%s" % (a, b) for a, b in zip(names, names[1:])]
    labels.append(">" + names[-1])
    return labels


def _duration(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return number(seconds) + "s"


GROUPBY = Command(
    "groupby",
    "Show the distribution of messages in queue",
    call="QueueGroupBy",
    options=[
        Option("--field", "Group by field (repeatable)", "field", short="-F", repeat=True),
        Option("--view", "Count per state or per age", "view", choices=("state", "age")),
    ]
    + CONDITIONS,
    fill=_fill_groupby,
    show=_show_groupby,
    description="Show the distribution of messages in queue, filtered by the conditions.",
    notes=CONDITION_NOTES,
)


# -- queue update -----------------------------------------------------------------

_ACTIONS = ("delete", "bounce", "active", "defer", "hold", "updatetransportid", "updatemetadata")


def _fill_update(options, request):
    actions = [a for a in _ACTIONS if options[a]]
    if len(actions) != 1:
        raise UsageError("give exactly one of --%s" % (", --".join(_ACTIONS),))
    _check_states(options)
    fill_conditions(options, request.conditions)
    action = actions[0]
    if action == "defer":
        request.defer = seconds("--defer", options["defer"])
    elif action == "updatetransportid":
        request.updatetransportid = options["updatetransportid"]
    elif action == "updatemetadata":
        for pair in options["updatemetadata"]:
            key, value = _pair("--updatemetadata", pair)
            request.updatemetadata.metadata[key] = value
    else:
        setattr(request, action, True)
    request.freeze = bool(options["freeze"])


def _check_states(options):
    if options["state"] and options["all_states"]:
        raise UsageError("--state and --all-states exclude each other")
    if not options["state"] and not options["all_states"]:
        raise UsageError("choose the states to act on with --state, or all of them with --all-states")


def _show_update(pages, options):
    response = merged(pages)
    lines = ["%d messages affected" % (response.affected,)]
    if response.unaffected:
        lines.append("%d messages unaffected" % (response.unaffected,))
    if response.freezing:
        lines.append("%d messages freezing" % (response.freezing,))
    return Lines(lines)


_ALL_STATES = Option("--all-states", "Act on messages in every state")
_FREEZE = Option("--freeze", "Freeze messages that are in a working state, to update them later")

UPDATE = Command(
    "update",
    "Take actions on messages in queue",
    call="QueueUpdate",
    options=[
        Option("--delete", "Remove messages, without sending bounces", group="Actions"),
        Option("--bounce", "Remove messages, and send bounces to the senders", group="Actions"),
        Option("--active", "Move messages to the active queue for delivery now", group="Actions"),
        Option("--defer", "Move messages to the defer queue for this many seconds", "number", group="Actions"),
        Option("--hold", "Put messages on hold", group="Actions"),
        Option("--updatetransportid", "Change the messages' transport ID", "string", group="Actions"),
        Option(
            "--updatemetadata", "Add or change the messages' metadata (repeatable)", "key=value", repeat=True, group="Actions"
        ),
        _ALL_STATES,
        _FREEZE,
    ]
    + CONDITIONS,
    fill=_fill_update,
    show=_show_update,
    description=(
        "Take one action on the messages in queue matching the conditions. Messages in a\n"
        "working state are unaffected; --freeze captures them in the UPDATE state instead."
    ),
    notes=CONDITION_NOTES,
)


# -- queue unload -----------------------------------------------------------------


def _fill_unload(options, request):
    fill_conditions(options, request.conditions)
    request.partial = bool(options["partial"])
    request.freeze = bool(options["freeze"])


def _show_unload(pages, options):
    def lines():
        freezing = 0
        unloaded = False
        for page in pages:
            freezing = freezing or page.freezing
            for path in page.paths:
                unloaded = True
                yield "%s unloaded" % (path,)
        if not unloaded:
            yield "No messages unloaded"
        if freezing:
            yield "%d messages freezing" % (freezing,)

    return Lines(lines())


UNLOAD = Command(
    "unload",
    "Unload messages from the queue, to move their files",
    call="QueueUnload",
    options=[
        Option("--partial", "Match a message even if only one of its recipients matches"),
        Option("--freeze", "Freeze messages that are in a working state"),
    ]
    + CONDITIONS,
    fill=_fill_unload,
    show=_show_unload,
    notes=CONDITION_NOTES,
)
