"""halon.control.boxes: chunked values and AMP's wire form without Twisted, checked against Twisted's own AMP."""

from twisted.protocols import amp
from twisted.trial import unittest

from halon.control import boxes


class SplitJoinTests(unittest.SynchronousTestCase):
    def test_shortValueIsOneKey(self):
        """A value that fits AMP's limit keeps its own key, unchanged."""
        self.assertEqual(boxes.split(b"request", b"abc"), [(b"request", b"abc")])
        self.assertEqual(boxes.split(b"request", b""), [(b"request", b"")])

    def test_longValueSpreadsOverNumberedKeys(self):
        """A value past 65535 bytes goes to name, name.2, name.3 ... each at most 65535 bytes."""
        data = bytes(range(256)) * 1000
        pairs = boxes.split(b"response", data)
        self.assertEqual([k for k, _ in pairs], [b"response", b"response.2", b"response.3", b"response.4"])
        self.assertTrue(all(len(v) <= boxes.MAX_VALUE for _, v in pairs))
        self.assertEqual(b"".join(v for _, v in pairs), data)

    def test_exactLimitIsOneKey(self):
        """A value of exactly 65535 bytes needs no second key; one more byte does."""
        self.assertEqual(len(boxes.split(b"x", b"a" * 0xFFFF)), 1)
        self.assertEqual(len(boxes.split(b"x", b"a" * 0x10000)), 2)

    def test_joinTakesItsKeysOut(self):
        """join reassembles the value and removes its keys, leaving the others."""
        data = b"q" * 200000
        box = dict(boxes.split(b"response", data))
        box[b"cursor"] = b"1"
        self.assertEqual(boxes.join(b"response", box), data)
        self.assertEqual(box, {b"cursor": b"1"})
        self.assertIsNone(boxes.join(b"response", box))


class WireTests(unittest.SynchronousTestCase):
    def test_encodeIsWhatTwistedReads(self):
        """Twisted's AMP parser reads what encode writes as the same box, chunks included."""
        pairs = [(b"_command", b"ProcessStats"), (b"_ask", b"1")] + boxes.split(b"request", b"r" * 70000)
        self.assertEqual(amp.parseString(boxes.encode(pairs)), [amp.AmpBox(pairs)])

    def test_decoderReadsTwistedBoxesInAnyPieces(self):
        """The decoder yields every box of a stream fed one byte at a time, chunks and all."""
        big = b"z" * 150000
        first = amp.AmpBox(boxes.split(b"response", big) + [(b"_answer", b"1")])
        second = amp.AmpBox([(b"_error", b"2"), (b"_error_description", b"no")])
        stream = first.serialize() + second.serialize()
        decoder = boxes.Decoder()
        got = []
        for i in range(0, len(stream), 7):
            got += decoder.feed(stream[i : i + 7])
        self.assertEqual(len(got), 2)
        self.assertEqual(boxes.join(b"response", got[0]), big)
        self.assertEqual(got[1], {b"_error": b"2", b"_error_description": b"no"})

    def test_badKeyLengthIsAnError(self):
        """A key longer than AMP allows is not an AMP stream: BoxError, not a hang."""
        with self.assertRaises(boxes.BoxError):
            boxes.Decoder().feed(b"\x01\x00" + b"k" * 256)

    def test_encodeRefusesOversizedValues(self):
        """encode will not write a value AMP cannot carry; split first."""
        with self.assertRaises(boxes.BoxError):
            boxes.encode([(b"request", b"a" * 0x10000)])
