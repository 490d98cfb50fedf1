"""The ready handlers: process-stats from Stats, reloads, and rated's rate table."""

from twisted.internet import defer, task
from twisted.trial import unittest

from halon.control import handlers
from halon.control.commands import ControlError
from halon.control.pb import control_pb2, rated_pb2, smtpd_pb2
from halon.rated.window import RateTable
from halon.stats import Stats


class ProcessStatsTests(unittest.SynchronousTestCase):
    def test_everyCounterInOrder(self):
        """Counters and gauges come out in registration order, numbers as numbers and text as text."""
        stats = Stats()
        stats.gauge("process.pid", lambda: 48535)
        stats.counter("queue.freeze.update.size").increment(6)
        stats.gauge("servers[0].serverid", lambda: "inbound")
        stats.gauge("rated.rate", lambda: 0.625)
        response = handlers.process_stats(stats)(control_pb2.ProcessStatsRequest())
        self.assertEqual(
            [(s.name, s.WhichOneof("value"), getattr(s, s.WhichOneof("value"))) for s in response.stats],
            [
                ("process.pid", "number", 48535),
                ("queue.freeze.update.size", "number", 6),
                ("servers[0].serverid", "text", "inbound"),
                ("rated.rate", "number", 0.625),
            ],
        )

    def test_valuesAreReadAtEachCall(self):
        """A second call sees counters as they are then, not a copy from the first."""
        stats = Stats()
        counter = stats.counter("resolver.cache.hits")
        handle = handlers.process_stats(stats)
        counter.increment(3)
        self.assertEqual(handle(None).stats[0].number, 3)
        counter.increment(894)
        self.assertEqual(handle(None).stats[0].number, 897)


class ReloadTests(unittest.SynchronousTestCase):
    def test_successAnswersTheCallsResponse(self):
        """A reload that returns answers with the call's (empty) response."""
        calls = []
        result = self.successResultOf(handlers.reload("ConfigReload", lambda: calls.append(1))(None))
        self.assertEqual(result, control_pb2.ConfigReloadResponse())
        self.assertEqual(calls, [1])
        policy = self.successResultOf(handlers.reload("PolicyReload", lambda: defer.succeed(None))(None))
        self.assertIsInstance(policy, smtpd_pb2.PolicyReloadResponse)

    def test_problemBecomesTheErrorMessage(self):
        """A refused configuration's exception message is the error halonctl prints."""

        def reload():
            raise ValueError("/etc/halon/smtpd-app.yaml: servers[0].listeners[0].port: 99999 is greater than 65535")

        failure = self.failureResultOf(handlers.reload("ConfigReload", reload)(None), ControlError)
        self.assertEqual(
            str(failure.value), "/etc/halon/smtpd-app.yaml: servers[0].listeners[0].port: 99999 is greater than 65535"
        )

    def test_asynchronousProblem(self):
        """A reload that fails later (a Deferred) is refused the same way."""
        d = defer.Deferred()
        result = handlers.reload("ConfigReload", lambda: d)(None)
        self.assertNoResult(result)
        d.errback(OSError("rated-app.yaml: permission denied"))
        self.assertEqual(str(self.failureResultOf(result, ControlError).value), "rated-app.yaml: permission denied")

    def test_bugIsNotDressedAsAConfigProblem(self):
        """A programming error in the reload stays what it is, so the daemon logs its traceback."""

        def reload():
            raise TypeError("reload() takes 1 positional argument")

        self.failureResultOf(handlers.reload("ConfigReload", reload)(None), TypeError)


class RatesTests(unittest.SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.table = RateTable(self.clock)
        self.table.check(b"delivery-failures", b"customer1", 100, 3600)
        for _ in range(3):
            self.clock.advance(2)
            self.table.check(b"delivery-failures", b"customer1", 100, 3600)
        self.clock.advance(2)
        self.table.check(b"delivery-failures", b"customer1", 100, 3600)
        self.table.check(b"delivery-failures", b"customer10", 100, 3600)
        self.clock.advance(4)

    def test_listMatchesTheTable(self):
        """hsl rates list reports count, local count, whole-second ages and the rate rated computes."""
        response = self.successResultOf(handlers.rates_list(self.table.rows)(rated_pb2.HSLRateRequest()))
        first = response.rates[0]
        self.assertEqual(
            (first.namespace, first.entry, first.count, first.localcount, first.oldest, first.newest, first.rate),
            ("delivery-failures", "customer1", 5, 5, 12, 4, 0.625),
        )
        self.assertEqual([r.entry for r in response.rates], ["customer1", "customer10"])

    def test_listFilters(self):
        """--namespace and --entry keep only the matching entries."""
        handle = handlers.rates_list(self.table.rows)
        only = self.successResultOf(handle(rated_pb2.HSLRateRequest(entry="customer10")))
        self.assertEqual([r.entry for r in only.rates], ["customer10"])
        none = self.successResultOf(handle(rated_pb2.HSLRateRequest(namespace="other")))
        self.assertEqual(len(none.rates), 0)

    def test_clearDeletesAndCounts(self):
        """hsl rates clear --entry deletes that entry and says how many went."""
        handle = handlers.rates_clear(self.table.clear)
        response = self.successResultOf(handle(rated_pb2.HSLRateClearRequest(entry="customer10")))
        self.assertEqual(response.count, 1)
        self.assertEqual([row[1] for row in self.table.rows()], [b"customer1"])


class CacheTests(unittest.SynchronousTestCase):
    """hsl cache list/clear on buckets that real cache statements filled."""

    def test_listAndClear(self):
        import io

        from halon.hsl import compile_program
        from halon.hsl.host import Host

        host = Host(stdout=io.BytesIO())
        program = compile_program(
            'function twice($x) { return $x * 2; }\n'
            'cache ["size" => 100] twice(1); cache ["size" => 100] twice(1); cache ["size" => 100] twice(2);\n'
            'cache ["namespace" => "test"] length("abc");\n',
            "cache.hsl",
        )
        program.run(host)
        cache = handlers.cache(lambda: host)
        listed = cache["HSLCacheList"](smtpd_pb2.HSLCacheRequest())
        self.assertEqual(
            [(b.namespace, b.function, b.maxsize, b.size, b.hits, b.misses, b.evicts) for b in listed.buckets],
            [("", "twice", 100, 2, 1, 2, 0), ("test", "length", 32, 1, 0, 1, 0)],
        )
        cleared = cache["HSLCacheClear"](smtpd_pb2.HSLCacheClearRequest(function="twice"))
        self.assertEqual(cleared.count, 1)
        self.assertEqual([b.function for b in cache["HSLCacheList"](smtpd_pb2.HSLCacheRequest()).buckets], ["length"])
