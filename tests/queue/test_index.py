"""The in-memory index, the halonctl conditions and the list/groupby views."""

from twisted.trial import unittest

from halon.queue import states
from halon.queue.conditions import Conditions, parse_time
from halon.queue.index import QueueIndex, parse_id
from halon.queue.listing import Cursor, groupby

from tests.queue.helpers import make_message


def build():
    index = QueueIndex()
    index.add(make_message("u1", recipients=("a@example.com", "b@example.net"), ts=1000.0, transportid="t1"))
    index.add(make_message("u2", sender="x@Other.org", recipients=("c@example.com",), ts=2000.0, transportid="t2",
                           state=states.DEFER, jobid="job7"))
    index.add(make_message("u3", recipients=("d@EXAMPLE.com",), ts=3000.0, transportid="t1", state=states.HOLD))
    return index


def select(index, now=5000.0, **fields):
    predicate = Conditions(fields).compile()
    return sorted(r.id for r in Cursor(index, predicate and predicate(now), ("id",), now).recipients(100))


class IndexTests(unittest.TestCase):
    def test_countsFollowStates(self):
        """The per-state counts follow every add, state change and removal."""
        index = build()
        self.assertEqual((index.count(states.ACTIVE), index.count(states.DEFER), index.count(states.HOLD)), (2, 1, 1))
        rcpt = index.get("u1:2")
        index.set_state(rcpt, states.SENDING)
        self.assertEqual(index.count(states.ACTIVE), 1)
        self.assertFalse(index.remove(rcpt))
        self.assertEqual(index.count(states.SENDING), 0)
        self.assertTrue(index.remove(index.get("u1:1")))
        self.assertNotIn("u1", index.messages)
        self.assertEqual(len(index), 2)

    def test_freezeLandsInUpdate(self):
        """A recipient frozen while working goes to UPDATE when its work ends, not to the state asked for."""
        index = build()
        rcpt = index.get("u1:1")
        index.set_state(rcpt, states.SENDING)
        index.freeze(rcpt)
        self.assertEqual(index.freeze_pending, 1)
        self.assertEqual(index.set_state(rcpt, states.DEFER), states.UPDATE)
        self.assertEqual((index.freeze_pending, index.count(states.UPDATE)), (0, 1))

    def test_freezeOnlyWorking(self):
        """Only recipients in a working state can be frozen; others are changed directly."""
        index = build()
        self.assertRaises(ValueError, index.freeze, index.get("u1:1"))

    def test_ids(self):
        """Queue ids are uuid:n; malformed ids are refused or not found."""
        self.assertEqual(parse_id("abc-def:3"), ("abc-def", 3))
        self.assertRaises(ValueError, parse_id, "abc")
        self.assertIsNone(build().get("nope"))
        self.assertEqual(build().get("u2:1").address, "c@example.com")


class ConditionTests(unittest.TestCase):
    def test_textFields(self):
        """Text conditions are alternatives within a field, domains and addresses ignore case."""
        index = build()
        self.assertEqual(select(index, transportid=["t1"]), ["u1:1", "u1:2", "u3:1"])
        self.assertEqual(select(index, transportid=["t1", "t2"], recipientdomain="example.com"), ["u1:1", "u2:1", "u3:1"])
        self.assertEqual(select(index, senderdomain="OTHER.org"), ["u2:1"])
        self.assertEqual(select(index, recipient="D@example.COM"), ["u3:1"])
        self.assertEqual(select(index, jobid="job7"), ["u2:1"])

    def test_idsAndStates(self):
        """An id without :n selects every recipient of the message; states by name."""
        index = build()
        self.assertEqual(select(index, id=["u1"]), ["u1:1", "u1:2"])
        self.assertEqual(select(index, id=["u1:2", "u3:1"]), ["u1:2", "u3:1"])
        self.assertEqual(select(index, state=["defer", "HOLD"]), ["u2:1", "u3:1"])

    def test_numberOperators(self):
        """Every operator and ranges work; comparisons of one field must all hold."""
        index = build()
        self.assertEqual(select(index, age=">3000"), ["u1:1", "u1:2"])
        self.assertEqual(select(index, age=">=3000"), ["u1:1", "u1:2", "u2:1"])
        self.assertEqual(select(index, age="<3000"), ["u3:1"])
        self.assertEqual(select(index, age="<=3000"), ["u2:1", "u3:1"])
        self.assertEqual(select(index, age="=3000"), ["u2:1"])
        self.assertEqual(select(index, age="3000"), ["u2:1"])
        self.assertEqual(select(index, age="2000..3000"), ["u2:1", "u3:1"])
        self.assertEqual(select(index, age=[">1000", "<3500"]), ["u2:1", "u3:1"])
        self.assertEqual(select(index, age=[(">", 1000), ("<", 3500)]), ["u2:1", "u3:1"])

    def test_retryFields(self):
        """retrycount compares the count, retrydelay the seconds left (0 outside DEFER)."""
        index = build()
        rcpt = index.get("u2:1")
        rcpt.retry, rcpt.next_retry = 4, 5600.0
        self.assertEqual(select(index, retrycount=">3"), ["u2:1"])
        self.assertEqual(select(index, retrydelay=">500"), ["u2:1"])
        self.assertEqual(select(index, retrydelay="0"), ["u1:1", "u1:2", "u3:1"])

    def test_timesAndMetadata(self):
        """ts takes ISO 8601 (UTC without offset); metadata pairs must all be present."""
        index = build()
        self.assertEqual(parse_time("1970-01-01T00:33:20"), 2000.0)
        self.assertEqual(parse_time("1970-01-01T01:33:20+01:00"), 2000.0)
        self.assertEqual(select(index, ts=">1970-01-01T00:33:20Z"), ["u3:1"])
        index.get("u1:1").metadata = {"k": "v", "x": "y"}
        index.get("u1:2").metadata = {"k": "v"}
        self.assertEqual(select(index, metadata=["k=v", "x=y"]), ["u1:1"])
        self.assertEqual(select(index, metadata={"k": "v"}), ["u1:1", "u1:2"])

    def test_errorsNameTheArgument(self):
        """Malformed conditions are refused with the argument named; nothing is evaluated as code."""
        for fields, fragment in [
            ({"retrycount": ">abc"}, "--retrycount"),
            ({"state": "BOGUS"}, "unknown state"),
            ({"ts": "yesterday"}, "ISO 8601"),
            ({"metadata": "novalue"}, "key=value"),
            ({"colour": "red"}, "unknown condition --colour"),
        ]:
            e = self.assertRaises(ValueError, Conditions, fields)
            self.assertIn(fragment, str(e))
        index = build()
        self.assertEqual(select(index, transportid=["t1') or True or ('"]), [])


class ListingTests(unittest.TestCase):
    def test_pagesAndFields(self):
        """A cursor returns rows of the fields asked for, page after page, and says when it is done."""
        index = build()
        cursor = Cursor(index, None, ("id", "state", "recipientdomain", "age", "metadata"), 5000.0)
        first = cursor.page(3)
        self.assertEqual(first[0], ["u1:1", "ACTIVE", "example.com", 4000, ""])
        self.assertFalse(cursor.done)
        rest = cursor.page(3)
        self.assertEqual(rest, [["u3:1", "HOLD", "example.com", 2000, ""]])
        self.assertTrue(cursor.done)

    def test_cursorSurvivesChanges(self):
        """Messages removed or added while a listing is read do not break it."""
        index = build()
        cursor = Cursor(index, None, ("id",), 0.0)
        self.assertEqual(len(cursor.page(1)), 1)
        index.remove(index.get("u2:1"))
        index.add(make_message("u4"))
        self.assertEqual([row[0] for row in cursor.page(10)], ["u1:2", "u3:1"])

    def test_groupbyState(self):
        """The state view counts per group and state, biggest groups first."""
        index = build()
        columns, rows = groupby(index, view="state")
        self.assertEqual(columns[:3], ["transportid", "recipientdomain", "total"])
        by_key = {tuple(r[:2]): r[2:] for r in rows}
        active, defer, hold = (columns.index(name) - 2 for name in ("ACTIVE", "DEFER", "HOLD"))
        self.assertEqual(by_key[("t1", "example.com")][0], 2)
        self.assertEqual(by_key[("t1", "example.com")][active], 1)
        self.assertEqual(by_key[("t1", "example.com")][hold], 1)
        self.assertEqual(by_key[("t2", "example.com")][defer], 1)
        self.assertEqual(rows[0][:2], ["t1", "example.com"])

    def test_groupbyFieldsAndFilter(self):
        """Groupby on one field or on state, with a filter."""
        index = build()
        predicate = Conditions(transportid="t1").compile()(0.0)
        self.assertEqual(groupby(index, predicate, ("recipientdomain",))[1], [["example.com", 2], ["example.net", 1]])
        self.assertEqual(sorted(groupby(index, None, ("state",))[1]), [["ACTIVE", 2], ["DEFER", 1], ["HOLD", 1]])

    def test_groupbyAge(self):
        """The age view puts each recipient in the first bucket its age is under."""
        index = build()
        columns, rows = groupby(index, None, ("transportid",), "age", now=3100.0, age_bounds=(500.0, 2500.0))
        self.assertEqual(columns, ["transportid", "total", "<500", "<2500", ">=2500"])
        self.assertEqual(sorted(rows), [["t1", 3, 1, 2, 0], ["t2", 1, 0, 1, 0]])

    def test_unknownFieldsRefused(self):
        """Unknown list fields, group fields and views are refused by name."""
        index = build()
        self.assertRaises(ValueError, Cursor, index, None, ("colour",))
        self.assertRaises(ValueError, groupby, index, None, ("colour",))
        self.assertRaises(ValueError, groupby, index, None, ("transportid",), "pie")
