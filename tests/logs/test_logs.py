"""The log observers environment.logging configures: JSON lines, text, syslog, level filtering."""

import io
import json
import os
import syslog

from twisted.logger import LogLevel, LogPublisher, Logger
from twisted.python.failure import Failure
from twisted.trial import unittest

from halon.logs import LoggingService, json_lines_observer, mail, syslog_observer


class JSONLinesTests(unittest.TestCase):
    def setUp(self):
        self.out = io.StringIO()
        publisher = LogPublisher(json_lines_observer(self.out))
        self.log = Logger(namespace="halon.queue", observer=publisher)

    def records(self):
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def test_oneObjectPerEventWithItsFields(self):
        """A delivery line keeps queue id, sender, recipients, action and reply as fields beside the text."""
        self.log.info(
            "{queueid} <{sender}> -> {recipients}: {action} ({reply})",
            queueid="3fd1c2:0",
            sender="alice@example.com",
            recipients=["bob@example.net"],
            action="DELIVER",
            reply="250 2.0.0 Ok",
        )
        [record] = self.records()
        self.assertEqual(record["message"], "3fd1c2:0 <alice@example.com> -> ['bob@example.net']: DELIVER (250 2.0.0 Ok)")
        self.assertEqual(record["level"], "info")
        self.assertEqual(record["namespace"], "halon.queue")
        self.assertEqual(record["recipients"], ["bob@example.net"])
        self.assertEqual(record["reply"], "250 2.0.0 Ok")
        self.assertRegex(record["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")

    def test_objectsAndBytesStillSerialise(self):
        """Fields that are not plain data are left out; bytes become text; a line never breaks."""
        self.log.warn("odd {thing}", thing=object(), data=b"caf\xc3\xa9\n", nested=[[1, 2]])
        [record] = self.records()
        self.assertNotIn("thing", record)
        self.assertEqual(record["data"], "caf\xe9\n")
        self.assertEqual(record["nested"], [[1, 2]])
        self.assertEqual(len(self.out.getvalue().splitlines()), 1)

    def test_failureCarriesTraceback(self):
        """An error logged with its failure has the traceback in one field."""
        try:
            1 / 0
        except ZeroDivisionError:
            self.log.failure("delivery crashed", Failure())
        [record] = self.records()
        self.assertEqual(record["level"], "critical")
        self.assertEqual(record["message"], "delivery crashed")
        self.assertIn("ZeroDivisionError", record["traceback"])


class SyslogTests(unittest.TestCase):
    def test_prioritiesAndLines(self):
        """Levels map to syslog priorities; a traceback goes out one line per record."""
        opened, written = [], []
        observe = syslog_observer("halon-test", "local3", openlog=lambda *a: opened.append(a), write=lambda *a: written.append(a))
        self.assertEqual(opened, [("halon-test", syslog.LOG_PID, syslog.LOG_LOCAL3)])
        log = Logger(observer=observe)
        log.info("started")
        log.error("bad {x}", x=1)
        try:
            raise KeyError("k")
        except KeyError:
            log.failure("oops")
        self.assertEqual(written[0], (syslog.LOG_INFO, "started"))
        self.assertEqual(written[1], (syslog.LOG_ERR, "bad 1"))
        self.assertEqual(written[2], (syslog.LOG_CRIT, "oops"))
        self.assertTrue(all(p == syslog.LOG_CRIT and "\n" not in line for p, line in written[2:]))
        self.assertIn("builtins.KeyError: 'k'", [line for _, line in written])

    def test_unknownFacility(self):
        e = self.assertRaises(ValueError, syslog_observer, "halon", "kernel", openlog=lambda *a: None)
        self.assertIn("facility must be one of", str(e))


class ServiceTests(unittest.TestCase):
    def test_filesLevelAndRemoval(self):
        """Text and JSON files get the events at or above the level while running, and nothing after."""
        folder = self.mktemp()
        publisher = LogPublisher()
        syslogged = []
        conf = {
            "level": "warn",
            "text": os.path.join(folder, "log", "halon.log"),
            "json": os.path.join(folder, "halon.json"),
            "syslog": {"ident": "x", "facility": "mail"},
        }
        svc = LoggingService(conf, publisher, syslog=lambda ident, facility: syslogged.append)
        svc.startService()
        log = Logger(namespace="t", observer=publisher)
        log.info("quiet")
        log.warn("loud {n}", n=1)
        svc.stopService()
        log.error("after")
        with open(conf["text"]) as f:
            text = f.read()
        self.assertNotIn("quiet", text)
        self.assertIn("[t#warn] loud 1", text)
        self.assertNotIn("after", text)
        with open(conf["json"]) as f:
            self.assertEqual([json.loads(line)["message"] for line in f], ["loud 1"])
        self.assertEqual([e["log_level"] for e in syslogged], [LogLevel.warn])

    def test_badLevel(self):
        e = self.assertRaises(ValueError, LoggingService, {"level": "loud"})
        self.assertIn("environment.logging.level must be one of debug, info, warn, error, critical", str(e))

    def test_emptyAddsNothing(self):
        publisher = LogPublisher()
        svc = LoggingService({}, publisher)
        svc.startService()
        self.assertEqual(svc.observers, [])
        svc.stopService()


class ReopenTests(unittest.TestCase):
    def test_afterRotation(self):
        """After logrotate moves the file, reopen writes to a new file at the configured path."""
        folder = self.mktemp()
        path = os.path.join(folder, "halon.json")
        publisher = LogPublisher()
        svc = LoggingService({"json": path}, publisher)
        svc.startService()
        self.addCleanup(svc.stopService)
        log = Logger(observer=publisher)
        log.info("before")
        os.rename(path, path + ".1")
        svc.reopen()
        log.info("after")
        with open(path + ".1") as f:
            self.assertEqual([json.loads(line)["message"] for line in f], ["before"])
        with open(path) as f:
            self.assertEqual([json.loads(line)["message"] for line in f], ["after"])


class MailLineTests(unittest.TestCase):
    """The received and delivery lines, as the JSON observer records them."""

    def setUp(self):
        self.out = io.StringIO()
        self.log = Logger(namespace="halon.mail", observer=LogPublisher(json_lines_observer(self.out)))

    def records(self):
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def test_received(self):
        """A spooled message: queue id, sender, every recipient, size, server and client."""
        from halon.queue.spool import SpoolMessage

        message = SpoolMessage(
            "0f3c",
            {"transaction": "0f3c", "sender": "a@example.com", "serverid": "inbound", "connection": {"remoteip": "192.0.2.1"}},
            [{"index": 0, "recipient": "b@example.org"}, {"index": 1, "recipient": "c@example.org"}],
            message=b"x" * 10,
        )
        mail.received(message, self.log)
        [record] = self.records()
        self.assertEqual(
            record["message"],
            "0f3c received from <a@example.com> to <b@example.org>, <c@example.org> size=10 server=inbound client=192.0.2.1",
        )
        self.assertEqual((record["recipients"], record["action"], record["size"]), (["b@example.org", "c@example.org"], "RECEIVED", 10))

    def test_deliveryLevels(self):
        """Each action at its level: a retry warns, a bounce is an error."""
        for action in ("DELIVER", "QUEUE", "BOUNCE"):
            mail.delivery("0f3c:0", "a@example.com", "b@example.org", action, "250 ok", "mx.example.org", "192.0.2.7", 2, self.log)
        levels = [(r["action"], r["level"]) for r in self.records()]
        self.assertEqual(levels, [("DELIVER", "info"), ("QUEUE", "warn"), ("BOUNCE", "error")])
        self.assertEqual(
            self.records()[0]["message"],
            "0f3c:0 DELIVER from <a@example.com> to <b@example.org> via mx.example.org [192.0.2.7] retry=2: 250 ok",
        )
        self.assertRaises(ValueError, mail.delivery, "x", "a", "b", "SENT", "250", logger=self.log)

    def test_deliveryTLS(self):
        """The attempt's TLS, DANE and MTA-STS verdicts are on the line and in the fields; certificates are not."""
        tls = {"started": True, "protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": [b"DER"],
               "tlsa": {"records": [], "error": None}, "mtasts": {"mode": "enforce", "mx": ["mx.example.org"]}}
        mail.delivery("q:0", "a@example.com", "b@example.org", "DELIVER", "250 ok", "mx.example.org", "192.0.2.7", 0, self.log, tls=tls)
        mail.delivery("q:1", "a@example.com", "b@example.org", "QUEUE", "451 DANE", "mx.example.org", "192.0.2.7", 0, self.log,
                      tls={"protocol": "TLSv1.2", "tlsa": {"error": "no TLSA record matches"}})
        first, second = self.records()
        self.assertEqual(
            first["message"],
            "q:0 DELIVER from <a@example.com> to <b@example.org> via mx.example.org [192.0.2.7] retry=0"
            " tls=TLSv1.3 dane=pass mta-sts=enforce: 250 ok",
        )
        self.assertEqual(first["tls"], {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "dane": "pass", "mta_sts": "enforce"})
        self.assertIn("dane=fail: no TLSA record matches", second["message"])

    def test_bracesAreText(self):
        """Braces in an address or a reply are shown as they are, not read as format fields."""
        mail.delivery("q:0", "{a}@example.com", "b}@example.org", "QUEUE", "451 {try later}", logger=self.log)
        [record] = self.records()
        self.assertEqual(record["message"], "q:0 QUEUE from <{a}@example.com> to <b}@example.org> via - [-] retry=0: 451 {try later}")

    def test_bytesThatAreNotUTF8(self):
        """An address with bytes that are not UTF-8 (kept as surrogates) still gives one valid JSON line and a syslog line."""
        sender = b"caf\xe9@example.com".decode("utf-8", "surrogateescape")
        mail.delivery("q:0", sender, "b@example.org", "DELIVER", "250 ok", logger=self.log)
        [record] = self.records()
        self.assertEqual(record["sender"], sender)
        written = []
        observe = syslog_observer(openlog=lambda *a: None, write=lambda p, line: written.append(line))
        mail.delivery("q:0", sender, "b@example.org", "DELIVER", "250 ok", logger=Logger(observer=observe))
        self.assertIn("caf\\udce9@example.com", written[0])

    def test_textFileTakesThemToo(self):
        folder = self.mktemp()
        publisher = LogPublisher()
        svc = LoggingService({"text": os.path.join(folder, "mail.log")}, publisher)
        svc.startService()
        mail.delivery("q:0", b"\xff@x".decode("utf-8", "surrogateescape"), "b@x", "QUEUE", "451 later", logger=Logger(observer=publisher))
        svc.stopService()
        with open(os.path.join(folder, "mail.log"), encoding="utf-8") as f:
            self.assertIn("q:0 QUEUE from <\\udcff@x> to <b@x>", f.read())
