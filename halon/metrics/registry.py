"""
The metrics scripts keep with metrics_increment(), metrics_decrement(),
metrics_set() and metrics_get(): the "metrics" service of the HSL host
(docs/internals.md), shared by every script thread of the process.

A metric is a family (name, type, help) of series told apart by their
labels.  Families are declared in smtpd.yaml (C{environment.metrics.
definitions}) or come into being on first use: an increment makes a
counter, a decrement or a set makes a gauge.  Histograms only exist by
declaration, since their buckets cannot be guessed; incrementing one
observes the value.

Scripts are code an operator wrote, so a name or label Prometheus could
not carry is a script error naming it; an operation the metric's type
does not have (decrementing a counter, setting a histogram) answers
false, and so does a new series past C{max_series}, which keeps a label
fed from mail (a sender address) from growing the process without bound.
"""

import re
import threading

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, to_bytes

__all__ = ["ScriptMetrics", "DEFAULT_BUCKETS", "DEFAULT_MAX_SERIES"]

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge", "histogram")
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_MAX_SERIES = 10000


class Family:
    """
    One metric: C{series} maps a sorted tuple of (label, value) pairs to a
    float (counter, gauge) or a L{Histogram}.
    """

    def __init__(self, name, kind, help_text="", buckets=None):
        self.name = name
        self.kind = kind
        self.help = help_text or "kept by scripts (metrics_*)"
        self.buckets = tuple(sorted(buckets)) if buckets else DEFAULT_BUCKETS
        self.series = {}


class Histogram:
    """Cumulative bucket counts (one per upper bound, then +Inf), their sum and count."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds):
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value):
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.sum += value
        self.count += 1


class ScriptMetrics:
    """
    @ivar max_series: series across all families beyond which new ones
        are refused (existing ones keep counting).
    @ivar refused: how many new series were refused for that reason.
    """

    def __init__(self, max_series=DEFAULT_MAX_SERIES):
        self._lock = threading.Lock()
        self._families = {}
        self._series = 0
        self.max_series = max_series
        self.refused = 0

    def declare(self, name, kind, help_text="", buckets=None):
        """Declare a family (config time); a bad name or type raises ValueError."""
        if not NAME.match(name):
            raise ValueError("metric name %r is not a valid Prometheus name" % (name,))
        if kind not in TYPES:
            raise ValueError("metric %s: type must be one of %s" % (name, ", ".join(TYPES)))
        with self._lock:
            self._families[name] = Family(name, kind, help_text, buckets)

    # -- the HSL functions ---------------------------------------------------

    def metrics_increment(self, name, labels, value=None):
        amount = 1.0 if value is None else _number(value, "metrics_increment")
        return self._update("metrics_increment", name, labels, "counter", lambda f, old: _added(f, old, amount))

    def metrics_decrement(self, name, labels, value=None):
        amount = 1.0 if value is None else _number(value, "metrics_decrement")
        return self._update("metrics_decrement", name, labels, "gauge", lambda f, old: _added(f, old, -amount))

    def metrics_set(self, name, labels, value):
        amount = _number(value, "metrics_set")
        return self._update("metrics_set", name, labels, "gauge", lambda f, old: amount if f.kind == "gauge" else None)

    def metrics_get(self, name, labels):
        name, key = _name(name, "metrics_get"), _labels(labels, "metrics_get")
        with self._lock:
            family = self._families.get(name)
            if family is None or key not in family.series:
                return None
            value = family.series[key]
            if family.kind != "histogram":
                return HSLArray({b"type": family.kind.encode(), b"value": float(value)})
            buckets = HSLArray.from_list(
                [HSLArray({b"le": float(b), b"count": float(c)}) for b, c in zip(value.bounds, value.counts)]
            )
            return HSLArray(
                {b"type": b"histogram", b"count": float(value.count), b"sum": float(value.sum), b"buckets": buckets}
            )

    def _update(self, function, name, labels, kind_when_new, change):
        """Apply C{change(family, old value)} -> new value, or None when the type refuses."""
        name, key = _name(name, function), _labels(labels, function)
        with self._lock:
            family = self._families.get(name)
            if family is None:
                family = self._families[name] = Family(name, kind_when_new)
            old = family.series.get(key)
            is_new = old is None
            if is_new:
                if self._series >= self.max_series:
                    self.refused += 1
                    return False
                old = Histogram(family.buckets) if family.kind == "histogram" else 0.0
            new = change(family, old)
            if new is None:
                return False
            family.series[key] = new
            self._series += is_new
            return True

    # -- what the exporter reads -------------------------------------------------

    def collect(self):
        """
        A consistent copy for exposition: [(name, kind, help, [(labels dict,
        value)])], where a histogram's value is (bounds, cumulative counts,
        sum, count).
        """
        with self._lock:
            out = []
            for family in self._families.values():
                samples = []
                for key, value in family.series.items():
                    if isinstance(value, Histogram):
                        value = (value.bounds, list(value.counts), value.sum, value.count)
                    samples.append((dict(key), value))
                out.append((family.name, family.kind, family.help, samples))
            return out

    def series_count(self):
        return self._series


def _added(family, old, amount):
    if family.kind == "histogram":
        if amount < 0:
            return None
        old.observe(amount)
        return old
    if family.kind == "counter" and amount < 0:
        return None
    return old + amount


def _name(value, function):
    name = to_bytes(value).decode("utf-8", "replace")
    if not NAME.match(name):
        raise HSLRuntimeError("%s(): %r is not a valid metric name (letters, digits, _ and :)" % (function, name))
    return name


def _labels(labels, function):
    """The series key: sorted (label, value) text pairs."""
    if labels is None:
        return ()
    if not isinstance(labels, HSLArray):
        raise HSLRuntimeError("%s(): labels must be an array of name => value" % (function,))
    pairs = {}
    for k, v in labels.items():
        label = to_bytes(k).decode("utf-8", "replace")
        if not LABEL.match(label) or label.startswith("__") or label == "le":
            raise HSLRuntimeError("%s(): %r is not a valid label name" % (function, label))
        pairs[label] = to_bytes(v).decode("utf-8", "replace")
    return tuple(sorted(pairs.items()))


def _number(value, function):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise HSLRuntimeError("%s(): the value must be a number" % (function,))
    return float(value)

