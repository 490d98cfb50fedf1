"""
The queue's answers to halonctl: queue list, groupby, update, unload, the
policy, suspend and delivery commands, and resolver clear.

    from halon.queue import control
    control.register(control_service, queue)

Each handler turns a request message (proto/halon/smtpd.proto) into a call
on the L{halon.queue.core.Queue} and its answer into a response message.
Listings are L{Paged}: rows are made only as halonctl reads the pages.
Bad requests raise L{ControlError} with what to fix.
"""

from itertools import islice

from halon.control import api
from halon.control.commands import ControlError
from halon.control.service import Paged
from halon.queue import listing, states
from halon.queue.conditions import Conditions

_OPERATORS = {0: "=", 1: ">", 2: ">=", 3: "<", 4: "<=", 5: ".."}
_TEXT_FIELDS = ("transportid", "jobid", "senderdomain", "recipientdomain", "sender", "recipient", "id", "grouping")
_MATCH_FIELDS = ("transportid", "localip", "remoteip", "remotemx", "recipientdomain", "jobid")


def conditions_of(message, states_default=()):
    """L{Conditions} from a QueueConditions message (ControlError when invalid)."""
    fields = {}
    for name in _TEXT_FIELDS:
        values = list(getattr(message, name))
        if values:
            fields[name] = values
    chosen = [states.NAMES[s] for s in message.state]
    if chosen or states_default:
        fields["state"] = chosen or list(states_default)
    for name in ("retrycount", "retrydelay", "age", "ts"):
        comparisons = []
        for c in getattr(message, name):
            operator = _OPERATORS.get(c.operator)
            if operator is None:
                raise ControlError("--%s: unknown operator %d" % (name, c.operator))
            comparisons.append((operator, c.value, c.upper) if operator == ".." else (operator, c.value))
        if comparisons:
            fields[name] = comparisons
    if message.metadata:
        fields["metadata"] = dict(message.metadata)
    try:
        return Conditions(fields)
    except ValueError as e:
        raise ControlError(str(e))


def _predicate(conditions, now):
    make = conditions.compile()
    return None if make is None else make(now)


def _row(cls, rcpt, now):
    message = rcpt.message
    row = cls(
        id=rcpt.id,
        transportid=rcpt.transportid,
        jobid=message.jobid,
        sender=message.sender,
        senderdomain=message.sender_domain,
        recipient=rcpt.address,
        recipientdomain=rcpt.domain,
        state=rcpt.state,
        retrycount=rcpt.retry,
        retrydelay=listing.FIELDS["retrydelay"](rcpt, now),
        age=max(0.0, now - message.ts),
        ts=message.ts,
        size=message.size,
        serverid=message.serverid,
        localip=rcpt.localip,
        remoteip=rcpt.remoteip,
        remotemx=rcpt.remotemx,
        grouping=rcpt.grouping,
    )
    if rcpt.metadata:
        row.metadata.update(rcpt.metadata)
    return row


def handlers(queue):
    """Call name -> handler for every queue call."""
    calls = api.CALLS

    def response(name, **fields):
        return calls[name].response_class()(**fields)

    def now():
        return queue.clock.seconds()

    def queue_list(request):
        try:
            chosen, fields = api.list_columns(request)
        except ValueError as e:
            raise ControlError(str(e))
        conditions = conditions_of(request.conditions, chosen)
        when = now()
        predicate = _predicate(conditions, when)
        cursor = listing.Cursor(queue.index, predicate, listing.DEFAULT_FIELDS, when)
        row_class = calls["QueueList"].response_class()().messages.add().__class__
        records = (r for page in iter(lambda: cursor.recipients(1000), []) for r in page)
        stop = request.offset + request.limit if request.limit else None
        rows = (_row(row_class, r, when) for r in islice(records, request.offset, stop))
        return Paged(response("QueueList", fields=list(fields)), rows)

    def queue_groupby(request):
        conditions = conditions_of(request.conditions)
        when = now()
        keys = list(request.fields) or list(api.GROUPBY_FIELDS)
        try:
            columns, rows = listing.groupby(
                queue.index, _predicate(conditions, when), keys, request.view or None, when, api.AGE_BOUNDS
            )
        except ValueError as e:
            raise ControlError(str(e))
        head = response("QueueGroupBy", fields=keys, view=request.view)
        if request.view == "age":
            head.agebounds.extend(api.AGE_BOUNDS)
        group_class = head.groups.add().__class__
        del head.groups[:]
        width = len(keys)

        def groups():
            for row in rows:
                group = group_class(keys=[str(v) for v in row[:width]], total=row[width])
                counts = row[width + 1 :]
                if request.view == "state":
                    for name, n in zip(listing.STATE_COLUMNS, counts):
                        setattr(group.states, name.lower(), n)
                elif request.view == "age":
                    group.ages.extend(counts)
                yield group

        return Paged(head, groups())

    def queue_update(request):
        action = request.WhichOneof("action")
        if action is None:
            raise ControlError("choose an action (--delete, --bounce, --active, --defer, --hold, "
                               "--updatetransportid or --updatemetadata)")
        value = None
        if action == "defer":
            if request.defer < 0:
                raise ControlError("--defer: seconds must not be negative")
            value = request.defer
        elif action == "updatetransportid":
            action, value = "transportid", request.updatetransportid
            if not value:
                raise ControlError("--updatetransportid: empty transport id")
        elif action == "updatemetadata":
            action, value = "metadata", dict(request.updatemetadata.metadata)
        conditions = conditions_of(request.conditions)
        affected, unaffected, freezing = queue.update(_predicate(conditions, now()), action, value, request.freeze)
        return response("QueueUpdate", affected=affected, unaffected=unaffected, freezing=freezing)

    def queue_unload(request):
        conditions = conditions_of(request.conditions)
        paths, freezing = queue.unload(_predicate(conditions, now()), request.partial, request.freeze)
        return Paged(response("QueueUnload", freezing=freezing), paths)

    def _match(request):
        return {name: getattr(request, name) for name in _MATCH_FIELDS if getattr(request, name)}

    def policy_add(request):
        limits = {}
        if request.HasField("concurrency"):
            limits["concurrency"] = request.concurrency
        if request.HasField("rate"):
            limits["rate"] = [request.rate.count, request.rate.interval]
        if request.HasField("connectinterval"):
            limits["connectinterval"] = request.connectinterval
        if request.tag:
            limits["tag"] = request.tag
        ttl = request.ttl if request.HasField("ttl") else None
        try:
            id = queue.policies.add_dynamic(list(request.fields), _match(request), limits, ttl, update=False)
        except ValueError as e:
            raise ControlError(str(e))
        return response("PolicyConditionAdd", id=id)

    def policy_list(request):
        head = response("PolicyConditionList")
        item_class = head.conditions.add().__class__
        del head.conditions[:]
        when = now()

        def items():
            for dynamic in sorted(queue.policies.dynamic.values(), key=lambda d: d.id):
                item = item_class(id=dynamic.id, fields=list(dynamic.fields), tag=dynamic.limits.tag)
                for name, value in dynamic.condition.spec.items():
                    if name in _MATCH_FIELDS:
                        setattr(item, name, str(value))
                if dynamic.limits.concurrency is not None:
                    item.concurrency = dynamic.limits.concurrency
                if dynamic.limits.rate is not None:
                    item.rate.count, item.rate.interval = dynamic.limits.rate
                if dynamic.limits.connectinterval is not None:
                    item.connectinterval = float(dynamic.limits.connectinterval)
                if dynamic.expires is not None:
                    item.ttl = max(0.0, dynamic.expires - when)
                yield item

        return Paged(head, items())

    def policy_delete(request):
        if not queue.policies.delete_dynamic(request.id):
            raise ControlError("no dynamic policy with id %d" % (request.id,))
        return response("PolicyConditionDelete")

    def rate_refill(request):
        tokens = request.tokens if request.HasField("tokens") else None
        return response("PolicyRateRefill", count=queue.policies.refill(_match(request) or None, tokens))

    def suspend_add(request):
        fields = _match(request)
        if not fields:
            raise ControlError("give at least one condition of what to suspend")
        ttl = request.ttl if request.HasField("ttl") else None
        try:
            suspend = queue.suspends.add(fields, ttl, request.tag)
        except ValueError as e:
            raise ControlError(str(e))
        return response("SuspendAdd", id=suspend.id)

    def suspend_list(request):
        head = response("SuspendList")
        item_class = head.suspends.add().__class__
        del head.suspends[:]
        when = now()

        def items():
            for suspend in queue.suspends.listing():
                item = item_class(id=suspend.id, source=suspend.source, tag=suspend.tag)
                for name, value in suspend.condition.spec.items():
                    if name in _MATCH_FIELDS:
                        setattr(item, name, value if isinstance(value, str) else ",".join(map(str, value)))
                ttl = suspend.ttl(when)
                if ttl is not None:
                    item.ttl = ttl
                yield item

        return Paged(head, items())

    def suspend_delete(request):
        from halon.queue.suspends import DYNAMIC

        suspend = queue.suspends.entries.get(request.id)
        if suspend is None or suspend.source != DYNAMIC:
            raise ControlError("no dynamic suspend with id %d" % (request.id,))
        queue.suspends.delete(request.id)
        return response("SuspendDelete")

    def reloader(name, kind):
        def handle(request):
            try:
                queue.reload_file(kind)
            except Exception as e:
                raise ControlError(str(e))
            return response(name)

        return handle

    def resolver_clear(request):
        queue.resolver.clear()
        return response("ResolverClear")

    return {
        "QueueList": queue_list,
        "QueueGroupBy": queue_groupby,
        "QueueUpdate": queue_update,
        "QueueUnload": queue_unload,
        "PolicyConditionAdd": policy_add,
        "PolicyConditionList": policy_list,
        "PolicyConditionDelete": policy_delete,
        "PolicyReload": reloader("PolicyReload", "policy"),
        "PolicyRateRefill": rate_refill,
        "SuspendAdd": suspend_add,
        "SuspendList": suspend_list,
        "SuspendDelete": suspend_delete,
        "SuspendReload": reloader("SuspendReload", "suspend"),
        "DeliveryReload": reloader("DeliveryReload", "delivery"),
        "ResolverClear": resolver_clear,
    }


def register(control, queue):
    """Answer every queue call on C{control} (a L{halon.control.service.ControlService})."""
    for name, handler in handlers(queue).items():
        control.register(name, handler)
