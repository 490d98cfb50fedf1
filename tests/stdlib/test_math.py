"""Mathematical functions and random numbers."""

import math

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from tests.stdlib.helpers import fn


class MathTests(unittest.TestCase):
    def test_basic(self):
        """abs, ceil, floor, sqrt and pow on ordinary numbers."""
        self.assertEqual(fn("abs")(-2.5), 2.5)
        self.assertEqual(fn("ceil")(1.2), 2.0)
        self.assertEqual(fn("ceil")(-1.2), -1.0)
        self.assertEqual(fn("floor")(-1.2), -2.0)
        self.assertEqual(fn("sqrt")(16.0), 4.0)
        self.assertEqual(fn("pow")(2.0, 10.0), 1024.0)

    def test_likeC(self):
        """Domain errors give nan/inf as C does, not exceptions."""
        self.assertTrue(math.isnan(fn("sqrt")(-1.0)))
        self.assertTrue(math.isnan(fn("log")(-1.0)))
        self.assertEqual(fn("log")(0.0), -math.inf)
        self.assertEqual(fn("pow")(0.0, -1.0), math.inf)
        self.assertTrue(math.isnan(fn("pow")(-8.0, 1.0 / 3)))
        self.assertEqual(fn("pow")(10.0, 400.0), math.inf)
        self.assertEqual(fn("ceil")(math.inf), math.inf)

    def test_log(self):
        """Natural logarithm by default, or to a base."""
        self.assertAlmostEqual(fn("log")(math.e), 1.0)
        self.assertAlmostEqual(fn("log")(1000.0, 10.0), 3.0)
        self.assertEqual(fn("log")(8.0, 2.0), 3.0)

    def test_round(self):
        """Halves round away from zero, at any number of decimals."""
        r = fn("round")
        self.assertEqual(r(2.5), 3.0)
        self.assertEqual(r(-2.5), -3.0)
        self.assertEqual(r(0.49999999999999994), 0.0)
        self.assertEqual(r(1.2345, 2.0), 1.23)
        self.assertEqual(r(1.235, 1.0), 1.2)
        self.assertEqual(r(1250.0, -2.0), 1300.0)
        self.assertEqual(r(math.inf), math.inf)

    def test_random(self):
        """random_number is an inclusive integer range, or a double in [0, 1]."""
        seen = {fn("random_number")(1.0, 3.0) for _ in range(200)}
        self.assertEqual(seen, {1.0, 2.0, 3.0})
        x = fn("random_number")()
        self.assertTrue(0.0 <= x <= 1.0)
        self.assertRaises(HSLRuntimeError, fn("random_number"), 1.0)

    def test_randomBytes(self):
        """random_bytes returns that many bytes, at most 1 MiB."""
        self.assertEqual(len(fn("random_bytes")(16.0)), 16)
        self.assertNotEqual(fn("random_bytes")(16.0), fn("random_bytes")(16.0))
        self.assertEqual(len(fn("random_bytes")(1048576.0)), 1048576)
        self.assertRaises(HSLRuntimeError, fn("random_bytes"), 1048577.0)

    def test_types(self):
        """Numbers only."""
        self.assertRaises(HSLRuntimeError, fn("abs"), b"1")

    def test_extremeDecimals(self):
        """round() with decimals beyond a double's range neither raises nor changes the number wrongly."""
        self.assertEqual(fn("round")(1.5, 400.0), 1.5)
        self.assertEqual(fn("round")(1.5, -400.0), 0.0)
