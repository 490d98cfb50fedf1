"""
The I/O-free pieces byte by byte: the DATA reader, path and parameter
parsing, the PROXY header, SASL exchanges, replies, the connection
limiter; and the protocol's timeouts and shutdown on a task.Clock.
"""

import base64
import errno
import os

from twisted.internet import defer, reactor, task
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from halon.queue import spool as spool_files
from halon.smtpd.data import BAD_END, DONE, DataReader
from halon.smtpd.envelope import Address, PathError, new_id, parse_path
from halon.smtpd.hooks import Hooks, QueueStager
from halon.smtpd.limits import ConnectionLimiter
from halon.smtpd.proxyproto import Networks, ProxyError, parse_header
from halon.smtpd.replies import R, Reply
from halon.smtpd.sasl import SASLExchange
from halon.smtpd.server import SMTPServer
from tests.smtpd.helpers import QueueAll, settings


def read_all(chunks, max_size=1 << 20, max_line=1000):
    reader = DataReader(max_size, max_line)
    for i, chunk in enumerate(chunks):
        status, rest = reader.feed(chunk)
        if status is not None:
            return reader, status, rest + b"".join(chunks[i + 1 :])
    return reader, None, b""


class DataReaderTests(unittest.TestCase):
    def test_end_and_what_follows(self):
        reader, status, rest = read_all([b"a\r\nb\r\n.\r\nQUIT\r\n"])
        self.assertEqual((status, rest, reader.message()), (DONE, b"QUIT\r\n", b"a\r\nb\r\n"))

    def test_empty_message(self):
        reader, status, _ = read_all([b".\r\n"])
        self.assertEqual((status, reader.message()), (DONE, b""))

    def test_every_split_of_the_end(self):
        data = b"Subject: x\r\n\r\n..dot\r\nline\r\n.\r\nNEXT"
        for cut in range(1, len(data)):
            reader, status, rest = read_all([data[:cut], data[cut:]])
            self.assertEqual((status, rest, reader.message()), (DONE, b"NEXT", b"Subject: x\r\n\r\n.dot\r\nline\r\n"), cut)

    def test_byte_by_byte(self):
        data = b"a\r\n.\r\n"
        reader, status, rest = read_all([data[i : i + 1] for i in range(len(data))])
        self.assertEqual((status, reader.message()), (DONE, b"a\r\n"))

    def test_smuggling_shapes_are_refused(self):
        for data in (b"a\n.\nMAIL", b"a\r\n.\nMAIL", b"a\n.\r\nMAIL"):
            _, status, _ = read_all([data])
            self.assertEqual(status, BAD_END, data)

    def test_dot_lines_that_are_not_the_end(self):
        reader, status, _ = read_all([b".a\r\n..\r\n. \r\n.\r\n"])
        self.assertEqual((status, reader.message()), (DONE, b"a\r\n.\r\n \r\n"))

    def test_bare_cr_is_kept(self):
        reader, status, _ = read_all([b"a\rb\r\n.\r\n"])
        self.assertEqual(reader.message(), b"a\rb\r\n")

    def test_oversize_stops_storing_but_reads_to_the_end(self):
        reader, status, rest = read_all([b"x" * 50 + b"\r\n", b"y" * 50 + b"\r\n.\r\nQUIT\r\n"], max_size=60)
        self.assertEqual((status, rest, reader.oversize, reader.message()), (DONE, b"QUIT\r\n", True, b""))

    def test_long_line_without_an_end(self):
        reader, status, _ = read_all([b"z" * 3000, b"z" * 3000, b"\r\n.\r\n"], max_line=1000)
        self.assertEqual(status, DONE)
        self.assertTrue(reader.line_too_long)


class PathTests(unittest.TestCase):
    def test_addresses(self):
        self.assertEqual(parse_path(b"FROM:<a@b.c> SIZE=10 BODY=8BITMIME", b"FROM", True), (Address(b"a", b"b.c"), {b"SIZE": b"10", b"BODY": b"8BITMIME"}))
        self.assertEqual(parse_path(b"from: <>", b"FROM", True)[0], Address())
        self.assertEqual(parse_path(b"TO:<@relay.test:u@d.test>", b"TO", False)[0], Address(b"u", b"d.test"))
        self.assertEqual(parse_path(b'TO:<"a b@c"@d.test>', b"TO", False)[0], Address(b'"a b@c"', b"d.test"))
        self.assertEqual(parse_path(b"TO:<Postmaster>", b"TO", False)[0], Address(b"Postmaster", b""))
        self.assertEqual(parse_path(b"TO:<u@[192.0.2.1]>", b"TO", False)[0], Address(b"u", b"[192.0.2.1]"))
        self.assertEqual(parse_path(b"FROM:a@b.c", b"FROM", True)[0], Address(b"a", b"b.c"))

    def test_bad_paths(self):
        for argument, keyword, null in (
            (b"FROM <a@b.c>", b"FROM", True),
            (b"TO:<>", b"TO", False),
            (b"TO:<a@b.c", b"TO", False),
            (b"TO:<a@b.c>x", b"TO", False),
            (b"TO:<ab.c>", b"TO", False),
            (b"TO:<a b@c.d>", b"TO", False),
            (b"TO:<a@b..c>", b"TO", False),
            (b"TO:<a@b.c> =1", b"TO", False),
            (b"TO:<a@" + b"x" * 600 + b">", b"TO", False),
        ):
            self.assertRaises(PathError, parse_path, argument, keyword, null)

    def test_address_parse_for_scripts(self):
        self.assertEqual(Address.parse(b'"x@y"@z.test'), Address(b'"x@y"', b"z.test"))
        self.assertEqual(Address(b"A", b"B.test").lower(), b"a@b.test")


class ProxyHeaderTests(unittest.TestCase):
    def test_headers(self):
        header = parse_header(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 25")
        self.assertEqual((header.source_ip, header.source_port, header.dest_port), ("2001:db8::1", 1, 25))
        self.assertIsNone(parse_header(b"PROXY UNKNOWN").source_ip)
        for bad in (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 ",
            b"PROXY TCP4 ::1 5.6.7.8 1 2",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 70000",
            b"HELO x",
        ):
            self.assertRaises(ProxyError, parse_header, bad)

    def test_networks(self):
        networks = Networks(["10.0.0.0/8", "::1"])
        self.assertIn("10.1.2.3", networks)
        self.assertIn("::ffff:10.1.2.3", networks)
        self.assertIn("::1", networks)
        self.assertNotIn("11.0.0.1", networks)
        self.assertNotIn("garbage", networks)


class SASLTests(unittest.TestCase):
    def test_plain(self):
        exchange = SASLExchange(b"PLAIN")
        self.assertEqual(exchange.start(None), ("challenge", b""))
        self.assertEqual(exchange.respond(base64.b64encode(b"authz\0u\0p")), ("ask", None))
        self.assertEqual((exchange.username, exchange.password), (b"u", b"p"))

    def test_login(self):
        exchange = SASLExchange(b"LOGIN")
        self.assertEqual(exchange.start(base64.b64encode(b"u")), ("challenge", b"Password:"))
        self.assertEqual(exchange.respond(base64.b64encode(b"p")), ("ask", None))
        self.assertEqual((exchange.username, exchange.password), (b"u", b"p"))

    def test_errors(self):
        self.assertEqual(SASLExchange(b"PLAIN").start(b"!!"), ("error", R.AUTH_BAD_BASE64))
        self.assertEqual(SASLExchange(b"PLAIN").start(base64.b64encode(b"nonul")), ("error", R.AUTH_BAD_BASE64))
        exchange = SASLExchange(b"LOGIN")
        exchange.start(None)
        self.assertEqual(exchange.respond(b"*"), ("error", R.AUTH_ABORTED))

    def test_custom_mechanism_counts_hook_replies(self):
        exchange = SASLExchange(b"X-TOKEN")
        self.assertEqual(exchange.start(base64.b64encode(b"first")), ("ask", None))
        self.assertEqual((exchange.response, exchange.state), (b"first", 0))
        exchange.hook_replied()
        self.assertEqual(exchange.respond(base64.b64encode(b"second")), ("ask", None))
        self.assertEqual((exchange.response, exchange.state), (b"second", 1))


class ReplyTests(unittest.TestCase):
    def test_wire_form(self):
        self.assertEqual(R.SENDER_OK.to_bytes(), b"250 2.1.0 Sender ok\r\n")
        self.assertEqual(Reply(250, None, [b"a", b"b"]).to_bytes(), b"250-a\r\n250 b\r\n")
        self.assertEqual(Reply(550, (5, 0, 0), b"x\r\ny").to_bytes(), b"550-5.0.0 x\r\n550 5.0.0 y\r\n")

    def test_custom_codes_keep_the_class_consistent(self):
        self.assertEqual(Reply.custom(R.RCPT_REJECT, None, 451), Reply(451, (4, 7, 1), "Recipient rejected"))
        self.assertEqual(Reply.custom(R.RCPT_REJECT, [b"no"], 550, (5, 1, 1)), Reply(550, (5, 1, 1), "no"))


class LimiterTests(unittest.TestCase):
    def test_limits_and_move(self):
        limiter = ConnectionLimiter(max_total=3, max_per_ip=2)
        self.assertIsNone(limiter.acquire("a"))
        self.assertIsNone(limiter.acquire("a"))
        self.assertEqual(limiter.acquire("a"), "remoteip")
        self.assertIsNone(limiter.acquire("b"))
        self.assertEqual(limiter.acquire("c"), "total")
        self.assertIsNone(limiter.move("b", "c"))
        self.assertEqual((limiter.count("b"), limiter.count("c"), limiter.count()), (0, 1, 3))
        self.assertEqual(limiter.move("c", "a"), "remoteip")
        limiter.release("a")
        limiter.release("a")
        limiter.release("c")
        self.assertEqual((limiter.total, limiter.per_ip), (0, {}))


class StagerTests(unittest.TestCase):
    def test_versions_get_their_own_uuid(self):
        stager = QueueStager("tid")
        a = stager.stage(b"v1", Address(b"s", b"d"), Address(b"r1", b"d"), "mx")
        b = stager.stage(b"v1", Address(b"s", b"d"), Address(b"r2", b"d"), "mx")
        c = stager.stage(b"v2", Address(b"s", b"d"), Address(b"r3", b"d"), "mx")
        d = stager.stage(b"v1", Address(b"s", b"d"), Address(b"r4", b"d"), "mx")
        self.assertEqual([e.uuid for e in (a, b, d)], ["tid"] * 3)
        self.assertNotEqual(c.uuid, "tid")
        self.assertEqual([e.index for e in (a, b, c, d)], [0, 1, 2, 3])


class _InMemory:
    """A protocol on a Clock and an in-memory transport."""

    def connect(self, hooks=None, committer=None, **kw):
        clock = task.Clock()
        server = SMTPServer(settings(**kw), lambda session: hooks or Hooks(), committer, clock)
        protocol = server.buildProtocol(None)
        transport = StringTransport(peerAddress=_Address("192.0.2.9", 4000), hostAddress=_Address("192.0.2.1", 25))
        protocol.makeConnection(transport)
        return clock, server, protocol, transport


class ClockTests(_InMemory, unittest.TestCase):
    """Timeouts and shutdown."""

    def test_idle_timeout_closes_with_421(self):
        clock, server, protocol, transport = self.connect(idle_timeout=60)
        self.assertTrue(transport.value().startswith(b"220 "))
        clock.advance(59)
        self.assertFalse(transport.disconnecting)
        protocol.dataReceived(b"NOOP\r\n")
        clock.advance(59)
        self.assertFalse(transport.disconnecting)
        clock.advance(2)
        self.assertTrue(transport.value().endswith(b"421 4.4.2 Timeout, closing connection\r\n"))
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(_done())
        self.assertEqual(server.limiter.total, 0)

    def test_per_state_timeout(self):
        clock, server, protocol, transport = self.connect(idle_timeout=300, state_timeouts={"MAIL": 10})
        protocol.dataReceived(b"HELO x\r\nMAIL FROM:<a@b.c>\r\n")
        clock.advance(11)
        self.assertTrue(transport.disconnecting)

    def test_no_timeout_while_a_hook_decides(self):
        pending = defer.Deferred()

        class Slow(Hooks):
            def helo(self, session, verb, host, extensions):
                return pending

        clock, server, protocol, transport = self.connect(hooks=Slow(), idle_timeout=30)
        protocol.dataReceived(b"HELO x\r\nNOOP\r\n")
        clock.advance(100)
        self.assertFalse(transport.disconnecting)
        from halon.smtpd.hooks import Decision

        pending.callback(Decision.accept())
        self.assertTrue(transport.value().endswith(b"250 mx.test\r\n250 2.0.0 Ok\r\n"))

    def test_shutdown_between_commands_and_after_the_current_one(self):
        clock, server, protocol, transport = self.connect()
        server.shutdown()
        self.assertTrue(transport.value().endswith(b"421 4.3.2 Service shutting down\r\n"))
        pending = defer.Deferred()

        class Slow(Hooks):
            def mailfrom(self, session, address, params):
                return pending

        clock, server, protocol, transport = self.connect(hooks=Slow())
        protocol.dataReceived(b"HELO x\r\nMAIL FROM:<a@b.c>\r\n")
        server.shutdown()
        self.assertFalse(transport.disconnecting)
        from halon.smtpd.hooks import Decision

        pending.callback(Decision.accept())
        self.assertTrue(transport.value().endswith(b"250 2.1.0 Sender ok\r\n421 4.3.2 Service shutting down\r\n"))
        self.assertTrue(transport.disconnecting)

    def test_garbage_never_raises(self):
        clock, server, protocol, transport = self.connect(max_errors=1000)
        for data in (b"\x00\xff\r\n", b"MAIL FROM:<\xff@\xfe>\r\n", b"EHLO \x80\r\n", b"RCPT TO:<" + b"@" * 100 + b">\r\n", b"AUTH \x00\r\n"):
            protocol.dataReceived(data)
        self.assertNotIn(b"451", transport.value())
        self.assertFalse(transport.disconnecting)


class _Committer:
    """Commits that finish when the test says; records what was released and withdrawn."""

    def __init__(self):
        self.pending = []
        self.released = []
        self.withdrawn = []

    def commit(self, session, transaction, entries):
        d = defer.Deferred()
        self.pending.append(d)
        return d

    def release(self, messages):
        self.released += messages

    def withdraw(self, messages):
        self.withdrawn += messages


class CommitTests(_InMemory, unittest.TestCase):
    """What happens to a spooled message depends on whether its 250 went out."""

    ENVELOPE = b"HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nbody\r\n.\r\n"

    def test_released_to_the_queue_after_the_250(self):
        committer = _Committer()
        clock, server, protocol, transport = self.connect(hooks=QueueAll(), committer=committer)
        protocol.dataReceived(self.ENVELOPE + b"NOOP\r\n")
        self.assertNotIn(b"queued", transport.value())
        committer.pending[0].callback(["m"])
        self.assertIn(b"250 2.0.0 Ok: queued as ", transport.value())
        self.assertTrue(transport.value().endswith(b"250 2.0.0 Ok\r\n"))
        self.assertEqual((committer.released, committer.withdrawn), (["m"], []))

    def test_withdrawn_when_the_client_left_before_its_250(self):
        committer = _Committer()
        clock, server, protocol, transport = self.connect(hooks=QueueAll(), committer=committer)
        protocol.dataReceived(self.ENVELOPE)
        protocol.connectionLost(_done())
        committer.pending[0].callback(["m"])
        self.assertEqual((committer.released, committer.withdrawn), ([], ["m"]))

    def test_a_full_disk_is_452(self):
        import errno

        committer = _Committer()
        clock, server, protocol, transport = self.connect(hooks=QueueAll(), committer=committer)
        protocol.dataReceived(self.ENVELOPE)
        committer.pending[0].errback(OSError(errno.ENOSPC, "No space left on device"))
        self.assertTrue(transport.value().endswith(b"452 4.3.1 Insufficient system storage, try again later\r\n"))


class _Address:
    def __init__(self, host, port):
        self.host = host
        self.port = port


def _done():
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    return Failure(ConnectionDone())


class SpoolCommitTests(unittest.TestCase):
    """
    A commit leaves complete files under their final names, or nothing:
    with ThreadFlusher here, with the C flusher in the subclass below.
    """

    flusher = spool_files.ThreadFlusher

    def spool(self, sync):
        path = self.mktemp()
        spool = spool_files.Spool(path, reactor, sync, flusher=self.flusher)
        spool.start()
        self.addCleanup(spool.stop)
        return path, spool

    def commit(self, sync, sizes):
        path, spool = self.spool(sync)
        messages = [
            spool_files.SpoolMessage(new_id(), {"sender": "a@example.com"}, [{"recipient": "b@example.org", "index": 0}], message=b"x" * size)
            for size in sizes
        ]
        d = spool.commit(messages)

        def committed(paths):
            self.assertEqual(paths, [m.path for m in messages])
            for message in messages:
                stored = spool_files.read(message.path, 0)
                self.assertEqual(stored.envelope["sender"], "a@example.com")
                self.assertEqual(stored.read_message(), message.message)
            self.assertEqual([name for name, _ in spool_files.entries(path) if not name.endswith(spool_files.SUFFIX)], [])
            self.assertEqual(spool.committed, len(messages))

        return d.addCallback(committed)

    def test_commit_with_syncfs(self):
        if spool_files._SYNCFS is None:
            raise unittest.SkipTest("no syncfs here")
        return self.commit("syncfs", [4096, 100])

    def test_commit_without_sync(self):
        return self.commit("none", [256 * 1024 + 1])

    def test_fsync_commits(self):
        return self.commit("fsync", [4096])

    def test_a_commit_that_cannot_be_written_leaves_nothing(self):
        path, spool = self.spool("none")
        good = spool_files.SpoolMessage(new_id(), {}, [], message=b"x")
        bad = spool_files.SpoolMessage(good.uuid, {}, [], message=b"y")
        d = spool.commit([good, bad])
        self.assertFailure(d, OSError)
        return d.addCallback(lambda _: self.assertEqual(list(spool_files.entries(path)), []))

    def test_a_commit_that_cannot_be_renamed_leaves_nothing(self):
        path, spool = self.spool("fsync")
        first, second = (spool_files.SpoolMessage(new_id(), {}, [], message=b"m") for _ in range(2))
        os.makedirs(os.path.join(path, second.relative_path()))
        d = spool.commit([first, second])

        def failed(e):
            self.assertEqual(e.errno, errno.EISDIR)
            left = [name for name, _ in spool_files.entries(path)]
            self.assertEqual(left, [second.uuid + spool_files.SUFFIX])
            self.assertEqual(spool.committed, 0)

        return self.assertFailure(d, OSError).addCallback(failed)

    @defer.inlineCallbacks
    def test_many_commits_at_once_each_all_or_nothing(self):
        """
        However the flusher groups them into batches, each commit ends with
        all of its files in place or none, and one whose rename cannot
        succeed fails.
        """
        path, spool = self.spool("syncfs" if spool_files._SYNCFS is not None else "fsync")
        commits = []
        for n in range(60):
            messages = [spool_files.SpoolMessage(new_id(), {}, [], message=b"%d" % n) for _ in range(1 + n % 3)]
            if n % 7 == 3:
                os.makedirs(os.path.join(path, messages[-1].relative_path()))
            commits.append((n, messages))
        results = yield defer.DeferredList([spool.commit(m) for _n, m in commits], consumeErrors=True)
        for (n, messages), (ok, _value) in zip(commits, results):
            if n % 7 == 3:
                self.assertFalse(ok)
            in_place = [os.path.isfile(os.path.join(path, m.relative_path())) for m in messages]
            self.assertEqual(in_place, [ok] * len(messages))
            if ok:
                self.assertEqual([spool_files.read(m.path).read_message() for m in messages], [b"%d" % n] * len(messages))
        self.assertEqual([n for n, _ in spool_files.entries(path) if n.endswith(spool_files.TEMP_SUFFIX)], [])
        self.assertEqual(spool.committed, sum(len(m) for (_n, m), (ok, _v) in zip(commits, results) if ok))

    @defer.inlineCallbacks
    def test_stop_finishes_what_is_pending(self):
        path, spool = self.spool("none")
        messages = [spool_files.SpoolMessage(new_id(), {}, [], message=b"m") for _ in range(20)]
        pending = [spool.commit([m]) for m in messages]
        yield spool.stop()
        yield defer.gatherResults(pending)
        self.assertEqual(spool.committed, 20)
        failed = spool.commit([spool_files.SpoolMessage(new_id(), {}, [], message=b"late")])
        yield self.assertFailure(failed, spool_files.SpoolError)
        spool.start()
        again = spool_files.SpoolMessage(new_id(), {}, [], message=b"again")
        self.assertEqual((yield spool.commit([again])), [again.path])


class FlushBatchTests(unittest.TestCase):
    """The reference flush() of a batch of several commits, as both flushers do it."""

    def files(self, folder, *names):
        return [(os.fsencode(os.path.join(folder, n + ".tmp")), os.fsencode(os.path.join(folder, n)), b"data") for n in names]

    def test_a_write_fails_its_commit_alone(self):
        folder = self.mktemp()
        os.makedirs(folder)
        batch = [(1, self.files(folder, "a")), (2, self.files(folder, "b", "a")), (3, self.files(folder, "c"))]
        results = spool_files.flush(batch, -1, False)
        self.assertEqual([(i, e) for i, e, _p in results], [(1, 0), (2, errno.EEXIST), (3, 0)])
        self.assertEqual(sorted(os.listdir(folder)), ["a", "c"])

    def test_a_rename_fails_every_commit_of_the_batch(self):
        folder = self.mktemp()
        os.makedirs(os.path.join(folder, "c"))
        batch = [(1, self.files(folder, "a")), (2, self.files(folder, "b")), (3, self.files(folder, "c"))]
        results = spool_files.flush(batch, -1, True)
        self.assertEqual({e for _i, e, _p in results}, {errno.EISDIR})
        self.assertEqual(results[2][2], os.fsencode(os.path.join(folder, "c.tmp")))
        self.assertEqual(os.listdir(folder), ["c"])


class CFlusherCommitTests(SpoolCommitTests):
    """The same with halon/queue/_spoolio.c's flusher, the one a built install uses."""

    try:
        from halon.queue._spoolio import Flusher as flusher
    except ImportError:
        skip = "halon.queue._spoolio is not built"
