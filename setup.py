"""
Packaging for Halon on Twisted.

Two kinds of files are generated here rather than committed: the protobuf
modules compiled from proto/ (the control API's single source of truth) and
the PLY parse table of the HSL grammar.  Both are produced by build_py, which
setuptools also runs for editable installs, so `pip install -e .` and a wheel
build end up with the same package.
"""

import glob
import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class build_generated(build_py):
    """build_py that first generates the protobuf modules and the parse table."""

    def run(self):
        target = HERE if getattr(self, "editable_mode", False) else self.build_lib
        self._generate_protobuf(target)
        self._generate_parsetab(target)
        super().run()

    def _generate_protobuf(self, target):
        from grpc_tools import protoc
        import grpc_tools

        protos = sorted(glob.glob(os.path.join(HERE, "proto", "halon", "*.proto")))
        if not protos:
            return
        out = os.path.join(target, "halon", "control", "pb")
        os.makedirs(out, exist_ok=True)
        include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        # proto/halon/x.proto is imported as "halon/x.proto", so the generated
        # modules land in halon/control/pb/halon/... unless we map the root.
        args = [
            "protoc",
            "-I" + os.path.join(HERE, "proto", "halon"),
            "-I" + include,
            "--python_out=" + out,
        ] + protos
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed on " + " ".join(protos))
        _relative_imports(out)

    def _generate_parsetab(self, target):
        if not os.path.exists(os.path.join(HERE, "halon", "hsl", "parser.py")):
            return
        sys.path.insert(0, HERE)
        try:
            from halon.hsl import parser

            parser.write_tables(os.path.join(target, "halon", "hsl"))
        finally:
            sys.path.remove(HERE)


def _relative_imports(folder):
    """protoc writes `import x_pb2`; inside a package that must be `from . import x_pb2`."""
    names = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(folder, "*_pb2.py"))}
    for name in names:
        path = os.path.join(folder, name + ".py")
        with open(path) as f:
            lines = f.readlines()
        changed = False
        for i, line in enumerate(lines):
            for other in names:
                if line.startswith("import %s as " % other) or line.strip() == "import " + other:
                    lines[i] = "from . " + line
                    changed = True
        if changed:
            with open(path, "w") as f:
                f.writelines(lines)


setup(
    name="halon-twisted",
    version="0.1.0",
    description="The Halon MTA reimplemented as an event-driven Twisted framework",
    python_requires=">=3.11",
    packages=find_packages(include=["halon", "halon.*"]) + ["twisted.plugins"],
    package_data={"twisted.plugins": ["halon_*.py"], "halon": ["schemas/*.json"]},
    include_package_data=True,
    data_files=[("share/halon/schemas", glob.glob("schemas/*.json"))],
    install_requires=[
        "Twisted>=24.3",
        "service-identity>=24.1",
        "pyOpenSSL>=24.0",
        "PyYAML>=6.0",
        "jsonschema>=4.20",
        "ply==3.11",
        "protobuf>=5.27",
        "python-magic>=0.4.27",
        "idna>=3.6",
        "dkimpy>=1.1.5",
        "pynacl>=1.5",
        "authres>=1.2",
        "pyspf>=2.0.14",
        "dnspython>=2.6",
        "prometheus-client>=0.17",
    ],
    extras_require={
        "test": ["hypothesis>=6.100"],
    },
    entry_points={
        "console_scripts": [
            "hsh = halon.cli.hsh:main",
            "halonctl = halon.cli.halonctl:main",
            "halonconfig = halon.cli.halonconfig:main",
        ],
    },
    # Optional: without a C compiler json_encode/json_decode take the
    # pure-Python path in halon/hsl/stdlib/data.py (same results, slower).
    # halon/queue/_spoolio.c likewise: without it the spool's commit thread
    # is ThreadFlusher in halon/queue/spool.py (same results, longer waits).
    ext_modules=[
        Extension("halon.hsl._jsonspeedups", ["halon/hsl/_jsonspeedups.c"], optional=True),
        Extension("halon.queue._spoolio", ["halon/queue/_spoolio.c"], optional=True),
    ],
    cmdclass={"build_py": build_generated},
    zip_safe=False,
)
