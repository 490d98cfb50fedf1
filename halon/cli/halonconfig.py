"""
halonconfig: check and pack a configuration folder into dist/.

    $ cd myconfig            # src/config/*.yaml, src/hooks/..., src/files/...
    $ halonconfig
    $ sudo cp dist/* /etc/halon/ && halonctl config reload

Problems are printed one per line (C{file:line:column: reason} for
scripts and YAML syntax, C{file: path: reason} for configuration values)
and nothing is written when there is any.  The folder layout is described
in L{halon.config.pack} and docs/config.md.
"""

import argparse
import os
import sys

from halon.config import pack


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="halonconfig",
        description="Validate a configuration folder (src/config, src/hooks, src/files) and pack it into dist/.",
    )
    parser.add_argument("folder", nargs="?", default=".", help="the configuration folder (default: the current directory)")
    parser.add_argument("--schema-dir", metavar="DIR", help="validate against the *.schema.json files in DIR")
    parser.add_argument("--no-check-hsl", action="store_true", help="do not compile the HSL scripts")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.schema_dir is not None and not os.path.isdir(args.schema_dir):
        sys.stderr.write("halonconfig: --schema-dir %s: no such folder\n" % (args.schema_dir,))
        return 2
    packer = pack.Packer(args.folder, schema_dir=args.schema_dir, check_hsl=not args.no_check_hsl)
    output = packer.pack()
    if output is None:
        for problem in packer.problems:
            sys.stderr.write("%s\n" % (problem,))
        sys.stderr.write("halonconfig: %d problem%s, nothing written\n" % (len(packer.problems), "" if len(packer.problems) == 1 else "s"))
        return 1
    for path in pack.write(args.folder, output):
        sys.stdout.write("%s\n" % (os.path.relpath(path),))
    return 0


if __name__ == "__main__":
    sys.exit(main())
