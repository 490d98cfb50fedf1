"""
Metrics: the counters and gauges scripts keep (metrics_* in HSL) and a
Prometheus endpoint exposing them with every process-stats counter
(docs/metrics.md).

One L{ScriptMetrics} exists per process, found from the process's
L{halon.stats.Stats}, so whatever builds a script host only needs the
stats it already has:

    host.services["metrics"] = script_metrics(stats)
"""

import weakref

from halon.metrics.registry import ScriptMetrics

__all__ = ["ScriptMetrics", "script_metrics", "configure"]

_by_stats = weakref.WeakKeyDictionary()


def script_metrics(stats):
    """The process's script metrics (created empty on first use)."""
    metrics = _by_stats.get(stats)
    if metrics is None:
        metrics = _by_stats[stats] = ScriptMetrics()
        stats.gauge("metrics.series", metrics.series_count)
        stats.gauge("metrics.refused", lambda: metrics.refused)
    return metrics


def configure(stats, conf):
    """
    Apply C{environment.metrics} of smtpd.yaml to the process's script
    metrics: declarations and the series limit.  Raises ValueError naming
    the definition that cannot be used.
    """
    metrics = script_metrics(stats)
    if "max_series" in conf:
        metrics.max_series = conf["max_series"]
    for i, d in enumerate(conf.get("definitions", [])):
        try:
            metrics.declare(d["name"], d.get("type", "counter"), d.get("help", ""), d.get("buckets"))
        except (KeyError, ValueError) as e:
            raise ValueError("environment.metrics.definitions[%d]: %s" % (i, e))
    return metrics
