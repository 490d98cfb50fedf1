"""
`make bench` / `python -m bench [name ...]`: runs every benchmark package
under bench/ (or the named ones) one after the other, each printing its own
side-by-side table.
"""

import importlib
import os
import pkgutil
import runpy
import sys


def available():
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.ispkg)


def main(argv):
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        sys.stderr.write("unknown benchmark: %s (have: %s)\n" % (", ".join(unknown), ", ".join(available())))
        return 2
    for name in names:
        print("== bench/%s" % (name,), flush=True)
        importlib.invalidate_caches()
        sys.argv = ["bench/" + name]  # each benchmark parses its own arguments, none from here
        try:
            runpy.run_module("bench." + name, run_name="__main__")
        except SystemExit as e:
            if e.code not in (None, 0):
                print("bench/%s exited with %s" % (name, e.code), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
