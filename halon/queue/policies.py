"""
Active queue pickup policies: concurrency and rate limits on sub-queues.

A policy (one item of C{policies[]} in smtpd-policy.yaml) is a counter keyed
by its C{fields}: with C{fields: [localip, remotemx]} every distinct
(local IP, remote MX) pair has its own concurrency counter and rate bucket.
A field may roll values up under a name, so that every Google MX counts as
one: C{- remotemx: {gsuite: ["*.google.com"]}} makes the key value
C{#gsuite}.  C{conditions[].if} (on the rolled-up key values) choose the
limits, first match wins, else C{default}; conditions added at run time
(halonctl queue policy add, queue_policy()) come before the file's.

Limits: C{concurrency} (deliveries at once), C{rate} C{N/seconds} (a token
bucket of N refilled over that many seconds; a bare N means per second),
C{connectinterval} (seconds between pickups), C{tag}, C{properties}.  A key
over a limit is suspended (L{halon.queue.suspends}) until it is under
again, so the pickup skips its whole sub-queue at once.  Counters and
buckets are keyed by the policy's fields, not its position, so reloading
the file keeps them.
"""

import re

from halon.queue.matching import FIELDS, Condition, compile_value
from halon.queue.suspends import POLICY

_RATE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)\s*)?\Z")


def parse_rate(value, where="rate"):
    """C{(messages, seconds)} from "10/60", 10, or [10, 60]."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        messages, seconds = float(value[0]), float(value[1])
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        messages, seconds = float(value), 1.0
    elif isinstance(value, str) and _RATE.match(value):
        count, period = _RATE.match(value).groups()
        messages, seconds = float(count), float(period or 1)
    else:
        raise ValueError("%s: expected messages/seconds, got %r" % (where, value))
    if messages <= 0 or seconds <= 0:
        raise ValueError("%s: messages and seconds must be positive, got %r" % (where, value))
    return messages, seconds


class Limits:
    __slots__ = ("concurrency", "rate", "connectinterval", "tag", "properties")

    def __init__(self, spec, where="then"):
        if not isinstance(spec, dict):
            raise ValueError("%s: expected a mapping, got %r" % (where, spec))
        unknown = set(spec) - {"concurrency", "rate", "connectinterval", "tag", "properties"}
        if unknown:
            raise ValueError("%s: unknown setting %s" % (where, ", ".join(sorted(unknown))))
        concurrency = spec.get("concurrency")
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, (int, float)) or concurrency < 0):
            raise ValueError("%s.concurrency: expected a number >= 0, got %r" % (where, concurrency))
        self.concurrency = None if concurrency is None else int(concurrency)
        self.rate = None if spec.get("rate") is None else parse_rate(spec["rate"], where + ".rate")
        self.connectinterval = spec.get("connectinterval")
        self.tag = spec.get("tag") or ""
        self.properties = spec.get("properties") or {}

    def describe(self):
        out = {}
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency
        if self.rate is not None:
            out["rate"] = "%g/%g" % self.rate
        if self.connectinterval is not None:
            out["connectinterval"] = self.connectinterval
        if self.tag:
            out["tag"] = self.tag
        return out


class DynamicCondition:
    """A condition added at run time, with its id and expiry."""

    __slots__ = ("id", "fields", "condition", "limits", "expires", "call")

    def __init__(self, id, fields, condition, limits, expires):
        self.id = id
        self.fields = fields
        self.condition = condition
        self.limits = limits
        self.expires = expires
        self.call = None


class Policy:
    """One counter: its fields (with rollups), conditions and default."""

    def __init__(self, fields, conditions=(), default=None, lists=None, where="policies[0]"):
        self.fields = []
        self.rollups = {}
        for i, field in enumerate(fields or []):
            if isinstance(field, dict) and len(field) == 1:
                (name, groups), = field.items()
                if not isinstance(groups, dict):
                    raise ValueError("%s.fields[%d].%s: expected name: [values]" % (where, i, name))
                self.rollups[name] = [
                    ("#" + group, compile_value(name, values, lists, "%s.fields[%d].%s.%s" % (where, i, name, group)))
                    for group, values in groups.items()
                ]
                field = name
            if field not in FIELDS:
                raise ValueError("%s.fields[%d]: unknown field %r (one of %s)" % (where, i, field, ", ".join(FIELDS)))
            self.fields.append(field)
        self.fields = tuple(self.fields)
        self.conditions = []
        for i, item in enumerate(conditions or []):
            at = "%s.conditions[%d]" % (where, i)
            if not isinstance(item, dict) or "then" not in item:
                raise ValueError("%s: expected if/then" % (at,))
            condition = Condition(item.get("if") or {}, lists, at + ".if")
            outside = set(condition.fields) - set(self.fields)
            if outside:
                raise ValueError("%s.if: %s not among the policy's fields" % (at, ", ".join(sorted(outside))))
            self.conditions.append((condition, Limits(item["then"], at + ".then")))
        self.default = None if default is None else Limits(default, where + ".default")
        self.dynamic = []

    @property
    def signature(self):
        return self.fields

    def key(self, context):
        values = []
        for field in self.fields:
            value = context.get(field) or ""
            for name, test in self.rollups.get(field, ()):
                if value and test(value):
                    value = name
                    break
            values.append(value)
        return tuple(values)

    def limits(self, key):
        keyed = dict(zip(self.fields, key))
        for dynamic in self.dynamic:
            if dynamic.condition.matches(keyed):
                return dynamic.limits
        for condition, limits in self.conditions:
            if condition.matches(keyed):
                return limits
        return self.default


def parse_file(config, lists=None):
    """
    The L{Policy}s of a parsed smtpd-policy.yaml; ValueError("path: reason")
    for what the schema cannot catch.  C{lists} are the named lists of
    smtpd-app.yaml that C{@name} values refer to.
    """
    config = config or {}
    items = config.get("policies") or []
    if not isinstance(items, list):
        raise ValueError("policies: expected a list")
    lists = lists or {}
    policies = []
    for i, item in enumerate(items):
        where = "policies[%d]" % (i,)
        if not isinstance(item, dict):
            raise ValueError("%s: expected a mapping" % (where,))
        policies.append(Policy(item.get("fields"), item.get("conditions"), item.get("default"), lists, where))
    return policies


class _Bucket:
    __slots__ = ("tokens", "stamp", "capacity", "period")

    def __init__(self, capacity, period, now):
        self.tokens = capacity
        self.stamp = now
        self.capacity = capacity
        self.period = period

    def refill(self, now):
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / self.period)
        self.stamp = now

    def full(self, now):
        return self.tokens + (now - self.stamp) * self.capacity / self.period >= self.capacity


class Grant:
    """What one pickup holds: the counters to release and what scripts see."""

    __slots__ = ("counters", "tags", "policies")

    def __init__(self):
        self.counters = []
        self.tags = []
        self.policies = []


class PolicyEngine:
    def __init__(self, clock, ids, suspends, stats=None):
        self._clock = clock
        self._ids = ids
        self._suspends = suspends
        self.policies = []
        self._file = []
        self.dynamic = {}
        self.concurrency = {}
        self.buckets = {}
        self._last_pickup = {}
        self._suspended = {}
        self._lifts = {}
        if stats is not None:
            stats.gauge("queue.policy.concurrency.counters", lambda: sum(1 for n in self.concurrency.values() if n))
            self._concurrency_suspends = stats.counter("queue.policy.concurrency.suspends")
            stats.gauge("queue.policy.rate.buckets", lambda: len(self.buckets))
            self._rate_suspends = stats.counter("queue.policy.rate.suspends")
            stats.gauge("queue.policy.dynamic.conditions", lambda: len(self.dynamic))
        else:
            self._concurrency_suspends = self._rate_suspends = None

    def load(self, policies):
        """Replace the file's policies; dynamic conditions, counters and buckets stay."""
        self._file = list(policies)
        self._rebuild()

    def _rebuild(self):
        policies = self._file
        for policy in policies:
            policy.dynamic = [d for d in self.dynamic.values() if d.fields == policy.fields]
        extra = {}
        for d in self.dynamic.values():
            if not any(p.fields == d.fields for p in policies):
                extra.setdefault(d.fields, Policy(d.fields)).dynamic.append(d)
        self.policies = list(policies) + list(extra.values())
        for key in list(self._suspended):
            self._lift(key)

    def acquire(self, context):
        """
        A L{Grant} if C{context} may be picked up now, else None (and the
        offending key is suspended).
        """
        now = self._clock.seconds()
        checks = []
        for policy in self.policies:
            key = policy.key(context)
            limits = policy.limits(key)
            if limits is None:
                continue
            counter = (policy.fields, key)
            if limits.concurrency is not None and self.concurrency.get(counter, 0) >= limits.concurrency:
                self._suspend(policy, counter, "concurrency", None)
                return None
            if limits.rate is not None:
                bucket = self.buckets.get(counter)
                if bucket is None or bucket.capacity != limits.rate[0] or bucket.period != limits.rate[1]:
                    bucket = self.buckets[counter] = _Bucket(limits.rate[0], limits.rate[1], now)
                bucket.refill(now)
                if bucket.tokens < 1:
                    wait = (1 - bucket.tokens) * bucket.period / bucket.capacity
                    self._suspend(policy, counter, "rate", wait)
                    return None
            if limits.connectinterval:
                last = self._last_pickup.get(counter)
                if last is not None and now - last < limits.connectinterval:
                    self._suspend(policy, counter, "rate", limits.connectinterval - (now - last))
                    return None
            checks.append((policy, counter, limits))
        grant = Grant()
        for policy, counter, limits in checks:
            if limits.concurrency is not None:
                self.concurrency[counter] = self.concurrency.get(counter, 0) + 1
                grant.counters.append(counter)
            if limits.rate is not None:
                self.buckets[counter].tokens -= 1
            if limits.connectinterval:
                self._last_pickup[counter] = now
            if limits.tag:
                grant.tags.append(limits.tag)
            grant.policies.append(dict(fields=list(policy.fields), **limits.describe()))
        return grant

    def release(self, grant):
        for counter in grant.counters:
            n = self.concurrency.get(counter, 0) - 1
            if n > 0:
                self.concurrency[counter] = n
            else:
                self.concurrency.pop(counter, None)
            suspended = self._suspended.get(counter)
            if suspended is not None and suspended.kind == "concurrency":
                self._lift(counter)

    def _suspend(self, policy, counter, kind, ttl):
        suspended = self._suspended.get(counter)
        if suspended is not None:
            if suspended.id in self._suspends.entries:
                return
            # An operator deleted it (halonctl queue suspend delete), but the
            # key is still over its limit: suspended again, with a new entry.
            self._lift(counter)
        fields, key = counter
        condition = _KeyCondition(policy, key)
        suspend = self._suspends.add({}, None, source=POLICY, update=False, kind=kind)
        suspend.condition = condition
        self._suspended[counter] = suspend
        if kind == "concurrency":
            if self._concurrency_suspends is not None:
                self._concurrency_suspends.increment()
        elif self._rate_suspends is not None:
            self._rate_suspends.increment()
        if ttl is not None:
            self._lifts[counter] = self._clock.callLater(ttl, self._lift, counter, suspend.id)

    def _lift(self, counter, id=None):
        suspend = self._suspended.get(counter)
        if suspend is None or (id is not None and suspend.id != id):
            return
        del self._suspended[counter]
        call = self._lifts.pop(counter, None)
        if call is not None and call.active():
            call.cancel()
        self._suspends.delete(suspend.id)

    def stop(self):
        """Cancel the timers (suspends to lift, conditions to expire): the queue is stopping."""
        calls = list(self._lifts.values()) + [d.call for d in self.dynamic.values() if d.call is not None]
        self._lifts = {}
        for call in calls:
            if call.active():
                call.cancel()

    def add_dynamic(self, fields, condition, limits, ttl=None, update=True):
        """
        Add (or with C{update}, refresh) a run-time condition for the counter
        with C{fields}; returns its id.
        """
        fields = tuple(fields)
        for field in fields:
            if field not in FIELDS:
                raise ValueError("unknown field %r (one of %s)" % (field, ", ".join(FIELDS)))
        compiled = Condition(condition, path="condition")
        outside = set(compiled.fields) - set(fields)
        if outside:
            raise ValueError("condition on %s, which is not among the fields" % (", ".join(sorted(outside)),))
        limits = Limits(limits, "policy")
        now = self._clock.seconds()
        expires = None if ttl is None else now + ttl
        if update:
            for existing in self.dynamic.values():
                if existing.fields == fields and existing.condition.spec == compiled.spec:
                    existing.limits = limits
                    self._expire(existing, expires)
                    return existing.id
        dynamic = DynamicCondition(self._ids(), fields, compiled, limits, expires)
        self.dynamic[dynamic.id] = dynamic
        self._expire(dynamic, expires)
        self._rebuild()
        return dynamic.id

    def _expire(self, dynamic, expires):
        dynamic.expires = expires
        if dynamic.call is not None and dynamic.call.active():
            dynamic.call.cancel()
        dynamic.call = None
        if expires is not None:
            dynamic.call = self._clock.callLater(max(0.0, expires - self._clock.seconds()), self.delete_dynamic, dynamic.id)

    def delete_dynamic(self, id):
        dynamic = self.dynamic.pop(id, None)
        if dynamic is None:
            return False
        if dynamic.call is not None and dynamic.call.active():
            dynamic.call.cancel()
        self._rebuild()
        return True

    def refill(self, fields=None, tokens=None):
        """
        Refill the rate buckets whose key is exactly C{fields} (field ->
        value), or every bucket: completely, or by C{tokens}.  The number
        of buckets refilled.
        """
        now = self._clock.seconds()
        refilled = 0
        for counter in list(self.buckets):
            names, key = counter
            if fields and dict(zip(names, key)) != dict(fields):
                continue
            refilled += 1
            if tokens is None:
                del self.buckets[counter]
            else:
                bucket = self.buckets[counter]
                bucket.refill(now)
                bucket.tokens = min(bucket.capacity, bucket.tokens + tokens)
            suspended = self._suspended.get(counter)
            if suspended is not None and suspended.kind == "rate":
                self._lift(counter)
        return refilled

    def sweep(self):
        """Forget full buckets (a full bucket is the same as none)."""
        now = self._clock.seconds()
        for counter in [c for c, b in self.buckets.items() if b.full(now)]:
            del self.buckets[counter]


class _KeyCondition:
    """Matches the contexts whose key under C{policy} is C{key}."""

    def __init__(self, policy, key):
        self.policy = policy
        self.key = key
        self.spec = dict(zip(policy.fields, key))

    def matches(self, context):
        return self.policy.key(context) == self.key
