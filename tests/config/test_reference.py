"""docs/reference.md is what the schemas say: regenerate it when a schema changes."""

import os

from twisted.trial import unittest

from halon.config import reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ReferenceTests(unittest.TestCase):
    def test_pageMatchesTheSchemas(self):
        with open(os.path.join(ROOT, "docs", "reference.md")) as f:
            committed = f.read()
        self.assertEqual(committed, reference.render(), "run: python -m halon.config.reference > docs/reference.md")

    def test_everyFieldOfTheRunningConfigurationIsListed(self):
        page = reference.render()
        for field in ("`servers[].phases.eod.hook`", "`scripting.timeout`", "`resolver.servers`", "`transportgroups[].retry`"):
            self.assertIn(field, page)
