"""Time, network names and addresses, and mail header helpers."""

import os
import socket
import time

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.stdlib import time as hsltime
from tests.stdlib.helpers import amap, arr, fn, plain, show


class TimeTests(unittest.TestCase):
    def test_clocks(self):
        """time() is Unix time, timelocal() adds the zone offset, uptime() is monotonic."""
        self.assertLess(abs(fn("time")() - time.time()), 1)
        offset = time.localtime().tm_gmtoff
        self.assertLess(abs(fn("timelocal")() - fn("time")() - offset), 1)
        a = fn("uptime")()
        self.assertGreaterEqual(fn("uptime")(), a)

    def test_executionTimeAndSleep(self):
        """executiontime() counts from begin_execution(); sleep() returns the time slept."""
        hsltime.begin_execution()
        slept = fn("sleep")(0.05)
        self.assertGreaterEqual(slept, 0.05)
        self.assertGreaterEqual(fn("executiontime")(), 0.05)
        self.assertLess(fn("sleep")(-1.0), 0.05)

    def test_strftime(self):
        """strftime in UTC and local time; the manual's %H:%M:%S shape; over 100 bytes is empty."""
        self.assertEqual(fn("strftime")(b"%Y-%m-%d %H:%M:%S", 0.0, amap([("local", False)])), b"1970-01-01 00:00:00")
        self.assertEqual(len(fn("strftime")(b"%H:%M:%S")), 8)
        self.assertEqual(fn("strftime")(b"%H", 3600.0, amap([("local", False)])), b"01")
        self.assertEqual(fn("strftime")(b"x" * 101, 0.0), b"")

    def test_strptime(self):
        """Dates parse to Unix time; a time alone means today (the manual's example); bad input is none."""
        utc = amap([("local", False)])
        self.assertEqual(fn("strptime")(b"2020-01-02 03:04:05", b"%Y-%m-%d %H:%M:%S", utc), 1577934245.0)
        today = fn("strptime")(b"13:58:38", b"%H:%M:%S")
        self.assertEqual(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(today))[11:], "13:58:38")
        self.assertEqual(time.localtime(today)[:3], time.localtime()[:3])
        self.assertIsNone(fn("strptime")(b"nope", b"%Y"))

    def test_strpduration(self):
        """Units d, h, m and s; none for anything else."""
        self.assertEqual(fn("strpduration")(b"1d2h3m4s"), 93784.0)
        self.assertEqual(fn("strpduration")(b"90s"), 90.0)
        self.assertEqual(fn("strpduration")(b"1h 30m"), 5400.0)
        for bad in [b"", b"5", b"1x", b"h", b"1h junk"]:
            self.assertIsNone(fn("strpduration")(bad), bad)


class InetTests(unittest.TestCase):
    def test_includes(self):
        """The manual's inet_includes examples; families never mix; bad input is none."""
        inc = fn("inet_includes")
        self.assertIs(inc(b"127.0.0.1", b"127.0.0.1/8"), True)
        self.assertIs(inc(b"127.0.0.1", b"127.0.0.0-127.255.255.255"), True)
        self.assertIs(inc(b"127.0.0.1", b"127.0.0.1"), True)
        self.assertIs(inc(b"2001:4860:4860::8888", b"2001:4860:4860::/48"), True)
        self.assertIs(inc(b"10.0.0.1", b"127.0.0.1/8"), False)
        self.assertIs(inc(b"::1", b"0.0.0.0/0"), False)
        self.assertIsNone(inc(b"nope", b"0.0.0.0/0"))
        self.assertIsNone(inc(b"1.2.3.4", b"1.2.3.4/99"))

    def test_ptonNtop(self):
        """Binary forms of both families, and none for bad lengths."""
        self.assertEqual(fn("inet_pton")(b"10.0.0.1"), b"\n\0\0\x01")
        self.assertEqual(len(fn("inet_pton")(b"::1")), 16)
        self.assertEqual(fn("inet_ntop")(fn("inet_pton")(b"2001:db8::1")), b"2001:db8::1")
        self.assertIsNone(fn("inet_pton")(b"300.1.1.1"))
        self.assertIsNone(fn("inet_ntop")(b"abc"))

    def test_reverse(self):
        """The manual's examples and an IPv6 PTR name."""
        self.assertEqual(fn("inet_reverse")(b"8.8.8.8"), b"8.8.8.8.in-addr.arpa")
        self.assertEqual(fn("inet_reverse")(b"12.34.56.78", b"example.com"), b"78.56.34.12.example.com")
        self.assertEqual(fn("inet_reverse")(b"2001:db8::1"), b"1.0.0.0" + b".0" * 20 + b".8.b.d.0.1.0.0.2.ip6.arpa")
        self.assertIsNone(fn("inet_reverse")(b"x"))

    def test_domainIncludes(self):
        """The manual's four examples, and case."""
        d = fn("domain_includes")
        self.assertIs(d(b"www.halon.io", b"halon.io"), True)
        self.assertIs(d(b"halon.io", b"halon.io"), True)
        self.assertIs(d(b"www.halon.io", b".halon.io"), True)
        self.assertIs(d(b"halon.io", b".halon.io"), False)
        self.assertIs(d(b"WWW.Halon.IO.", b"halon.io"), True)
        self.assertIs(d(b"xhalon.io", b"halon.io"), False)

    def test_publicSuffixFromList(self):
        """Normal, wildcard and exception rules of a list file named by the host."""
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("// comment\ncom\nuk\nco.uk\n*.ck\n!www.ck\n公司.cn\ncn\n")
        host = Host(publicsuffix=path)
        ps = lambda name: fn("domain_publicsuffix")(host, name)  # noqa: E731
        self.assertEqual(ps(b"www.example.co.uk"), b"co.uk")
        self.assertEqual(ps(b"example.com"), b"com")
        self.assertEqual(ps(b"a.b.ck"), b"b.ck")
        self.assertEqual(ps(b"www.ck"), b"ck")
        self.assertEqual(ps("x.公司.cn".encode()), b"xn--55qx5d.cn")
        self.assertIsNone(ps(b"example.invalidtld"))

    def test_publicSuffixFallback(self):
        """Without a list the last label is the suffix when it looks like a TLD."""
        host = Host(publicsuffix=os.path.join(self.mktemp(), "missing.dat"))
        self.assertEqual(fn("domain_publicsuffix")(host, b"www.example.com"), b"com")
        self.assertIsNone(fn("domain_publicsuffix")(host, b"1.2.3.4"))

    def test_idna(self):
        """The manual's fußball example both ways; invalid names are none."""
        self.assertEqual(fn("idna_encode")("fußball.example".encode()), b"xn--fuball-cta.example")
        self.assertEqual(fn("idna_decode")(b"xn--fuball-cta.example"), "fußball.example".encode())
        self.assertIsNone(fn("idna_encode")(b"\xff"))
        self.assertIsNone(fn("idna_decode")(b"xn--a.example"))

    def test_urlParse(self):
        """All components, missing ones left out, none when not an absolute URL."""
        out = fn("url_parse")(b"https://user:pw@Example.com:8443/a/b?x=1#frag")
        self.assertEqual(
            plain(out),
            {"scheme": "https", "username": "user", "password": "pw", "hostname": "example.com", "port": 8443.0,
             "path": "/a/b", "query": "x=1", "fragment": "frag"},
        )
        self.assertEqual(plain(fn("url_parse")(b"http://example.com")), {"scheme": "http", "hostname": "example.com"})
        self.assertIsNone(fn("url_parse")(b"no scheme here"))
        self.assertIsNone(fn("url_parse")(b"http://x:99999/"))

    def test_identity(self):
        """gethostname, uuid and the deterministic uuidv5 (RFC 4122 DNS example)."""
        self.assertEqual(fn("gethostname")(), socket.gethostname().encode())
        a, b = fn("uuid")(), fn("uuid")()
        self.assertNotEqual(a, b)
        self.assertEqual(len(a), 36)
        ns = b"6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        self.assertEqual(fn("uuidv5")(ns, b"python.org"), b"886313e1-3b8a-5372-9b90-0c9aee199e5d")
        self.assertRaises(HSLRuntimeError, fn("uuidv5"), b"nope", b"x")

    def test_syslog(self):
        """Names and numbers (with a facility) reach the host's syslog."""
        logged = []
        host = Host(syslog=lambda p, m: logged.append((p, m)))
        fn("syslog")(host, b"err", b"one")
        fn("syslog")(host, 3.0 + (4 << 3), b"This is sent as LOG_ERR to LOG_AUTH")
        self.assertEqual(logged, [(3, b"one"), (35, b"This is sent as LOG_ERR to LOG_AUTH")])
        self.assertRaises(HSLRuntimeError, fn("syslog"), host, b"loud", b"x")


class MailTests(unittest.TestCase):
    def test_envelopeParse(self):
        """The manual's example; quoted localparts; none for malformed addresses."""
        self.assertEqual(show(fn("envelope_address_parse")(b"user@example.com")), '["localpart"=>"user","domain"=>"example.com"]')
        self.assertEqual(plain(fn("envelope_address_parse")(b'"a b"@x.com')), {"localpart": "a b", "domain": "x.com"})
        self.assertEqual(plain(fn("envelope_address_parse")(b"postmaster")), {"localpart": "postmaster", "domain": ""})
        for bad in [b"a b@x", b"user@", b'"open@x', b"a@b c"]:
            self.assertIsNone(fn("envelope_address_parse")(bad), bad)

    def test_localpartEscape(self):
        """The manual's example, byte for byte."""
        self.assertEqual(fn("envelope_localpart_escape")(b"email address") + b"@example.org", b'"email address"@example.org')
        self.assertEqual(fn("envelope_localpart_escape")(b"first.last"), b"first.last")
        self.assertEqual(fn("envelope_localpart_escape")(b'a"b'), b'"a\\"b"')

    def test_extract(self):
        """The manual's example with ; and the name option with quotes, comments, encoded words and groups."""
        out = fn("header_addresslist_extract")(b"Charlie <charlie@example.org>; James <james@example.com>")
        self.assertEqual(plain(out), ["charlie@example.org", "james@example.com"])
        value = b'"Doe, John" <john@x.com>, jane@y.com (Jane), =?utf-8?Q?J=C3=B6rg?= <j@z.de>, Team: a@b.c, d@e.f;'
        out = fn("header_addresslist_extract")(value, amap([("name", True)]))
        self.assertEqual(
            plain(out),
            [{"name": "Doe, John", "address": "john@x.com"}, {"name": "", "address": "jane@y.com"},
             {"name": "Jörg", "address": "j@z.de"}, {"name": "", "address": "a@b.c"}, {"name": "", "address": "d@e.f"}],
        )
        self.assertEqual(plain(fn("header_addresslist_extract")(b"To: a@b.c,\r\n c@d.e", amap([("field", True)]))), ["a@b.c", "c@d.e"])
        self.assertIsNone(fn("header_addresslist_extract")(b'"unterminated <a@b>'))

    def test_compile(self):
        """Names quoted or encoded as needed; plain addresses pass through; the result extracts back."""
        items = arr({"name": "Doe, John", "address": "john@x.com"}, {"name": "Jörg", "address": "j@z.de"}, "p@x.org")
        value = fn("header_addresslist_compile")(items)
        self.assertEqual(value, b'"Doe, John" <john@x.com>, =?utf-8?Q?J=C3=B6rg?= <j@z.de>, p@x.org')
        back = fn("header_addresslist_extract")(value, amap([("name", True)]))
        self.assertEqual(plain(back)[1], {"name": "Jörg", "address": "j@z.de"})
        self.assertRaises(HSLRuntimeError, fn("header_addresslist_compile"), arr(1))

    def test_dkimDecode(self):
        """The manual's example; folded b= values joined; duplicate tags are none."""
        tags = fn("header_dkim_decode")(b"v=1; d=domain; s=selector; h=to:from:date:subject")
        self.assertEqual(tags.get(b"s") + b"._domainkey." + tags.get(b"d"), b"selector._domainkey.domain")
        out = fn("header_dkim_decode")(b"DKIM-Signature: v=1; b=ab c\r\n  de;", amap([("field", True)]))
        self.assertEqual(plain(out), {"v": "1", "b": "abcde"})
        self.assertIsNone(fn("header_dkim_decode")(b"v=1; v=2"))
        self.assertIsNone(fn("header_dkim_decode")(b"novalue"))
