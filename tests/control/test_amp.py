"""The control protocol over real Unix sockets: chunked protobuf arguments, errors, unknown calls, and pages."""

import random
import string

from twisted.internet import defer, reactor, task, threads
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.protocols import amp
from twisted.trial import unittest

from halon.control import commands
from halon.control.client import CallError, ControlClient
from halon.control.commands import ControlError, Protobuf
from halon.control.pb import control_pb2, smtpd_pb2
from halon.control.service import Paged
from tests.control.helpers import serve

TEN_MB = 10 * 1024 * 1024


def random_text(size):
    rng = random.Random(size)
    block = "".join(rng.choice(string.ascii_letters) for _ in range(65536))
    return (block * (size // len(block) + 1))[:size - 1] + "!"


def echo(request):
    """HSLMemoryFetch that answers with the key as the value: the payload goes both ways."""
    return smtpd_pb2.HSLMemoryResponse(found=True, value=request.key)


async def connect(path):
    return await connectProtocol(UNIXClientEndpoint(reactor, path), amp.AMP())


class ArgumentTests(unittest.SynchronousTestCase):
    def test_protobufArgumentChunksIntoNumberedKeys(self):
        """Protobuf.toBox spreads a large message over request, request.2 ...; fromBox rebuilds it."""
        argument = Protobuf("smtpd.HSLMemoryRequest")
        message = smtpd_pb2.HSLMemoryRequest(key="k" * 300000)
        strings = {}
        argument.toBox(b"request", strings, {"request": message}, None)
        self.assertEqual(sorted(strings), [b"request", b"request.2", b"request.3", b"request.4", b"request.5"])
        objects = {}
        argument.fromBox(b"request", dict(strings), objects, None)
        self.assertEqual(objects["request"], message)

    def test_protobufArgumentRefusesTheWrongMessage(self):
        """Sending a message of another type is a programming error caught before the wire."""
        with self.assertRaises(TypeError):
            Protobuf("smtpd.HSLMemoryRequest").toBox(b"request", {}, {"request": control_pb2.ProcessStatsRequest()}, None)


class RoundTripTests(unittest.TestCase):
    def setUp(self):
        self.control = serve(self, {"HSLMemoryFetch": echo})

    async def test_tenMegabytesBetweenTwistedPeers(self):
        """A 10 MB request and a 10 MB response cross a real Unix socket between two AMP peers intact."""
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        key = random_text(TEN_MB)
        response = await commands.call_remote(client, commands.HSLMemoryFetch, smtpd_pb2.HSLMemoryRequest(key=key))
        self.assertEqual(len(response.value), TEN_MB)
        self.assertEqual(response.value, key)

    def test_tenMegabytesWithTheBlockingClient(self):
        """halonctl's blocking client sends and receives 10 MB through the same chunking."""
        key = random_text(TEN_MB)

        def call():
            with ControlClient(self.control.path, timeout=30) as client:
                return client.call("HSLMemoryFetch", smtpd_pb2.HSLMemoryRequest(key=key))

        d = threads.deferToThread(call)
        d.addCallback(lambda response: self.assertEqual(response.value, key))
        return d


class ErrorTests(unittest.TestCase):
    def setUp(self):
        def refuse(request):
            raise ControlError("/etc/halon/smtpd-app.yaml: servers[0].listeners: required")

        def broken(request):
            raise KeyError("nothing")

        def later(request):
            return task.deferLater(reactor, 0, control_pb2.ProcessStatsResponse)

        self.control = serve(
            self, {"ConfigReload": refuse, "QueueUpdate": broken, "ProcessStats": later}, program="smtpd"
        )

    async def call_error(self, command, request):
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        with self.assertRaises(ControlError) as caught:
            await client.callRemote(command, request=request)
        return caught.exception

    async def test_handlerErrorTravelsWithItsMessage(self):
        """A ControlError raised by a handler reaches the caller as a ControlError with the same message."""
        error = await self.call_error(commands.ConfigReload, control_pb2.ConfigReloadRequest())
        self.assertEqual(str(error), "/etc/halon/smtpd-app.yaml: servers[0].listeners: required")

    async def test_unregisteredCallNamesProgramAndCommand(self):
        """A call this daemon has no handler for is refused, naming the program and the halonctl command."""
        error = await self.call_error(commands.HSLCacheList, smtpd_pb2.HSLCacheRequest())
        self.assertEqual(str(error), "smtpd does not implement 'hsl cache list' (HSLCacheList)")

    def test_unknownCommandIsRefused(self):
        """A command that is no control call at all gets a clear error on the blocking client."""

        def call():
            client = ControlClient(self.control.path, timeout=10)
            try:
                return client._ask("Bogus", [])
            finally:
                client.close()

        d = threads.deferToThread(call)
        self.assertFailure(d, CallError)
        d.addCallback(lambda e: self.assertEqual(str(e), "unknown control command 'Bogus'"))
        return d

    async def test_internalErrorIsLoggedAndConnectionLives(self):
        """A handler's bug is logged with its traceback, answered as an internal error, and the connection keeps working."""
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        with self.assertRaises(ControlError) as caught:
            await client.callRemote(commands.QueueUpdate, request=smtpd_pb2.QueueUpdateRequest())
        self.assertEqual(str(caught.exception), "internal error: KeyError: 'nothing'")
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        answer = await client.callRemote(commands.ProcessStats, request=control_pb2.ProcessStatsRequest())
        self.assertEqual(answer["response"], control_pb2.ProcessStatsResponse())


class PagingTests(unittest.TestCase):
    def setUp(self):
        self.produced = 0
        self.closed = defer.Deferred()
        self.control = serve(self, {"QueueList": self.listing}, page_bytes=64 * 1024)

    def listing(self, request):
        def items():
            try:
                for i in range(int(request.limit)):
                    self.produced += 1
                    yield smtpd_pb2.QueueMessage(id="m%d:1" % i, recipient="r" * 1000)
            finally:
                self.closed.callback(None)

        return Paged(smtpd_pb2.QueueListResponse(fields=["id", "recipient"]), items())

    async def test_pagesArriveInOrderAndMerge(self):
        """A 3 MB listing comes in pages of about 64 KiB that merge back into every item, in order."""
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        pages = []
        await commands.call_remote(client, commands.QueueList, smtpd_pb2.QueueListRequest(limit=3000), pages.append)
        self.assertGreater(len(pages), 40)
        self.assertEqual(list(pages[0].fields), ["id", "recipient"])
        self.assertEqual([list(p.fields) for p in pages[1:]], [[]] * (len(pages) - 1))
        ids = [m.id for p in pages for m in p.messages]
        self.assertEqual(ids, ["m%d:1" % i for i in range(3000)])
        self.assertTrue(all(p.ByteSize() < 70 * 1024 for p in pages))

    async def test_daemonBuildsOnlyThePagesAskedFor(self):
        """After the first page the handler's iterator has been read one page (plus one item) deep, no further."""
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        answer = await client.callRemote(commands.QueueList, request=smtpd_pb2.QueueListRequest(limit=3000))
        per_page = len(answer["response"].messages)
        self.assertEqual(self.produced, per_page + 1)
        await client.callRemote(commands.NextPage, cursor=answer["cursor"])
        self.assertEqual(self.produced, 2 * per_page + 1)

    async def test_disconnectClosesTheIterator(self):
        """A client that leaves after the first page releases the daemon's iterator (its finally runs)."""
        client = await connect(self.control.path)
        answer = await client.callRemote(commands.QueueList, request=smtpd_pb2.QueueListRequest(limit=3000))
        self.assertIsNotNone(answer["cursor"])
        client.transport.loseConnection()
        await self.closed
        self.assertLess(self.produced, 3000)

    async def test_unknownCursorIsAnError(self):
        """Asking for a page of a cursor that is not open is refused with a message."""
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        with self.assertRaises(ControlError) as caught:
            await client.callRemote(commands.NextPage, cursor="41")
        self.assertIn("no such page cursor '41'", str(caught.exception))

    async def test_smallAnswerHasNoCursor(self):
        """An answer that fits one page comes whole, without a cursor to follow."""
        client = await connect(self.control.path)
        self.addCleanup(client.transport.loseConnection)
        answer = await client.callRemote(commands.QueueList, request=smtpd_pb2.QueueListRequest(limit=5))
        self.assertEqual(len(answer["response"].messages), 5)
        self.assertIsNone(answer.get("cursor"))
        await self.closed


class StreamingTests(unittest.TestCase):
    """A 50 MB listing streams through halonctl --json: the client holds a page at a time, not the answer."""

    async def test_fiftyMegabytesKeepTheClientSmall(self):
        import os
        import sys

        from twisted.internet import utils

        count = 50 * 1024

        def listing(request):
            def items():
                for i in range(count):
                    yield smtpd_pb2.QueueMessage(id="m%d:1" % i, recipient="r" * 1000)

            return Paged(smtpd_pb2.QueueListResponse(fields=["id", "recipient"]), items())

        control = serve(self, {"QueueList": listing})
        script = (
            "import sys\n"
            "from halon.cli.halonctl import main\n"
            "class Count:\n"
            "    n = 0\n"
            "    def write(self, text):\n"
            "        self.n += len(text)\n"
            "    def flush(self):\n"
            "        pass\n"
            "out = sys.stdout = Count()\n"
            "code = main(['queue', 'list', '--json', '--limit', '%d', '--socket', sys.argv[1]])\n"
            "peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
            "sys.__stdout__.write('%%d %%s %%s\\n' %% (out.n, peak, code))\n"
        ) % (count,)
        out, err, code = await utils.getProcessOutputAndValue(
            sys.executable, ["-c", script, control.path], env=dict(os.environ), reactor=reactor
        )
        self.assertEqual(code, 0, err)
        written, peak_kib, status = out.split()
        self.assertIn(status, (b"0", b"None"))
        self.assertGreater(int(written), 50 * 1024 * 1024)
        # The interpreter, Twisted and protobuf take about 30 MiB; the answer is more than 50.
        # (VmHWM, not ru_maxrss: the latter keeps the forking test process's size across exec.)
        self.assertLess(int(peak_kib), 80 * 1024, "halonctl peaked at %d KiB" % int(peak_kib))
