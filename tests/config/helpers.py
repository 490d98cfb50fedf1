"""What the configuration tests share: files written into a temp folder."""

import os
import textwrap

from halon.config import hsl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "docs", "examples")
SCHEMAS = os.path.join(ROOT, "schemas")


def write(folder, name, text, mode="w"):
    """Write C{text} (dedented when str) to C{folder}/C{name}, creating folders; the path."""
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(textwrap.dedent(text) if isinstance(text, str) else text)
    return path


def folder(testcase):
    path = os.path.abspath(testcase.mktemp())
    os.makedirs(path)
    return path


def needs_hsl(testcase):
    """Skip a test that compiles scripts until the language package provides check_syntax."""
    if not hsl.available():
        testcase.skipTest("halon.hsl.check_syntax is not available yet")
