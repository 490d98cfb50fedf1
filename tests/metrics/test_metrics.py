"""metrics_* from scripts, their Prometheus exposition, and the scrape endpoint on loopback."""

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.internet.protocol import ServerFactory
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from halon.metrics import configure, script_metrics
from halon.metrics.exposition import render, stats_name
from halon.metrics.http import metrics_service
from halon.stats import Stats


def labels(**pairs):
    return HSLArray({k.encode(): v for k, v in pairs.items()})


def parsed(text):
    """{(sample name, frozenset of labels): value} as Prometheus' own parser reads the text."""
    out = {}
    for family in text_string_to_metric_families(text.decode("utf-8")):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


class ScriptFunctionTests(unittest.TestCase):
    """The four HSL functions, called as scripts call them: through the host's namespace."""

    def setUp(self):
        self.stats = Stats()
        self.host = Host()
        self.host.services["metrics"] = script_metrics(self.stats)
        self.fn = self.host.namespace()

    def test_counter(self):
        """An increment makes a counter; it counts by 1 or by the value given and refuses to go down."""
        inc, get = self.fn["metrics_increment"], self.fn["metrics_get"]
        self.assertIs(inc(b"mails", labels(direction=b"in")), True)
        self.assertIs(inc(b"mails", labels(direction=b"in"), 2.0), True)
        self.assertIs(inc(b"mails", labels(direction=b"out")), True)
        self.assertEqual(get(b"mails", labels(direction=b"in")), HSLArray({b"type": b"counter", b"value": 3.0}))
        self.assertIs(self.fn["metrics_decrement"](b"mails", labels(direction=b"in")), False)
        self.assertIs(inc(b"mails", labels(direction=b"in"), -1.0), False)
        self.assertIs(self.fn["metrics_set"](b"mails", labels(direction=b"in"), 0.0), False)
        self.assertEqual(get(b"mails", labels(direction=b"in")).get(b"value"), 3.0)

    def test_gauge(self):
        """A set or a decrement makes a gauge, which goes both ways."""
        fn = self.fn
        self.assertIs(fn["metrics_set"](b"sessions", labels(), 5.0), True)
        self.assertIs(fn["metrics_decrement"](b"sessions", labels(), 2.0), True)
        self.assertIs(fn["metrics_increment"](b"sessions", labels()), True)
        self.assertEqual(fn["metrics_get"](b"sessions", labels()), HSLArray({b"type": b"gauge", b"value": 4.0}))

    def test_labelOrderDoesNotMatter(self):
        """Labels are a set: the same pairs in another order are the same series."""
        self.fn["metrics_increment"](b"m", labels(a=b"1", b=b"2"))
        self.fn["metrics_increment"](b"m", HSLArray({b"b": b"2", b"a": 1.0}))
        self.assertEqual(self.fn["metrics_get"](b"m", labels(b=b"2", a=b"1")).get(b"value"), 2.0)

    def test_histogram(self):
        """A declared histogram observes what is added, into cumulative buckets."""
        configure(self.stats, {"definitions": [{"name": "spam_score", "type": "histogram", "buckets": [10, 1, 5]}]})
        for value in (0.5, 3.0, 7.0, 50.0):
            self.assertIs(self.fn["metrics_increment"](b"spam_score", labels(), value), True)
        self.assertIs(self.fn["metrics_set"](b"spam_score", labels(), 1.0), False)
        result = self.fn["metrics_get"](b"spam_score", labels())
        self.assertEqual(result.get(b"count"), 4.0)
        self.assertEqual(result.get(b"sum"), 60.5)
        self.assertEqual([(b.get(b"le"), b.get(b"count")) for b in result.get(b"buckets")], [(1.0, 1.0), (5.0, 2.0), (10.0, 3.0)])

    def test_missing(self):
        """metrics_get of a metric or series never written is none."""
        self.assertIsNone(self.fn["metrics_get"](b"nothing", labels()))
        self.fn["metrics_increment"](b"m", labels(a=b"1"))
        self.assertIsNone(self.fn["metrics_get"](b"m", labels(a=b"2")))

    def test_badNamesAreScriptErrors(self):
        """A metric or label name Prometheus cannot carry, or a value that is no number, is a script error."""
        inc = self.fn["metrics_increment"]
        for args in [
            (b"bad name", labels()),
            (b"9lives", labels()),
            (b"ok", labels(**{"le": b"x"})),
            (b"ok", HSLArray({b"bad-label": b"x"})),
            (b"ok", HSLArray({b"__reserved": b"x"})),
            (b"ok", b"not an array"),
            (b"ok", labels(), b"12"),
            (b"ok", labels(), True),
        ]:
            self.assertRaises(HSLRuntimeError, inc, *args)

    def test_seriesLimit(self):
        """Past max_series new series are refused (false) and counted; existing ones keep counting."""
        configure(self.stats, {"max_series": 3})
        results = [self.fn["metrics_increment"](b"by_sender", labels(sender=b"%d" % i)) for i in range(5)]
        self.assertEqual(results, [True, True, True, False, False])
        self.assertIs(self.fn["metrics_increment"](b"by_sender", labels(sender=b"0")), True)
        self.assertEqual(self.stats.value("metrics.refused"), 2)
        self.assertEqual(self.stats.value("metrics.series"), 3)

    def test_badDefinitions(self):
        """A declaration that cannot be used names its place in the configuration."""
        for definition, words in [
            ({"name": "a b", "type": "counter"}, "definitions[0]: metric name 'a b'"),
            ({"name": "ok", "type": "summary"}, "definitions[0]: metric ok: type must be one of"),
        ]:
            e = self.assertRaises(ValueError, configure, Stats(), {"definitions": [definition]})
            self.assertIn(words, str(e))

    def test_oneRegistryPerProcess(self):
        """Every part holding the process's Stats reaches the same script metrics."""
        self.assertIs(script_metrics(self.stats), self.host.services["metrics"])
        self.assertIsNot(script_metrics(Stats()), self.host.services["metrics"])


class ExpositionTests(unittest.TestCase):
    def test_statsNames(self):
        """process-stats names become metric names, with bracketed indexes as labels."""
        self.assertEqual(
            stats_name("servers[0].connections.concurrent"),
            ("halon_servers_connections_concurrent", {"servers": "0"}, "process-stats servers[*].connections.concurrent"),
        )
        self.assertEqual(stats_name("queue.queue.defer.size")[:2], ("halon_queue_queue_defer_size", {}))
        self.assertEqual(stats_name("servers[1].scripts.eod-x.running")[:2], ("halon_servers_scripts_eod_x_running", {"servers": "1"}))
        self.assertIsNone(stats_name("a..b"))

    def test_parsesAsPrometheus(self):
        """Stats and script metrics together, with hostile label values, read back exactly by Prometheus' parser."""
        stats = Stats()
        stats.counter("servers[0].connections.concurrent").increment(3)
        stats.counter("servers[1].connections.concurrent").increment(1)
        stats.gauge("servers[0].serverid", lambda: "inbound")
        stats.gauge("queue.queue.defer.size", lambda: 7)
        metrics = configure(stats, {"definitions": [{"name": "score", "type": "histogram", "buckets": [1, 5]}]})
        metrics.metrics_increment(b"mails", labels(sender=b'a"b\\c\nd'))
        metrics.metrics_set(b"temp", labels(), -2.5)
        metrics.metrics_increment(b"score", labels(), 3.0)
        samples = parsed(render(stats, metrics))
        self.assertEqual(samples[("halon_servers_connections_concurrent", frozenset({("servers", "0")}))], 3)
        self.assertEqual(samples[("halon_servers_connections_concurrent", frozenset({("servers", "1")}))], 1)
        self.assertEqual(samples[("halon_queue_queue_defer_size", frozenset())], 7)
        self.assertEqual(samples[("mails_total", frozenset({("sender", 'a"b\\c\nd')}))], 1)
        self.assertEqual(samples[("temp", frozenset())], -2.5)
        self.assertEqual(samples[("score_bucket", frozenset({("le", "1.0")}))], 0)
        self.assertEqual(samples[("score_bucket", frozenset({("le", "5.0")}))], 1)
        self.assertEqual(samples[("score_bucket", frozenset({("le", "+Inf")}))], 1)
        self.assertEqual(samples[("score_sum", frozenset())], 3)
        self.assertFalse([k for k in samples if "serverid" in k[0]], "text values are not exported")

    def test_scriptMetricCannotShadowStats(self):
        """A script metric named like a process-stats metric is left out rather than exported twice."""
        stats = Stats()
        stats.counter("queue.size").increment(4)
        script_metrics(stats).metrics_set(b"halon_queue_size", labels(), 99.0)
        samples = parsed(render(stats, script_metrics(stats)))
        self.assertEqual(samples[("halon_queue_size", frozenset())], 4)


class EndpointTests(unittest.TestCase):
    """The scrape endpoint as Prometheus meets it: HTTP on loopback."""

    def start(self, conf):
        self.stats = Stats()
        self.stats.counter("rated.requests").increment(5)
        script_metrics(self.stats).metrics_increment(b"hello", labels(who=b"world"))
        svc = metrics_service(reactor, self.stats, script_metrics(self.stats), conf)
        svc.startService()
        self.addCleanup(svc.stopService)
        self.assertEqual(svc.port.getHost().host, "127.0.0.1")
        return "http://127.0.0.1:%d" % (svc.port.getHost().port,)

    @defer.inlineCallbacks
    def get(self, url, method=b"GET"):
        from twisted.web.client import HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=False)
        response = yield Agent(reactor, pool=pool).request(method, url.encode())
        body = yield readBody(response)
        defer.returnValue((response, body))

    @defer.inlineCallbacks
    def test_scrape(self):
        """GET /metrics answers the text format with stats and script metrics, and counts scrapes."""
        base = self.start({"port": 0})
        response, body = yield self.get(base + "/metrics")
        self.assertEqual(response.code, 200)
        self.assertTrue(response.headers.getRawHeaders(b"content-type")[0].startswith(b"text/plain; version=0.0.4"))
        samples = parsed(body)
        self.assertEqual(samples[("halon_rated_requests", frozenset())], 5)
        self.assertEqual(samples[("hello_total", frozenset({("who", "world")}))], 1)
        response, body = yield self.get(base + "/metrics")
        self.assertEqual(parsed(body)[("halon_metrics_scrapes", frozenset())], 2)

    @defer.inlineCallbacks
    def test_otherPathsAndMethods(self):
        """Only the configured path exists, and it only reads."""
        base = self.start({"port": 0, "path": "/halon/metrics"})
        response, _ = yield self.get(base + "/metrics")
        self.assertEqual(response.code, 404)
        response, body = yield self.get(base + "/halon/metrics")
        self.assertEqual(response.code, 200)
        response, _ = yield self.get(base + "/halon/metrics", b"POST")
        self.assertEqual(response.code, 405)

    def test_portInUseStopsTheStart(self):
        """A port already taken is a start-up error naming the address and the reason."""
        taken = reactor.listenTCP(0, ServerFactory(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        logged, exits = [], []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        svc = metrics_service(reactor, Stats(), None, {"port": taken.getHost().port})
        svc._exit = exits.append
        svc.privilegedStartService()
        self.assertEqual(exits, [1])
        self.assertIn(
            "Could not load configuration: metrics: bind 127.0.0.1:%d: Address already in use" % taken.getHost().port,
            [formatEvent(e) for e in logged],
        )

    def test_offWithoutPort(self):
        """No port configured, no listener."""
        self.assertIsNone(metrics_service(reactor, Stats(), None, {}))
