"""
halonctl's output for the examples of Halon's manual (seeds/002), byte for
byte: halonctl runs as a process against a control socket whose handlers
answer with the manual's data, and the requests they received are checked.
"""

import datetime
import os

from twisted.trial import unittest

from halon.control.pb import rated_pb2, smtpd_pb2
from halon.control.service import Paged
from tests.control.helpers import Answers, halonctl, serve, short_tempdir

QUEUE_LIST = """\
┌────────────────────────────────────────┬────────────┬────────────┬─────────────────┐
│ id                                     │ retrycount │ retrydelay │ recipient       │
├────────────────────────────────────────┼────────────┼────────────┼─────────────────┤
│ c6321f4c-1671-11ea-885e-005056914940:1 │         20 │        243 │ """

GROUPBY_STATE = """\
┌─────────────┬─────────────────┬───────┬────────┬───────┬──────┬─────────┬─────────┐
│ transportid │ recipientdomain │ total │ ACTIVE │ DEFER │ HOLD │ UNKNOWN │ SENDING │
├─────────────┼─────────────────┼───────┼────────┼───────┼──────┼─────────┼─────────┤
│ inbound     │ example.com     │    19 │      0 │    17 │    1 │       0 │       1 │
"""

# The manual's policy table draws remotemx one column wider than
# "*.example.com" needs, though its suspend table draws the same value
# exactly; this is the manual's table with that column as wide as the
# suspend table's.
POLICY_LIST = """\
┌────────────────┬──────────┬─────────────┬─────────┬──────────┬───────────────┬─────────────────┬───────┬─────────────┬────────┬─────────┬─────┐
│             id │ fields   │ transportid │ localip │ remoteip │ remotemx      │ recipientdomain │ jobid │ concurrency │   rate │     ttl │ tag │
├────────────────┼──────────┼─────────────┼─────────┼──────────┼───────────────┼─────────────────┼───────┼─────────────┼────────┼─────────┼─────┤
│ 23244363005953 │ remotemx │             │         │          │ *.example.com │                 │       │             │ 10/600 │ 3592.44 │     │
└────────────────┴──────────┴─────────────┴─────────┴──────────┴───────────────┴─────────────────┴───────┴─────────────┴────────┴─────────┴─────╯
"""

SUSPEND_LIST = """\
┌────────────────┬─────────┬─────────────┬─────────┬──────────┬───────────────┬─────────────────┬───────┬─────────┬─────┐
│             id │ source  │ transportid │ localip │ remoteip │ remotemx      │ recipientdomain │ jobid │     ttl │ tag │
├────────────────┼─────────┼─────────────┼─────────┼──────────┼───────────────┼─────────────────┼───────┼─────────┼─────┤
│ 23244363005953 │ dynamic │             │         │          │ *.example.com │                 │       │ 57.7753 │     │
└────────────────┴─────────┴─────────────┴─────────┴──────────┴───────────────┴─────────────────┴───────┴─────────┴─────╯
"""

RATES_LIST = """\
┌───────────────────┬────────────┬───────┬─────────────┬────────┬────────┬────────────┐
│ Namespace         │ Entry      │ Count │ Local count │ Oldest │ Newest │ Rate (#/s) │
├───────────────────┼────────────┼───────┼─────────────┼────────┼────────┼────────────┤
│ delivery-failures │ customer0  │     1 │           1 │      8 │      8 │          0 │
│ delivery-failures │ customer1  │     5 │           5 │     12 │      4 │      0.625 │
│ delivery-failures │ customer10 │     1 │           1 │      8 │      8 │          0 │
"""

CACHE_LIST = """\
┌───────────┬──────────────────┬──────────┬──────┬────────┬────────┬────────┬──────────┐
│ Namespace │ Function         │ Max size │ Size │   Hits │ Misses │ Evicts │ Hit rate │
├───────────┼──────────────────┼──────────┼──────┼────────┼────────┼────────┼──────────┤
│           │ api_call_http    │   100000 │  845 │ 122799 │   6041 │      0 │  95.3112 │
│           │ http             │    16384 │  747 │   5670 │   2850 │      0 │  66.5493 │
│ test      │ smtp_lookup_rcpt │    16384 │    2 │      1 │     31 │      0 │    3.125 │
└───────────┴──────────────────┴──────────┴──────┴────────┴────────┴────────┴──────────╯
"""


class TableTestCase(unittest.TestCase):
    calls = ()

    def setUp(self):
        self.answers = Answers()
        self.control = serve(self, self.answers.handlers(*self.calls))

    def answer(self, name, answer):
        self.answers.answers[name] = answer

    async def ctl(self, *argv):
        out, err, code = await halonctl(*argv, "--socket", self.control.path)
        self.assertEqual((err, code), ("", 0))
        return out


class QueueTests(TableTestCase):
    calls = ("QueueList", "QueueGroupBy", "QueueUpdate", "QueueUnload")

    async def test_list(self):
        """queue list with the manual's conditions and fields: its table, numbers right and text left."""
        messages = [
            smtpd_pb2.QueueMessage(id="c6321f4c-1671-11ea-885e-005056914940:1", retrycount=20, retrydelay=243, recipient="jane@example.se"),
            smtpd_pb2.QueueMessage(id="f640a91a-1671-11ea-b6ea-005056914940:1", retrycount=21, retrydelay=70, recipient="john@example.se"),
        ]  # fmt: skip
        self.answer("QueueList", lambda r: smtpd_pb2.QueueListResponse(fields=r.fields, messages=messages))
        out = await self.ctl(
            "queue", "list", "--age", ">3600", "--state", "DEFER", "-F", "id", "-F", "retrycount", "-F", "retrydelay", "-F", "recipient"
        )  # fmt: skip
        self.assertTrue(out.startswith(QUEUE_LIST + "jane@example.se │\n"), out)
        self.assertIn("│ f640a91a-1671-11ea-b6ea-005056914940:1 │         21 │         70 │ john@example.se │\n", out)
        request = self.answers.last("QueueList")
        self.assertEqual(list(request.fields), ["id", "retrycount", "retrydelay", "recipient"])
        self.assertEqual(list(request.conditions.state), [smtpd_pb2.DEFER])
        self.assertEqual((request.conditions.age[0].operator, request.conditions.age[0].value), (smtpd_pb2.NumberCondition.GT, 3600))

    async def test_listStreamsPagesAndRendersCells(self):
        """A listing in many pages is one table; states, times and metadata are shown readably."""
        ts = datetime.datetime(2020, 1, 1, 1, 2, 3).timestamp()
        messages = (
            smtpd_pb2.QueueMessage(id="m%d:1" % i, state=smtpd_pb2.HOLD, ts=ts, metadata={"b": "2", "a": "1"}, age=1.5)
            for i in range(500)
        )
        self.control.page_bytes = 2048
        self.answer("QueueList", lambda r: Paged(smtpd_pb2.QueueListResponse(fields=["id", "state", "ts", "metadata", "age"]), messages))
        out = await self.ctl("queue", "list", "--ts", "2019-12-31..2020-01-02T00:00:00")
        lines = out.splitlines()
        self.assertEqual(len(lines), 4 + 500)
        self.assertEqual(lines[3], "│ m0:1   │ HOLD  │ 2020-01-01T01:02:03 │ a=1,b=2  │ 1.5 │")
        rng = self.answers.last("QueueList").conditions.ts[0]
        self.assertEqual((rng.operator, rng.upper - rng.value), (smtpd_pb2.NumberCondition.RANGE, 2 * 86400))

    async def test_groupbyState(self):
        """queue groupby --view state: the manual's columns and alignment."""
        group = smtpd_pb2.QueueGroup(keys=["inbound", "example.com"], total=19)
        group.states.defer, group.states.hold, group.states.sending = 17, 1, 1
        self.answer("QueueGroupBy", smtpd_pb2.QueueGroupByResponse(fields=["transportid", "recipientdomain"], view="state", groups=[group]))
        out = await self.ctl("queue", "groupby", "--view", "state")
        self.assertTrue(out.startswith(GROUPBY_STATE), out)
        self.assertEqual(self.answers.last("QueueGroupBy").view, "state")

    async def test_groupbyAge(self):
        """queue groupby --view age labels its buckets from the bounds the daemon sent."""
        group = smtpd_pb2.QueueGroup(keys=["t1"], total=3, ages=[1, 0, 2, 0, 0])
        self.answer("QueueGroupBy", smtpd_pb2.QueueGroupByResponse(fields=["transportid"], view="age", agebounds=[60, 300, 3600, 86400], groups=[group]))
        out = await self.ctl("queue", "groupby", "--view", "age", "-F", "transportid")
        self.assertIn("│ transportid │ total │ <1m │ 1m-5m │ 5m-1h │ 1h-1d │ >1d │\n", out)
        self.assertIn("│ t1          │     3 │   1 │     0 │     2 │     0 │   0 │\n", out)

    async def test_updateLines(self):
        """queue update prints affected, and unaffected and freezing when there are any, as the manual shows."""
        cases = [
            (smtpd_pb2.QueueUpdateResponse(affected=230), "230 messages affected\n"),
            (smtpd_pb2.QueueUpdateResponse(affected=100, unaffected=30), "100 messages affected\n30 messages unaffected\n"),
            (smtpd_pb2.QueueUpdateResponse(affected=4, freezing=26), "4 messages affected\n26 messages freezing\n"),
        ]
        for response, text in cases:
            self.answer("QueueUpdate", response)
            out = await self.ctl("queue", "update", "--delete", "--senderdomain", "example.com", "--all-states", "--freeze")
            self.assertEqual(out, text)
        request = self.answers.last("QueueUpdate")
        self.assertEqual((request.WhichOneof("action"), request.freeze), ("delete", True))
        self.assertEqual(list(request.conditions.senderdomain), ["example.com"])
        self.assertEqual(list(request.conditions.state), [])

    async def test_updateActions(self):
        """Each action and its argument reach the daemon as the request's one action."""
        self.answer("QueueUpdate", smtpd_pb2.QueueUpdateResponse(affected=27854))
        out = await self.ctl("queue", "update", "--transportid", "t1", "--state", "DEFER", "--updatetransportid", "t2")
        self.assertEqual(out, "27854 messages affected\n")
        self.assertEqual(self.answers.last("QueueUpdate").updatetransportid, "t2")
        await self.ctl("queue", "update", "--state", "HOLD", "--defer", "600")
        self.assertEqual(self.answers.last("QueueUpdate").defer, 600)
        await self.ctl("queue", "update", "--state", "HOLD", "--updatemetadata", "a=1", "--updatemetadata", "b=x=y")
        self.assertEqual(dict(self.answers.last("QueueUpdate").updatemetadata.metadata), {"a": "1", "b": "x=y"})

    async def test_unload(self):
        """queue unload prints each file unloaded, or that none was."""
        paths = ["/storage/mail/spool/13/13ef04db-1e06-11ea-927e-0050569a4c9c.hqf", "/storage/mail/spool/1b/1b5a5e80-1da2-11ea-927e-0050569a4c9c.hqf"]
        self.answer("QueueUnload", smtpd_pb2.QueueUnloadResponse(paths=paths))
        out = await self.ctl("queue", "unload", "--transportid", "t1")
        self.assertEqual(out, "".join(p + " unloaded\n" for p in paths))
        self.answer("QueueUnload", smtpd_pb2.QueueUnloadResponse())
        self.assertEqual(await self.ctl("queue", "unload"), "No messages unloaded\n")


class PolicyTests(TableTestCase):
    calls = ("PolicyConditionAdd", "PolicyConditionList", "PolicyConditionDelete", "PolicyRateRefill", "SuspendAdd", "SuspendList", "SuspendDelete")

    async def test_policyAddListDelete(self):
        """policy add prints the id; list draws the manual's table; delete sends the id."""
        self.answer("PolicyConditionAdd", smtpd_pb2.PolicyConditionAddResponse(id=23244363005953))
        out = await self.ctl("queue", "policy", "add", "-F", "remotemx", "--remotemx", "*.example.com", "--rate", "10/600", "--ttl", "3600")
        self.assertEqual(out, "23244363005953\n")
        added = self.answers.last("PolicyConditionAdd")
        self.assertEqual((list(added.fields), added.remotemx, added.rate.count, added.rate.interval, added.ttl), (["remotemx"], "*.example.com", 10, 600, 3600))
        condition = smtpd_pb2.PolicyCondition(id=23244363005953, fields=["remotemx"], remotemx="*.example.com", ttl=3592.44)
        condition.rate.count, condition.rate.interval = 10, 600
        self.answer("PolicyConditionList", smtpd_pb2.PolicyConditionResponse(conditions=[condition]))
        self.assertEqual(await self.ctl("queue", "policy", "list"), POLICY_LIST)
        self.answer("PolicyConditionDelete", smtpd_pb2.PolicyConditionDeleteResponse())
        self.assertEqual(await self.ctl("queue", "policy", "delete", "23244363005953"), "")
        self.assertEqual(self.answers.last("PolicyConditionDelete").id, 23244363005953)

    async def test_rateRefill(self):
        """policy rate refill prints how many buckets it refilled."""
        self.answer("PolicyRateRefill", smtpd_pb2.PolicyRateRefillResponse(count=1))
        out = await self.ctl("queue", "policy", "rate", "refill", "--localip", "198.51.100.4", "--remotemx", "mx1.example.org")
        self.assertEqual(out, "1\n")
        request = self.answers.last("PolicyRateRefill")
        self.assertEqual((request.localip, request.remotemx, request.HasField("tokens")), ("198.51.100.4", "mx1.example.org", False))

    async def test_suspendAddListDelete(self):
        """suspend add prints the id; list draws the manual's table exactly."""
        self.answer("SuspendAdd", smtpd_pb2.SuspendAddResponse(id=23244363005953))
        self.assertEqual(await self.ctl("queue", "suspend", "add", "--remotemx", "*.example.com", "--ttl", "60"), "23244363005953\n")
        self.assertEqual(self.answers.last("SuspendAdd").ttl, 60)
        suspend = smtpd_pb2.Suspend(id=23244363005953, source="dynamic", remotemx="*.example.com", ttl=57.7753)
        self.answer("SuspendList", smtpd_pb2.SuspendResponse(suspends=[suspend]))
        self.assertEqual(await self.ctl("queue", "suspend", "list"), SUSPEND_LIST)
        self.answer("SuspendDelete", smtpd_pb2.SuspendDeleteResponse())
        self.assertEqual(await self.ctl("queue", "suspend", "delete", "23244363005953"), "")


class EngineTests(TableTestCase):
    calls = (
        "ConfigGreenDeploy", "ConfigGreenStatus", "ConfigGreenCancel", "HSLRateList", "HSLRateClear",
        "HSLMemoryStore", "HSLMemoryFetch", "HSLMemoryDelete", "HSLCacheList", "HSLCacheClear", "ResolverClear",
    )  # fmt: skip

    async def test_livestage(self):
        """livestage start sends the file and conditions; status prints the manual's two forms; cancel is silent."""
        path = os.path.join(short_tempdir(self), "smtpd-app.yaml")
        with open(path, "w") as f:
            f.write("servers: []\n")
        self.answer("ConfigGreenDeploy", smtpd_pb2.ConfigGreenDeployResponse())
        self.assertEqual(await self.ctl("config", "livestage", "start", "--id", "t1", "--file", path, "--probability", "0.1", "--time", "3600"), "")
        deploy = self.answers.last("ConfigGreenDeploy")
        self.assertEqual((deploy.id, deploy.config, deploy.conditions.probability, deploy.conditions.time), ("t1", "servers: []\n", 0.1, 3600))
        status = smtpd_pb2.ConfigGreenStatusResponse(id="t1", connections=2, runtime=30)
        status.conditions.time = 3600
        self.answer("ConfigGreenStatus", status)
        self.assertEqual(await self.ctl("config", "livestage", "status"), "t1: 2 connections(s), 30/3600 runtime\n")
        self.answer("ConfigGreenStatus", smtpd_pb2.ConfigGreenStatusResponse(id="t2", connections=2, runtime=3))
        self.assertEqual(await self.ctl("config", "livestage", "status"), "t2: 2 connections(s), 3 runtime\n")
        self.answer("ConfigGreenCancel", smtpd_pb2.ConfigGreenCancelResponse())
        self.assertEqual(await self.ctl("config", "livestage", "cancel"), "")

    async def test_rates(self):
        """hsl rates list draws the manual's table; clear prints how many entries went."""
        rows = [("customer0", 1, 1, 8, 8, 0), ("customer1", 5, 5, 12, 4, 0.625), ("customer10", 1, 1, 8, 8, 0)]
        rates = [rated_pb2.HSLRate(namespace="delivery-failures", entry=e, count=c, localcount=lc, oldest=o, newest=n, rate=r) for e, c, lc, o, n, r in rows]
        self.answer("HSLRateList", rated_pb2.HSLRateResponse(rates=rates))
        self.assertTrue((await self.ctl("hsl", "rates", "list")).startswith(RATES_LIST))
        self.answer("HSLRateClear", rated_pb2.HSLRateClearResponse(count=1))
        self.assertEqual(await self.ctl("hsl", "rates", "clear", "--entry", "customer10"), "1 entries deleted\n")
        self.assertEqual(self.answers.last("HSLRateClear").entry, "customer10")

    async def test_memory(self):
        """hsl memory store sends JSON, fetch prints it back, delete is silent."""
        self.answer("HSLMemoryStore", smtpd_pb2.HSLMemoryStoreResponse())
        self.assertEqual(await self.ctl("hsl", "memory", "store", "theanswer", "42"), "")
        self.assertEqual((self.answers.last("HSLMemoryStore").key, self.answers.last("HSLMemoryStore").value), ("theanswer", "42"))
        self.answer("HSLMemoryFetch", smtpd_pb2.HSLMemoryResponse(found=True, value="42"))
        self.assertEqual(await self.ctl("hsl", "memory", "fetch", "theanswer"), "42\n")
        self.answer("HSLMemoryDelete", smtpd_pb2.HSLMemoryDeleteResponse(deleted=True))
        self.assertEqual(await self.ctl("hsl", "memory", "delete", "theanswer"), "")

    async def test_cache(self):
        """hsl cache list draws the manual's table, hit rate computed; clear prints how many buckets went."""
        buckets = [
            smtpd_pb2.HSLCacheBucket(function="api_call_http", maxsize=100000, size=845, hits=122799, misses=6041),
            smtpd_pb2.HSLCacheBucket(function="http", maxsize=16384, size=747, hits=5670, misses=2850),
            smtpd_pb2.HSLCacheBucket(namespace="test", function="smtp_lookup_rcpt", maxsize=16384, size=2, hits=1, misses=31),
        ]
        self.answer("HSLCacheList", smtpd_pb2.HSLCacheResponse(buckets=buckets))
        self.assertEqual(await self.ctl("hsl", "cache", "list"), CACHE_LIST)
        self.answer("HSLCacheClear", smtpd_pb2.HSLCacheClearResponse(count=1))
        self.assertEqual(await self.ctl("hsl", "cache", "clear", "--function", "http"), "1 buckets cleared\n")
        self.assertEqual(self.answers.last("HSLCacheClear").function, "http")

    async def test_resolverClear(self):
        """resolver clear is silent on success."""
        self.answer("ResolverClear", smtpd_pb2.ResolverClearResponse())
        self.assertEqual(await self.ctl("resolver", "clear"), "")
        self.assertEqual(len(self.answers.requests["ResolverClear"]), 1)
