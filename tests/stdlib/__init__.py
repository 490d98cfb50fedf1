"""Tests of the HSL core standard library (halon/hsl/stdlib), called from Python and from scripts."""
