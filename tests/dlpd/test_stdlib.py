"""HSL's dlp() against a real dlpd socket."""

import os

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from halon.dlpd.protocol import DLPClient
from halon.dlpd.service import DlpdService
from halon.hsl.errors import HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.values import HSLArray
from halon.stats import Stats
from tests.dlpd import samples
from tests.rated.helpers import short_tempdir

APP = {"rules": [{"id": "CARDS", "cards": True}, {"id": "ZIP_EXE", "filename": [r"\.exe$"]}]}


def arr(**items):
    return HSLArray({k.encode(): v for k, v in items.items()})


class DLPFunctionTests(unittest.TestCase):
    def setUp(self):
        folder = short_tempdir(self)
        path = os.path.join(folder, "dlpd.sock")
        startup = {"environment": {"socket": {"path": path}, "tmpdir": os.path.join(folder, "tmp")}}
        self.dlpd = DlpdService(reactor, startup, APP, Stats())
        self.dlpd.startService()
        self.addCleanup(self.dlpd.stopService)
        host = Host(reactor=reactor)
        client = DLPClient(path)
        self.addCleanup(client.close)
        host.services["dlp"] = client
        self.dlp = host.namespace()["dlp"]

    def call(self, *args):
        return threads.deferToThread(self.dlp, *args)

    @defer.inlineCallbacks
    def test_resultShape(self):
        """The result lists partid and rule name for each match, with the file name inside archives."""
        archive = samples.zip_of({"x.exe": b"MZ"})
        message = samples.message("card %s" % samples.VISA, [("a.zip", archive, "application/zip")])
        result = yield self.call(message)
        self.assertEqual(
            result,
            arr(
                result=HSLArray.from_list(
                    [
                        arr(partid=b"1.1", name=b"CARDS"),
                        arr(partid=b"1.2", name=b"ZIP_EXE", filename=b"a.zip/x.exe"),
                    ]
                )
            ),
        )

    @defer.inlineCallbacks
    def test_customRulesAsInThePluginExample(self):
        """Custom rules written as the plugin's README does (regex, md5hash) work."""
        eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
        message = b"Subject: Eicar Test\r\nContent-Type: text/virus\r\n\r\n" + eicar
        rules = HSLArray.from_list(
            [
                arr(name=b"EICAR_MD5", md5hash=HSLArray.from_list([b"44d88612fea8a8f36de82e1278abb02f"])),
                arr(name=b"EICAR_REGEX", regex=HSLArray.from_list([b"/STANDARD-ANTIVIRUS-TEST/"])),
                arr(name=b"EICAR_SUBJECT_REGEX", regex=HSLArray.from_list([b"/Eicar Test/"])),
                arr(name=b"EICAR_MIME", mimetype=HSLArray.from_list([b"/^text\\/virus$/"])),
                arr(name=b"NOT_THERE", regex=HSLArray.from_list([b"/nothing like this/"])),
            ]
        )
        result = yield self.call(message, arr(id=b"eicar_test", rules=rules))
        names = [m.get(b"name") for m in result.get(b"result").values()]
        self.assertEqual(names, [b"EICAR_MD5", b"EICAR_REGEX", b"EICAR_SUBJECT_REGEX", b"EICAR_MIME"])

    @defer.inlineCallbacks
    def test_errorsAreInTheResult(self):
        """A rule dlpd refuses, or dlpd being down, gives an error property."""
        result = yield self.call(b"Subject: x\r\n\r\nhi", arr(rules=HSLArray.from_list([b"NOPE"])))
        self.assertIn(b"NOPE", result.get(b"error"))
        yield self.dlpd.stopService()
        result = yield self.call(b"Subject: x\r\n\r\nhi")
        self.assertIsNotNone(result.get(b"error"))

    def test_badOptions(self):
        """Unknown options and a message that is not one are script errors."""
        self.assertRaises(HSLRuntimeError, self.dlp, b"x", arr(nosuch=1.0))
        self.assertRaises(HSLRuntimeError, self.dlp, 5.0)
