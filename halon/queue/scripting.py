"""
The queue as scripts see it: the "queue" service of C{host.services}
(halon.hsl.stdlib.services) behind C{queue_quota()}, C{queue_suspend()},
C{queue_policy()} and C{queue_policy_delete()}, and the C{queue()} method
of C{MIME} and C{MailMessage} (a new message for one recipient), in
smtpd's hooks and in the pre- and post-delivery hooks alike.

Scripts call these on their own threads.  C{queue_quota} only reads (a
quota's usage is one tuple, replaced whole); the others change suspends,
policies or the spool, which belong to the reactor, so they run there and
the script waits for them.  Bad arguments are script errors; what the
queue refuses (an unknown field, a tag too long, a spool that cannot be
written) is C{none}, as the manual has it.
"""

from twisted.internet.threads import blockingCallFromThread
from twisted.python import threadable

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, to_bytes, to_number, truthy
from halon.queue.spool import encode_text

__all__ = ["QueueScriptService"]

_QUEUE_OPTIONS = ("metadata", "hold", "jobid", "quotas", "delay", "tenantid", "priority")


def _text(value):
    return encode_text(to_bytes(value))


def _fields(value, function):
    """A condition array of field => value (a list of values means any of them) as field -> str or [str]."""
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("%s(): expected an array of fields" % (function,))
    out = {}
    for key, item in value.items():
        if isinstance(item, HSLArray):
            out[_text(key)] = [_text(v) for v in item.values()]
        else:
            out[_text(key)] = _text(item)
    return out


def _options(value, function, known):
    if value is None:
        return {}
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("%s(): options must be an array" % (function,))
    options = {_text(k): v for k, v in value.items()}
    unknown = set(options) - set(known)
    if unknown:
        raise HSLRuntimeError("%s(): unknown option %s" % (function, ", ".join(sorted(unknown))))
    return options


def _address(value):
    """An address given as a string or as ["localpart" => ..., "domain" => ...]."""
    if isinstance(value, HSLArray):
        localpart, domain = _text(value.get(b"localpart") or b""), _text(value.get(b"domain") or b"")
        return "%s@%s" % (localpart, domain) if domain else localpart
    return _text(value)


def _ttl(value, function):
    ttl = to_number(value)
    if not ttl > 0:
        raise HSLRuntimeError("%s(): ttl must be a number of seconds above 0" % (function,))
    return ttl


class QueueScriptService:
    """
    @param queue: the L{halon.queue.core.Queue} of this process.
    @param reactor: the reactor the queue runs on (where changes are made).
    """

    def __init__(self, queue, reactor):
        self._queue = queue
        self._reactor = reactor

    def _on_reactor(self, fn, *args):
        if threadable.isInIOThread():
            return fn(*args)
        return blockingCallFromThread(self._reactor, fn, *args)

    def queue_quota(self, name):
        count, size = self._queue.index.quota(_text(name))
        return HSLArray({b"count": float(count), b"bytes": float(size)})

    def queue_suspend(self, fields, ttl, options=None):
        fields = _fields(fields, "queue_suspend")
        ttl = _ttl(ttl, "queue_suspend")
        options = _options(options, "queue_suspend", ("tag", "update"))
        tag = _text(options["tag"]) if options.get("tag") is not None else ""
        update = truthy(options.get("update", True))
        try:
            suspend = self._on_reactor(self._queue.suspends.add, fields, ttl, tag, None, update)
        except ValueError:
            return None
        return HSLArray({b"id": str(suspend.id).encode("ascii")})

    def queue_policy(self, fields, condition, policy, ttl, options=None):
        if not isinstance(fields, HSLArray):
            raise HSLRuntimeError("queue_policy(): fields must be an array of field names")
        names = [_text(v) for v in fields.values()]
        condition = _fields(condition, "queue_policy")
        limits = _limits(policy)
        ttl = _ttl(ttl, "queue_policy")
        update = truthy(_options(options, "queue_policy", ("update",)).get("update", True))
        try:
            id = self._on_reactor(self._queue.policies.add_dynamic, names, condition, limits, ttl, update)
        except ValueError:
            return None
        return HSLArray({b"id": str(id).encode("ascii")})

    def queue_policy_delete(self, id):
        try:
            number = int(_text(id))
        except ValueError:
            return None
        return self._on_reactor(self._queue.policies.delete_dynamic, number)

    def queue(self, message, sender, recipient, transportid, options=None):
        """Spool C{message} (a L{halon.mime} message) for C{recipient}: its id {transaction, queue}, or none."""
        if threadable.isInIOThread():
            # Spooling is waited for, which only a script's own thread can do.
            raise HSLRuntimeError("queue() is not available here")
        options = _options(options, "queue", _QUEUE_OPTIONS)
        metadata = options.pop("metadata", None)
        if metadata is not None and not isinstance(metadata, HSLArray):
            raise HSLRuntimeError("queue(): metadata must be an array")
        hold = truthy(options.pop("hold", False))
        record = {}
        for name, value in options.items():
            if name == "quotas":
                if not isinstance(value, HSLArray):
                    raise HSLRuntimeError("queue(): quotas must be an array")
                record[name] = [_text(v) for v in value.values()]
            elif name in ("delay", "priority"):
                record[name] = to_number(value)
            elif value is not None:
                record[name] = _text(value)
        uuid = blockingCallFromThread(
            self._reactor, self._queue.inject, _address(sender), [_address(recipient)], message.to_bytes(),
            _text(transportid), {_text(k): _text(v) for k, v in (metadata or HSLArray()).items()}, hold, record,
        )
        if uuid is None:
            return None
        return HSLArray({b"transaction": uuid.encode("ascii"), b"queue": 1.0})


def _limits(policy):
    if not isinstance(policy, HSLArray):
        raise HSLRuntimeError("queue_policy(): policy must be an array")
    limits = {}
    for key, value in policy.items():
        name = _text(key)
        if name == "rate":
            if not isinstance(value, HSLArray) or len(value) != 2:
                raise HSLRuntimeError("queue_policy(): rate must be [messages, seconds]")
            limits["rate"] = [to_number(v) for v in value.values()]
        elif name == "tag":
            limits["tag"] = _text(value)
        elif name in ("concurrency", "connectinterval"):
            limits[name] = to_number(value)
        else:
            raise HSLRuntimeError("queue_policy(): unknown policy %s" % (name,))
    return limits
