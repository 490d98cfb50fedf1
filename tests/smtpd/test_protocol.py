"""
The SMTP conversation with real clients on loopback: smtplib for whole
transactions, a raw socket where the exact bytes matter (pipelining,
dot-stuffing, bare LF, split end of data, limits).
"""

import smtplib
import socket

from twisted.internet import defer, threads
from twisted.trial import unittest

from halon.smtpd.hooks import Decision, Hooks
from tests.smtpd.helpers import MESSAGE, QueueAll, client, codes, raw, settings, read_replies, start_server, stored

ENVELOPE = b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"


class TransactionTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_sendmail_queues_each_recipient_in_one_file(self):
        server = start_server(self)
        refused = yield client(
            server.port, lambda s: s.sendmail("a@example.com", ["b@example.org", "C@Example.org"], MESSAGE)
        )
        self.assertEqual(refused, {})
        [message] = server.queue.messages
        self.assertEqual([r["recipient"] for r in message.recipients], ["b@example.org", "c@example.org"])
        self.assertEqual([r["index"] for r in message.recipients], [0, 1])
        self.assertEqual(message.envelope["sender"], "a@example.com")
        self.assertEqual(message.envelope["connection"]["helo"], "[127.0.0.1]")
        self.assertEqual(stored(message), MESSAGE)

    @defer.inlineCallbacks
    def test_queued_reply_names_the_transaction(self):
        server = start_server(self)
        replies = yield raw(server.port, ENVELOPE + MESSAGE + b".\r\nQUIT\r\n", 6)
        self.assertEqual(codes(replies), [220, 250, 250, 250, 354, 250, 221])
        [message] = server.queue.messages
        self.assertIn(b"2.0.0 Ok: queued as " + message.uuid.encode(), replies[5])

    @defer.inlineCallbacks
    def test_ehlo_announces_extensions(self):
        server = start_server(self, settings(max_message_size=1000))
        features = yield client(server.port, lambda s: (s.ehlo(), s.esmtp_features)[1])
        for name in ("pipelining", "8bitmime", "enhancedstatuscodes", "smtputf8", "dsn"):
            self.assertIn(name, features)
        self.assertEqual(features["size"], "1000")
        self.assertNotIn("starttls", features)
        self.assertNotIn("auth", features)

    @defer.inlineCallbacks
    def test_two_transactions_on_one_connection(self):
        server = start_server(self)

        def work(smtp):
            smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)
            smtp.sendmail("", ["c@example.org"], MESSAGE)

        yield client(server.port, work)
        self.assertEqual(len(server.queue.messages), 2)
        self.assertEqual(server.queue.messages[1].envelope["sender"], "")
        self.assertNotEqual(server.queue.messages[0].uuid, server.queue.messages[1].uuid)

    @defer.inlineCallbacks
    def test_commands_in_wrong_order(self):
        server = start_server(self)
        replies = yield raw(
            server.port,
            b"MAIL FROM:<a@b.c>\r\nHELO x\r\nRCPT TO:<a@b.c>\r\nDATA\r\nMAIL FROM:<a@b.c>\r\n"
            b"MAIL FROM:<a@b.c>\r\nDATA\r\nRSET\r\nRCPT TO:<a@b.c>\r\n",
            9,
        )
        self.assertEqual(codes(replies), [220, 503, 250, 503, 503, 250, 503, 554, 250, 503])

    @defer.inlineCallbacks
    def test_simple_commands(self):
        server = start_server(self)
        replies = yield raw(
            server.port, b"NOOP\r\nHELP\r\nVRFY x\r\nEXPN x\r\nBDAT 1\r\nFOO\r\nHELO\r\nQUIT\r\n", 8
        )
        self.assertEqual(codes(replies), [220, 250, 214, 252, 502, 502, 500, 501, 221])

    @defer.inlineCallbacks
    def test_syntax_errors_in_paths_and_parameters(self):
        server = start_server(self)
        replies = yield raw(
            server.port,
            b"EHLO x\r\nMAIL FROM:a\r\nMAIL FROM:<a@b.c> FOO=1\r\nMAIL FROM:<a@b.c> SIZE=x\r\n"
            b"MAIL FROM:<a@b.c> BODY=9BIT\r\nMAIL FROM:<a@b.c> RET=FULL ENVID=x1\r\n"
            b"RCPT TO:<>\r\nRCPT TO:<b@c.d> NOTIFY=SOMETIMES\r\nRCPT TO:<b@c.d> ORCPT=x\r\n"
            b"RCPT TO:<postmaster>\r\nRCPT TO:<b@c.d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@c.d\r\n",
            11,
        )
        self.assertEqual(codes(replies), [220, 250, 501, 555, 501, 501, 250, 501, 501, 501, 250, 250])

    @defer.inlineCallbacks
    def test_dsn_parameters_are_kept_with_the_message(self):
        server = start_server(self)
        replies = yield raw(
            server.port,
            b"EHLO x\r\nMAIL FROM:<a@b.c> RET=HDRS ENVID=abc\r\n"
            b"RCPT TO:<b@c.d> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@c.d\r\nDATA\r\n" + MESSAGE + b".\r\n",
            5,
        )
        self.assertEqual(codes(replies), [220, 250, 250, 250, 354, 250])
        [message] = server.queue.messages
        self.assertEqual(message.envelope["dsn"], {"ret": "HDRS", "envid": "abc"})
        self.assertEqual(message.recipients[0]["dsn"], {"notify": ["SUCCESS", "DELAY"], "orcpt": "rfc822;b@c.d"})

    @defer.inlineCallbacks
    def test_smtputf8_addresses_need_the_parameter(self):
        server = start_server(self)
        replies = yield raw(
            server.port,
            "EHLO x\r\nMAIL FROM:<ä@b.c>\r\nMAIL FROM:<ä@b.c> SMTPUTF8\r\nRCPT TO:<ö@ü.de>\r\n".encode("utf-8"),
            4,
        )
        self.assertEqual(codes(replies), [220, 250, 553, 250, 250])

    @defer.inlineCallbacks
    def test_parameters_need_ehlo(self):
        server = start_server(self)
        replies = yield raw(server.port, b"HELO x\r\nMAIL FROM:<a@b.c> SIZE=10\r\n", 2)
        self.assertEqual(codes(replies), [220, 250, 555])


class DataTests(unittest.TestCase):
    @defer.inlineCallbacks
    def send(self, body, count=1, **kw):
        server = start_server(self, settings(**kw))
        replies = yield raw(server.port, [(ENVELOPE, 4), (body, count)], 0)
        return server, replies

    @defer.inlineCallbacks
    def test_dot_stuffing_is_removed(self):
        server, replies = yield self.send(b"Subject: x\r\n\r\n..one\r\n.\r\n")
        self.assertEqual(codes(replies)[-1], 250)
        self.assertEqual(stored(server.queue.messages[0]), b"Subject: x\r\n\r\n.one\r\n")

    @defer.inlineCallbacks
    def test_bare_lf_lines_are_stored_as_crlf(self):
        server, replies = yield self.send(b"Subject: x\n\nbody\nmore\r\n.\r\n")
        self.assertEqual(codes(replies)[-1], 250)
        self.assertEqual(stored(server.queue.messages[0]), b"Subject: x\r\n\r\nbody\r\nmore\r\n")

    @defer.inlineCallbacks
    def test_bare_lf_end_of_data_is_refused_and_closes(self):
        server = start_server(self)
        replies = yield raw(server.port, [(ENVELOPE, 4), (b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<e@f.g>\r\n", 1)], 0, closed=True)
        self.assertEqual(codes(replies)[-1], 550)
        self.assertEqual(replies[-1], b"")
        self.assertEqual(server.queue.messages, [])

    @defer.inlineCallbacks
    def test_end_of_data_split_across_packets(self):
        server = start_server(self)
        steps = [(ENVELOPE, 4), (b"Subject: x\r\n\r\nbody\r", 0), (b"\n.", 0), (b"\r", 0), (b"\n", 1)]
        replies = yield raw(server.port, steps, 0)
        self.assertEqual(codes(replies)[-1], 250)
        self.assertEqual(stored(server.queue.messages[0]), b"Subject: x\r\n\r\nbody\r\n")

    @defer.inlineCallbacks
    def test_dot_split_from_its_line_end(self):
        server = start_server(self)
        steps = [(ENVELOPE, 4), (b"a\r\n.", 0), (b".b\r\n.\r\n", 1)]
        replies = yield raw(server.port, steps, 0)
        self.assertEqual(codes(replies)[-1], 250)
        self.assertEqual(stored(server.queue.messages[0]), b"a\r\n.b\r\n")

    @defer.inlineCallbacks
    def test_oversize_message(self):
        server, replies = yield self.send(b"x" * 600 + b"\r\n.\r\n", max_message_size=500)
        self.assertEqual(codes(replies)[-1], 552)
        self.assertIn(b"5.3.4", replies[-1])
        self.assertEqual(server.queue.messages, [])

    @defer.inlineCallbacks
    def test_size_parameter_over_the_limit(self):
        server = start_server(self, settings(max_message_size=500))
        replies = yield raw(server.port, b"EHLO x\r\nMAIL FROM:<a@b.c> SIZE=501\r\nMAIL FROM:<a@b.c> SIZE=500\r\n", 3)
        self.assertEqual(codes(replies), [220, 250, 552, 250])

    @defer.inlineCallbacks
    def test_message_line_too_long(self):
        server, replies = yield self.send(b"y" * 300 + b"\r\n.\r\n", max_line_length=100)
        self.assertEqual(codes(replies)[-1], 500)
        self.assertEqual(server.queue.messages, [])

    @defer.inlineCallbacks
    def test_session_goes_on_after_a_refused_message(self):
        server = start_server(self, settings(max_message_size=100))
        replies = yield raw(
            server.port, [(ENVELOPE, 4), (b"z" * 200 + b"\r\n.\r\n", 1), (ENVELOPE[18:] + b"small\r\n.\r\n", 4)], 0
        )
        self.assertEqual(codes(replies)[-5:], [552, 250, 250, 354, 250])
        self.assertEqual(len(server.queue.messages), 1)

    @defer.inlineCallbacks
    def test_large_message_in_many_packets(self):
        body = b"".join(b"line %d of a larger message\r\n" % i for i in range(20000))
        server = start_server(self)
        yield client(server.port, lambda s: s.sendmail("a@b.c", ["d@e.f"], body))
        self.assertEqual(stored(server.queue.messages[0]), body)


class LimitTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_too_many_recipients(self):
        server = start_server(self, settings(max_recipients=2))
        replies = yield raw(
            server.port,
            b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@b.c>\r\nRCPT TO:<2@b.c>\r\nRCPT TO:<3@b.c>\r\n"
            b"DATA\r\nx\r\n.\r\n",
            7,
        )
        self.assertEqual(codes(replies), [220, 250, 250, 250, 250, 452, 354, 250])
        self.assertEqual(len(server.queue.messages[0].recipients), 2)

    @defer.inlineCallbacks
    def test_command_line_too_long(self):
        server = start_server(self, settings(max_line_length=64))
        replies = yield raw(server.port, b"NOOP " + b"x" * 200 + b"\r\nNOOP\r\n", 2)
        self.assertEqual(codes(replies), [220, 500, 250])

    @defer.inlineCallbacks
    def test_too_many_errors_closes(self):
        server = start_server(self, settings(max_errors=3))
        replies = yield raw(server.port, b"X\r\nY\r\nZ\r\nNOOP\r\n", 3, closed=True)
        self.assertEqual(codes(replies), [220, 500, 500, 421])
        self.assertEqual(replies[-1], b"")

    @defer.inlineCallbacks
    def hold_one(self, server):
        """A first connection, open until the test ends, counted once its banner arrived."""
        first = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.addCleanup(first.close)
        banner = yield threads.deferToThread(read_replies, first, 1)
        self.assertEqual(codes(banner), [220])

    @defer.inlineCallbacks
    def test_concurrency_per_ip(self):
        server = start_server(self, settings(max_connections_per_ip=1))
        yield self.hold_one(server)
        replies = yield raw(server.port, b"", 0, closed=True)
        self.assertEqual(replies, [b"421 4.7.0 Too many connections from your address, try again later\r\n", b""])

    @defer.inlineCallbacks
    def test_concurrency_total(self):
        server = start_server(self, settings(max_connections=1))
        yield self.hold_one(server)
        replies = yield raw(server.port, b"", 0, closed=True)
        self.assertEqual(replies, [b"421 4.7.0 Too many connections, try again later\r\n", b""])
        self.assertEqual(server.limiter.total, 1)


class PipeliningTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_whole_transaction_in_one_packet(self):
        server = start_server(self)
        replies = yield raw(
            server.port,
            b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@e.f>\r\nDATA\r\n"
            b"Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<h@b.c>\r\nRCPT TO:<i@e.f>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
            11,
        )
        self.assertEqual(codes(replies), [220, 250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221])
        self.assertEqual([len(m.recipients) for m in server.queue.messages], [2, 1])

    @defer.inlineCallbacks
    def test_replies_keep_their_order_behind_a_slow_hook(self):
        from twisted.internet import reactor, task

        class Slow(QueueAll):
            def rcptto(self, session, address, params, transportid):
                if address.localpart == b"slow":
                    return task.deferLater(reactor, 0.05, Decision.reject)
                return defer.succeed(Decision.accept())

        server = start_server(self, hooks=Slow())
        replies = yield raw(
            server.port, b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<slow@e.f>\r\nRCPT TO:<fast@e.f>\r\nNOOP\r\n", 5
        )
        self.assertEqual(codes(replies), [220, 250, 250, 554, 250, 250])


class HookDecisionTests(unittest.TestCase):
    """Each phase's decisions reach the wire with Halon's default codes, or the script's."""

    @defer.inlineCallbacks
    def converse(self, hooks, data, count, closed=False):
        server = start_server(self, hooks=hooks)
        replies = yield raw(server.port, data, count, closed=closed)
        return server, replies

    @defer.inlineCallbacks
    def test_connect_reject_and_defer(self):
        for decision, code in ((Decision.reject(), 521), (Decision.defer(), 421)):

            class H(Hooks):
                def connect(self, session):
                    return defer.succeed(decision)

            _, replies = yield self.converse(H(), b"", 0, closed=True)
            self.assertEqual(codes(replies), [code])

    @defer.inlineCallbacks
    def test_custom_banner(self):
        class H(Hooks):
            def connect(self, session):
                return defer.succeed(Decision(Decision.ACCEPT, reason=[b"welcome here"]))

        _, replies = yield self.converse(H(), b"QUIT\r\n", 1)
        self.assertEqual(replies[0], b"220 welcome here\r\n")

    @defer.inlineCallbacks
    def test_default_codes_per_phase(self):
        class H(Hooks):
            def helo(self, session, verb, host, extensions):
                return defer.succeed(Decision.reject() if host == b"bad" else Decision.accept())

            def mailfrom(self, session, address, params):
                return defer.succeed(Decision.defer() if address.localpart == b"later" else Decision.accept())

            def rcptto(self, session, address, params, transportid):
                return defer.succeed(Decision.reject() if address.localpart == b"no" else Decision.defer())

            def eod(self, session, message):
                return defer.succeed(Decision.reject())

        _, replies = yield self.converse(
            H(),
            b"HELO bad\r\nHELO good\r\nMAIL FROM:<later@b.c>\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<no@b.c>\r\n"
            b"RCPT TO:<d@b.c>\r\nQUIT\r\n",
            7,
        )
        self.assertEqual(codes(replies), [220, 554, 250, 450, 250, 554, 450, 221])
        self.assertIn(b"554 5.7.1", replies[1])

    @defer.inlineCallbacks
    def test_eod_reject_defer_and_reply_codes(self):
        for decision, expected in (
            (Decision.reject(), b"550 5.7.1 Message rejected\r\n"),
            (Decision.defer(), b"421 4.7.1 Message deferred, try again later\r\n"),
            (Decision.reject([b"no", b"never"], code=551, enhanced=(5, 1, 6)), b"551-5.1.6 no\r\n551 5.1.6 never\r\n"),
            (Decision.reject(b"later", code=451), b"451 4.7.1 later\r\n"),
        ):

            class H(Hooks):
                def eod(self, session, message):
                    return defer.succeed(decision)

            server, replies = yield self.converse(H(), ENVELOPE + b"x\r\n.\r\n", 5)
            self.assertEqual(replies[-1], expected)
            self.assertEqual(server.queue.messages, [])

    @defer.inlineCallbacks
    def test_eod_without_queueing_says_ok_but_spools_nothing(self):
        class H(Hooks):
            def eod(self, session, message):
                return defer.succeed(Decision.accept())

        server, replies = yield self.converse(H(), ENVELOPE + b"x\r\n.\r\n", 5)
        self.assertEqual(codes(replies)[-1], 250)
        self.assertEqual(server.queue.messages, [])

    @defer.inlineCallbacks
    def test_disconnect_option_closes_after_the_reply(self):
        class H(Hooks):
            def mailfrom(self, session, address, params):
                return defer.succeed(Decision.reject(disconnect=True))

        _, replies = yield self.converse(H(), b"HELO x\r\nMAIL FROM:<a@b.c>\r\nNOOP\r\n", 2, closed=True)
        self.assertEqual(codes(replies), [220, 250, 554])
        self.assertEqual(replies[-1], b"")

    @defer.inlineCallbacks
    def test_a_failing_hook_defers(self):
        class H(Hooks):
            def rcptto(self, session, address, params, transportid):
                raise RuntimeError("boom")

        _, replies = yield self.converse(H(), b"HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n", 3)
        self.assertEqual(codes(replies), [220, 250, 250, 450])
        self.flushLoggedErrors(RuntimeError)

    @defer.inlineCallbacks
    def test_accept_options_rewrite_sender_recipient_and_transport(self):
        from halon.smtpd.envelope import Address

        class H(QueueAll):
            def mailfrom(self, session, address, params):
                return defer.succeed(Decision.accept(sender=Address(b"new", b"sender.test")))

            def rcptto(self, session, address, params, transportid):
                return defer.succeed(Decision.accept(recipient=Address(b"other", b"rcpt.test"), transportid="relay"))

        server, replies = yield self.converse(H(), ENVELOPE + b"x\r\n.\r\n", 5)
        self.assertEqual(codes(replies)[-1], 250)
        [message] = server.queue.messages
        self.assertEqual(message.envelope["sender"], "new@sender.test")
        self.assertEqual(message.recipients[0]["recipient"], "other@rcpt.test")
        self.assertEqual(message.recipients[0]["transportid"], "relay")

    @defer.inlineCallbacks
    def test_hooks_see_the_session(self):
        seen = {}

        class H(QueueAll):
            def eod(self, session, message):
                seen.update(
                    helo=session.helo_host,
                    remoteip=session.remoteip,
                    sender=bytes(session.transaction.sender),
                    recipients=[bytes(r.address) for r in session.transaction.recipients],
                    message=message,
                )
                return QueueAll.eod(self, session, message)

        yield self.converse(H(), ENVELOPE + b"x\r\n.\r\n", 5)
        self.assertEqual(
            seen,
            {
                "helo": b"client.test",
                "remoteip": "127.0.0.1",
                "sender": b"a@example.com",
                "recipients": [b"b@example.org"],
                "message": b"x\r\n",
            },
        )

    @defer.inlineCallbacks
    def test_disconnect_hook_gets_the_last_reply(self):
        seen = []
        done = defer.Deferred()

        class H(Hooks):
            def has(self, phase):
                return phase == "disconnect"

            def disconnect(self, session, close, reply, error):
                seen.append((close, reply[0].code, reply[1], error))
                done.callback(None)

        yield self.converse(H(), b"HELO x\r\nQUIT\r\n", 2, closed=True)
        yield done
        self.assertEqual(seen, [("remote", 221, "QUIT", None)])


class SmtplibErrorTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_refused_recipients_are_reported_to_the_client(self):
        class H(QueueAll):
            def rcptto(self, session, address, params, transportid):
                return defer.succeed(Decision.reject() if address.localpart == b"bad" else Decision.accept())

        server = start_server(self, hooks=H())
        refused = yield client(server.port, lambda s: s.sendmail("a@b.c", ["bad@d.e", "good@d.e"], MESSAGE))
        self.assertEqual(refused, {"bad@d.e": (554, b"5.7.1 Recipient rejected")})
        self.assertEqual([r["recipient"] for r in server.queue.messages[0].recipients], ["good@d.e"])

    @defer.inlineCallbacks
    def test_all_recipients_refused(self):
        class H(QueueAll):
            def rcptto(self, session, address, params, transportid):
                return defer.succeed(Decision.reject())

        server = start_server(self, hooks=H())
        d = client(server.port, lambda s: s.sendmail("a@b.c", ["bad@d.e"], MESSAGE))
        yield self.assertFailure(d, smtplib.SMTPRecipientsRefused)
