"""
Delivery settings of one attempt: TLS, pooling, timeouts and retries.

They come from four layers, each overriding the one before:

1. built-in defaults (RFC 5321 timeouts, no pooling);
2. the message's transport in smtpd-app.yaml (C{session.tls.mode}, the
   transport group's C{retry}: count, intervals, and C{during}, the
   seconds after its arrival a message is retried at most);
3. smtpd-delivery.yaml (environment.deliveryconf): C{delivery.default},
   then the first of C{delivery.conditions[]} whose C{if} matches.  Its
   conditions may use remotemx, remoteip and grouping, which are known only
   after the pre-delivery hook and DNS, so this layer is chosen per attempt;
4. the pre-delivery hook's C{Try()} options (the script has the last word).

L{DeliveryFile} is the parsed file, replaced whole by `halonctl queue
delivery reload`; nothing else holds on to it, so a reload loses no state.
"""

from halon.config.defaults import duration
from halon.queue.matching import Condition

SMTP_STATES = (
    "BANNER", "HELO", "EHLO", "LHLO", "STARTTLS", "AUTH", "XCLIENT",
    "MAIL", "RCPT", "DATA", "EOD", "BDAT", "RSET", "NOOP", "QUIT",
)
TLS_MODES = ("disabled", "optional", "optional_verify", "dane", "dane_require", "require", "require_verify")

DEFAULTS = {
    "tls": {"mode": "optional", "protocols": "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1"},
    "pooling": {"enabled": False, "timeout": 30.0, "evictable": True, "transactions": None},
    "timeout": {
        "connect": 30.0,
        "smtp": dict({state: 300.0 for state in SMTP_STATES}, DATA=120.0, EOD=600.0, QUIT=10.0),
    },
    "retry": {"count": 30, "intervals": [{"interval": 60}, {"interval": 900}, {"interval": 3600, "notify": True},
                                         {"interval": 7200}, {"interval": 10800}]},
}


def merge(base, override):
    """A copy of C{base} with C{override}'s keys laid over it, mappings merged recursively."""
    out = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out


class Settings:
    """The resolved settings of one attempt (read-only by convention)."""

    __slots__ = (
        "tls_mode",
        "tls_protocols",
        "pooling",
        "pool_timeout",
        "pool_evictable",
        "pool_transactions",
        "connect_timeout",
        "timeouts",
        "retry_count",
        "retry_intervals",
        "retry_during",
    )

    def __init__(self, merged):
        self.tls_mode = merged["tls"]["mode"]
        if self.tls_mode not in TLS_MODES:
            raise ValueError("tls.mode: %r is not one of %s" % (self.tls_mode, ", ".join(TLS_MODES)))
        self.tls_protocols = merged["tls"].get("protocols") or DEFAULTS["tls"]["protocols"]
        pooling = merged["pooling"]
        self.pooling = bool(pooling.get("enabled"))
        self.pool_timeout = float(pooling.get("timeout") or 0)
        self.pool_evictable = bool(pooling.get("evictable", True))
        self.pool_transactions = pooling.get("transactions")
        self.connect_timeout = float(merged["timeout"]["connect"])
        self.timeouts = dict(merged["timeout"]["smtp"])
        self.retry_count = int(merged["retry"]["count"])
        self.retry_intervals = [
            (float(item["interval"]), bool(item.get("notify"))) for item in merged["retry"]["intervals"]
        ] or [(60.0, False)]
        during = merged["retry"].get("during")
        self.retry_during = float(duration(during)) if during is not None else None

    def retry_delay(self, retry):
        """Seconds to wait after attempt number C{retry} (1-based) failed; the last interval repeats."""
        intervals = self.retry_intervals
        return intervals[min(max(retry, 1), len(intervals)) - 1][0]

    def expired(self, received, now):
        """Whether a message received at C{received} has been retried for C{retry.during} seconds."""
        return self.retry_during is not None and now - received >= self.retry_during

    def notify_after(self, retry):
        """Whether a delayed DSN is due after attempt number C{retry} failed."""
        intervals = self.retry_intervals
        return retry <= len(intervals) and intervals[max(retry, 1) - 1][1]


class DeliveryFile:
    """A parsed smtpd-delivery.yaml; L{layer} picks what applies to a context."""

    def __init__(self, config=None, lists=None):
        delivery = (config or {}).get("delivery") or {}
        self.default = _check(delivery.get("default") or {}, "delivery.default")
        self.conditions = []
        for i, item in enumerate(delivery.get("conditions") or []):
            where = "delivery.conditions[%d]" % (i,)
            if not isinstance(item, dict) or "then" not in item:
                raise ValueError("%s: expected if/then" % (where,))
            self.conditions.append((Condition(item.get("if") or {}, lists, where + ".if"), _check(item["then"], where + ".then")))

    def choice(self, context):
        """The index of the first condition matching C{context}, or -1: what L{layer} depends on."""
        for i, (condition, _) in enumerate(self.conditions):
            if condition.matches(context):
                return i
        return -1

    def layer(self, context):
        """The file's settings for C{context}: the default with the first matching condition over it."""
        choice = self.choice(context)
        return self.default if choice < 0 else merge(self.default, self.conditions[choice][1])


def _check(then, where):
    if not isinstance(then, dict):
        raise ValueError("%s: expected a mapping" % (where,))
    unknown = set(then) - {"tls", "pooling", "timeout", "retry"}
    if unknown:
        raise ValueError("%s: unknown setting %s" % (where, ", ".join(sorted(unknown))))
    during = (then.get("retry") or {}).get("during")
    if during is not None and not isinstance(duration(during), (int, float)):
        raise ValueError("%s.retry.during: %r is not a number of seconds or a duration like 5d" % (where, during))
    mode = (then.get("tls") or {}).get("mode")
    if mode is not None and mode not in TLS_MODES:
        raise ValueError("%s.tls.mode: %r is not one of %s" % (where, mode, ", ".join(TLS_MODES)))
    for state in ((then.get("timeout") or {}).get("smtp") or {}):
        if state not in SMTP_STATES:
            raise ValueError("%s.timeout.smtp: unknown state %r" % (where, state))
    return then


def transport_layer(transport, group):
    """The settings a transport and its group contribute (layer 2)."""
    layer = {}
    tls = ((transport or {}).get("session") or {}).get("tls") or {}
    if tls:
        layer["tls"] = {k: v for k, v in tls.items() if k in ("mode", "protocols")}
    retry = (group or {}).get("retry")
    if retry:
        layer["retry"] = {k: v for k, v in retry.items() if k in ("count", "intervals", "during")}
    return layer


def resolve(transport_settings, delivery_file, context, overrides=None):
    """L{Settings} for one attempt from the four layers."""
    merged = merge(DEFAULTS, transport_settings)
    if delivery_file is not None:
        merged = merge(merged, delivery_file.layer(context))
    if overrides:
        merged = merge(merged, overrides)
    return Settings(merged)
