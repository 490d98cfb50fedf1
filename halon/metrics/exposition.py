"""
What a Prometheus scrape reads: the process-stats counters (L{halon.stats})
and the scripts' metrics (L{halon.metrics.registry}), rendered by
prometheus-client's text format so escaping and layout are the reference
implementation's.

A process-stats name becomes a metric name and labels: dots and other
punctuation become underscores under a C{halon_} prefix, and an index in
brackets becomes a label named after its part, so
C{servers[0].connections.concurrent} is
C{halon_servers_connections_concurrent{servers="0"}} and the servers of
one process share a metric.  process-stats does not say which names only
grow, so they are exported untyped; text values (a server id) are left out.
"""

import re

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

__all__ = ["render", "CONTENT_TYPE", "stats_name"]

# Every name we export is a classic one, so the classic text format is exact.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "halon_"
_PART = re.compile(r"^(?P<name>[^\[\]]*)(?:\[(?P<index>[^\]]*)\])?$")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def stats_name(name):
    """(metric name, labels dict, help) for a process-stats name, or None if it has no sensible one."""
    parts, labels, shown = [], {}, []
    for part in name.split("."):
        m = _PART.match(part)
        if m is None or not m.group("name"):
            return None
        clean = _UNSAFE.sub("_", m.group("name"))
        parts.append(clean)
        if m.group("index") is not None:
            label = clean if clean not in labels else "%s_%d" % (clean, len(labels))
            labels[label] = m.group("index")
            shown.append(m.group("name") + "[*]")
        else:
            shown.append(m.group("name"))
    return PREFIX + "_".join(parts), labels, "process-stats " + ".".join(shown)


class _Collector:
    """prometheus-client's collector protocol over our two sources, read at scrape time."""

    def __init__(self, stats, scripts):
        self._stats = stats
        self._scripts = scripts

    def collect(self):
        """Stats first; a script metric named like one of them is left out rather than doubled."""
        taken = set()
        if self._stats is not None:
            for family in _stats_families(self._stats.snapshot()):
                taken.add(family.name)
                yield family
        if self._scripts is not None:
            for family in _script_families(self._scripts.collect()):
                if family.name not in taken:
                    yield family


def _stats_families(snapshot):
    families = {}
    for name, value in snapshot:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        named = stats_name(name)
        if named is None:
            continue
        metric, labels, help_text = named
        family = families.get(metric)
        if family is None:
            family = families[metric] = (UnknownMetricFamily(metric, help_text, labels=sorted(labels)), sorted(labels))
        family_obj, label_names = family
        if sorted(labels) != label_names:
            continue
        family_obj.add_metric([labels[k] for k in label_names], float(value))
    return [f for f, _ in families.values()]


def _script_families(collected):
    out = []
    for name, kind, help_text, samples in collected:
        label_names = sorted({k for labels, _ in samples for k in labels})
        if kind == "counter":
            family = CounterMetricFamily(name, help_text, labels=label_names)
        elif kind == "gauge":
            family = GaugeMetricFamily(name, help_text, labels=label_names)
        else:
            family = HistogramMetricFamily(name, help_text, labels=label_names)
        for labels, value in samples:
            values = [labels.get(k, "") for k in label_names]
            if kind == "histogram":
                bounds, counts, total, count = value
                buckets = [(_bound(b), c) for b, c in zip(bounds, counts)] + [("+Inf", count)]
                family.add_metric(values, buckets, total)
            else:
                family.add_metric(values, value)
        out.append(family)
    return out


def _bound(value):
    return repr(float(value))


def render(stats=None, scripts=None):
    """The text exposition (bytes) of both sources as they are now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats, scripts))
    return generate_latest(registry)
