"""
dlpd scanning a 10 MB message with 20 attachments (target: under 1 s).

    python -m bench.dlpd

The message mixes what mail carries: prose documents, PDFs, zips holding
documents and a nested zip, images and opaque binaries, with card numbers
and IBANs sprinkled in.  Timed twice: the scanner alone, and a full request
over dlpd's IPC socket to a dlpd in its own process.
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from halon.dlpd.protocol import DLPClient
from halon.dlpd.rules import compile_rules
from halon.dlpd.scanner import Scanner
from tests.dlpd import samples

RULES = [
    {"id": "CARDS", "cards": True},
    {"id": "IBAN", "iban": True},
    {"id": "CONFIDENTIAL", "keywords": ["strictly confidential", "project falcon", "internal only"]},
    {"id": "SSN", "regex": [r"\b\d{3}-\d{2}-\d{4}\b"]},
    {"id": "EXECUTABLE", "mimetype": ["^application/x-(dosexec|executable|pie-executable|sharedlib)$"]},
    {"id": "SCRIPTS", "filename": [r"\.(exe|bat|js|vbs|scr)$"]},
    {"id": "LARGE", "size": {"min": 5000000}},
]

DLPD = r"""
import sys, json
from twisted.internet import reactor
from halon.dlpd.service import DlpdService
from halon.stats import Stats
startup = {"environment": {"socket": {"path": sys.argv[1]}, "tmpdir": sys.argv[2]}}
dlpd = DlpdService(reactor, startup, {"rules": json.loads(sys.argv[3])}, Stats())
dlpd.startService()
reactor.addSystemEventTrigger("before", "shutdown", dlpd.stopService)
reactor.run()
"""

WORDS = (
    "the quarterly report shows revenue growth across all regions and the board approved "
    "the budget for next year including invoices orders 2024 12 31 payment due on receipt"
).split()


def prose(rng, size):
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12))
        if rng.random() < 0.01:
            line += " card " + samples.VISA + " iban " + samples.IBAN_DE
        out.append(line)
        n += len(line) + 1
    return "\n".join(out).encode()[:size]


def build(rng):
    attachments = []
    for i in range(20):
        kind = i % 5
        if kind == 0:
            attachments.append(("report%d.txt" % i, prose(rng, 700000), "text/plain"))
        elif kind == 1:
            attachments.append(("invoice%d.pdf" % i, samples.pdf(prose(rng, 600000).decode()), "application/pdf"))
        elif kind == 2:
            inner = samples.zip_of({"notes.txt": prose(rng, 500000), "deep.zip": samples.zip_of({"a.txt": prose(rng, 100000)})})
            attachments.append(("archive%d.zip" % i, inner, "application/zip"))
        elif kind == 3:
            attachments.append(("photo%d.png" % i, samples.png(256, 256) + os.urandom(450000), "image/png"))
        else:
            attachments.append(("data%d.bin" % i, os.urandom(450000), "application/octet-stream"))
    return samples.message(prose(rng, 20000).decode(), attachments)


def main():
    rng = random.Random(7)
    message = build(rng)
    folder = tempfile.mkdtemp(prefix="hbd")
    try:
        rules = compile_rules(RULES)
        scanner = Scanner(os.path.join(folder, "tmp"))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            result = scanner.scan(message, rules)
            times.append(time.perf_counter() - start)
        print("dlpd: %.1f MB message, 20 attachments, %d parts and files scanned, %d matches (target < 1 s)"
              % (len(message) / 1e6, result.items, len(result.matches)))
        print("  scanner alone:      best %.3f s, worst %.3f s" % (min(times), max(times)))
        import json

        path = os.path.join(folder, "dlpd.sock")
        proc = subprocess.Popen(
            [sys.executable, "-c", DLPD, path, os.path.join(folder, "tmp2"), json.dumps(RULES)],
            env=dict(os.environ, PYTHONPATH=os.getcwd()),
        )
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.02)
            client = DLPClient(path)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                client.scan(message, {})
                times.append(time.perf_counter() - start)
            client.close()
            print("  over the IPC socket: best %.3f s, worst %.3f s" % (min(times), max(times)))
        finally:
            proc.terminate()
            proc.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


main()
