"""What the queue tests share: records built in memory, short temp folders."""

import os
import shutil
import tempfile

from halon.queue import states
from halon.queue.index import Message, Recipient


def make_message(uuid, sender="alice@example.org", recipients=("bob@example.com",), ts=1000.0, transportid="mx",
                 state=states.ACTIVE, jobid="", size=100, **kwargs):
    """A L{Message} with one L{Recipient} per address, numbered from 1."""
    message = Message(uuid, sender, ts, size=size, jobid=jobid, **kwargs)
    for n, address in enumerate(recipients, 1):
        message.recipients.append(Recipient(message, n, address, transportid, state=state))
    return message


def tempdir(testcase, prefix="hq"):
    path = tempfile.mkdtemp(prefix=prefix)
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path
