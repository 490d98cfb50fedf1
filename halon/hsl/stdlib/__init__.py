"""
The HSL standard library: one module per family, each registering into
C{core}.  Every module in this package is imported when the package is, so
adding a family is adding a file.
"""

import importlib
import pkgutil

from halon.hsl.stdlib._library import Entry, Library

core = Library("core")

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(__name__ + "." + _module.name)

__all__ = ["core", "Library", "Entry"]
