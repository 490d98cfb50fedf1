"""
CPU per message of two or more source trees of this project, measured at
the same time: each tree's `twistd halon-smtpd` (bench/smtp's config) is
driven by its own smtp-source, all at once, so that whatever else the
machine runs weighs on every tree alike.  Runs of one tree after the other
on a shared machine differ by more than most changes do.

    python -m bench.smtp.compare [--workers 1] [--sessions 10]
                                 [--messages 2000] [--rounds 5] TREE TREE...

A TREE is a checkout of the project (e.g. a `git worktree` of an older
commit) with its generated protobuf modules.  Prints each round's CPU
ms/msg (every process of the tree's server) and the medians.
"""

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time


def _bench_module(tree):
    """The tree's own bench/smtp module, with the tree as the server's PYTHONPATH."""
    spec = importlib.util.spec_from_file_location(
        "bench_smtp_%d" % abs(hash(tree)), os.path.join(tree, "bench", "smtp", "__main__.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, tree)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(tree)
    module.ROOT = tree
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.smtp.compare")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("trees", nargs="+")
    args = parser.parse_args(argv)
    trees = [os.path.abspath(t) for t in args.trees]
    servers = []
    workdirs = []
    try:
        for tree in trees:
            module = _bench_module(tree)
            workdir = tempfile.mkdtemp(prefix="bench-compare-")
            workdirs.append(workdir)
            ours = module.Ours(workdir, lambda folder, port, m=module: m.write_config(folder, port, args.workers))
            servers.append((tree, module, ours))
        for tree, module, ours in servers:
            ours.wait_workers(args.workers)
            module.smtp_source(ours.port, args.sessions, 200, 4096)
        used = {tree: [] for tree in trees}
        for n in range(args.rounds):
            before = {tree: ours.cpu(with_workers=True) for tree, _m, ours in servers}
            runs = [
                threading.Thread(target=module.smtp_source, args=(ours.port, args.sessions, args.messages, 4096))
                for _t, module, ours in servers
            ]
            for run in runs:
                run.start()
            for run in runs:
                run.join()
            time.sleep(0.5)
            for tree, _m, ours in servers:
                used[tree].append((ours.cpu(with_workers=True) - before[tree]) * 1000.0 / args.messages)
            print("round %d: %s" % (n + 1, "  ".join("%.2f" % used[tree][-1] for tree in trees)), flush=True)
        for tree in trees:
            print("%-40s median %.2f ms/msg (%s)" % (tree, statistics.median(used[tree]), ", ".join("%.2f" % u for u in used[tree])))
    finally:
        for _tree, _module, ours in servers:
            ours.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
