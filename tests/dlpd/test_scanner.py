"""Scanning real messages and files made at test time."""

import os
import tempfile

from twisted.trial import unittest

from halon.dlpd import detect
from halon.dlpd.rules import RuleError, compile_rules
from halon.dlpd.scanner import Scanner
from tests.dlpd import samples

RULES = [
    {"id": "CARDS", "cards": True},
    {"id": "IBAN", "iban": True},
    {"id": "PROJECT", "keywords": ["Project Falcon"]},
    {"id": "SECRET_REGEX", "regex": [r"top\s+secret(?# classification marker)"]},
    {"id": "EXECUTABLE", "mimetype": ["^application/x-(dosexec|executable|pie-executable|sharedlib)$"]},
    {"id": "EXE_NAME", "filename": [r"\.exe$"]},
    {"id": "IMAGE", "mimetype": ["^image/"]},
    {"id": "PDF", "mimetype": ["^application/pdf$"]},
    {"id": "BIG", "size": {"min": 100000}},
    {"id": "EICAR_MD5", "md5hash": ["44d88612fea8a8f36de82e1278abb02f"]},
]


class DetectTests(unittest.TestCase):
    def test_cardNumbers(self):
        """Card numbers of known schemes with a valid Luhn digit are found, others are not."""
        text = "visa %s, mc %s, amex %s, bad %s, phone 0046 8123 4567 89, id 1234567890123" % (
            samples.VISA,
            samples.MASTERCARD,
            samples.AMEX,
            samples.BAD_LUHN,
        )
        self.assertEqual(detect.find_card_numbers(text), ["4111111111111111", "5500000000000004", "378282246310005"])

    def test_ibans(self):
        """IBANs with the right length and mod-97 check are found, printed or not."""
        text = "pay %s or %s, not %s nor XX82WEST12345698765432." % (samples.IBAN_GB, samples.IBAN_DE, samples.BAD_IBAN)
        self.assertEqual(detect.find_ibans(text), ["GB82WEST12345698765432", "DE89370400440532013000"])


class ScannerTests(unittest.TestCase):
    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix="dlp")
        self.addCleanup(lambda: os.rmdir(self.tmpdir))
        self.scanner = Scanner(self.tmpdir, {"max_file_size": 200000})
        self.rules = compile_rules(RULES)

    def scan(self, data, **options):
        result = self.scanner.scan(data, options.pop("rules", self.rules), **options)
        self.assertEqual(os.listdir(self.tmpdir), [], "the scan left files behind")
        return result

    def names(self, result):
        return sorted({m["name"] for m in result.matches})

    def test_textWithCardsAndIbans(self):
        """A plain text part with a card number and an IBAN matches both rules, in that part."""
        result = self.scan(samples.message("Card %s, IBAN %s" % (samples.VISA, samples.IBAN_GB)))
        self.assertEqual(self.names(result), ["CARDS", "IBAN"])
        self.assertEqual({m["partid"] for m in result.matches}, {"1.1"})

    def test_invalidNumbersDoNotMatch(self):
        """A number failing Luhn and an IBAN failing mod-97 match nothing."""
        result = self.scan(samples.message("Card %s IBAN %s" % (samples.BAD_LUHN, samples.BAD_IBAN)))
        self.assertEqual(result.matches, [])

    def test_keywordsAndRegexInHeadersAndBase64(self):
        """Keywords are found case-insensitively after base64 decoding, and in the subject."""
        data = samples.message("about PROJECT falcon", subject="Top  Secret")
        self.assertIn(b"Content-Transfer-Encoding: base64", data)
        self.assertEqual(self.names(self.scan(data)), ["PROJECT", "SECRET_REGEX"])

    def test_pdf(self):
        """A card number drawn on a PDF page (compressed stream) is found; the type is PDF."""
        data = samples.message(attachments=[("invoice.pdf", samples.pdf("Card %s" % samples.VISA), "application/pdf")])
        result = self.scan(data)
        self.assertEqual(self.names(result), ["CARDS", "PDF"])
        self.assertEqual({m["partid"] for m in result.matches}, {"1.2"})

    def test_zipWithExecutable(self):
        """An executable inside a zip is found by libmagic type and by name, with its path."""
        archive = samples.zip_of({"readme.txt": b"hi", "setup.exe": samples.executable()})
        result = self.scan(samples.message(attachments=[("tools.zip", archive, "application/zip")]))
        found = {(m["name"], m.get("filename")) for m in result.matches}
        self.assertIn(("EXECUTABLE", "tools.zip/setup.exe"), found)
        self.assertIn(("EXE_NAME", "tools.zip/setup.exe"), found)
        self.assertEqual(result.extracted, 2)

    def test_disguisedExecutable(self):
        """An executable renamed .jpg and declared image/jpeg is still detected as an executable."""
        data = samples.message(attachments=[("cat.jpg", samples.executable(), "image/jpeg")])
        result = self.scan(data, rules=compile_rules([RULES[4]]))
        self.assertEqual(self.names(result), ["EXECUTABLE"])

    def test_nestedZips(self):
        """A card number three zips deep is found; the reported name is the path through them."""
        archive = samples.nested_zip(3, "cards.txt", samples.VISA.encode())
        result = self.scan(samples.message(attachments=[("outer.zip", archive, "application/zip")]))
        self.assertIn(
            {"partid": "1.2", "name": "CARDS", "filename": "outer.zip/level2.zip/level3.zip/cards.txt"}, result.matches
        )

    def test_recursionLimit(self):
        """Archives nested deeper than recursion_limit report ERR_RECURSION_LIMIT and stop there."""
        archive = samples.nested_zip(4, "cards.txt", samples.VISA.encode())
        result = self.scan(samples.message(attachments=[("outer.zip", archive, "application/zip")]), recursion_limit=2)
        self.assertEqual(self.names(result), ["ERR_RECURSION_LIMIT"])

    def test_encryptedMember(self):
        """A password-protected member reports ERR_PASSWORD_PROTECTED."""
        archive = samples.zip_of({"plain.txt": b"x", "locked.txt": b"y"}, encrypt=["locked.txt"])
        result = self.scan(samples.message(attachments=[("a.zip", archive, "application/zip")]))
        self.assertIn("ERR_PASSWORD_PROTECTED", self.names(result))

    def test_zipBombStopsAtTheLimit(self):
        """A member unpacking past max_file_size reports ERR_ARCHIVE_LIMIT and writes no more."""
        archive = samples.zip_of({"zeros.bin": b"\0" * 5000000})
        self.assertLess(len(archive), 10000)
        result = self.scan(samples.message(attachments=[("bomb.zip", archive, "application/zip")]))
        self.assertEqual(self.names(result), ["ERR_ARCHIVE_LIMIT"])

    def test_images(self):
        """A PNG is typed by its content, whatever it is called."""
        data = samples.message(attachments=[("photo.dat", samples.png(), "application/octet-stream")])
        self.assertEqual(self.names(self.scan(data)), ["IMAGE"])

    def test_sizeAndHash(self):
        """Size bounds and content digests match the decoded attachment."""
        eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
        data = samples.message(attachments=[("e.com", eicar, "application/octet-stream"), ("b.bin", b"a" * 150000, "application/octet-stream")])
        result = self.scan(data)
        self.assertIn({"partid": "1.2", "name": "EICAR_MD5"}, result.matches)
        self.assertIn({"partid": "1.3", "name": "BIG"}, result.matches)

    def test_shortCircuit(self):
        """With short_circuit the scan stops at the first match."""
        data = samples.message("Card %s, IBAN %s" % (samples.VISA, samples.IBAN_GB))
        self.assertEqual(len(self.scan(data, short_circuit=True).matches), 1)

    def test_countThreshold(self):
        """count asks for several hits: one card number is not three."""
        rules = compile_rules([{"id": "MANY_CARDS", "cards": True, "count": 3}])
        self.assertEqual(self.scan(samples.message("%s" % samples.VISA), rules=rules).matches, [])
        text = "%s %s %s" % (samples.VISA, samples.MASTERCARD, samples.AMEX)
        self.assertEqual(self.names(self.scan(samples.message(text), rules=rules)), ["MANY_CARDS"])

    def test_regexClassesAreAsciiAsInPcre(self):
        """\\d matches ASCII digits only, as PCRE's does without UCP: Arabic-Indic digits are not a match."""
        rules = compile_rules([{"id": "SSN", "regex": [r"\b\d{3}-\d{2}-\d{4}\b"]}])
        self.assertEqual(self.names(self.scan(samples.message("ssn 123-45-6789"), rules=rules)), ["SSN"])
        arabic = "\u0661\u0662\u0663-\u0664\u0665-\u0666\u0667\u0668\u0669"
        self.assertEqual(self.scan(samples.message("ssn " + arabic), rules=rules).matches, [])

    def test_badRules(self):
        """A rule with a bad pattern, no condition, no id or a duplicate id is refused with its place."""
        cases = [
            ([{"id": "A", "regex": ["("]}], "rules[0] (A).regex"),
            ([{"id": "A"}], "no condition"),
            ([{"cards": True}], "needs an id"),
            ([{"id": "A", "cards": True}, {"id": "A", "iban": True}], "used twice"),
            ([{"id": "A", "cards": True, "colour": "red"}], "unknown field colour"),
        ]
        for specs, message in cases:
            e = self.assertRaises(RuleError, compile_rules, specs)
            self.assertIn(message, str(e))
