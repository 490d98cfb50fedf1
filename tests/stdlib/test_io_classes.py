"""File, Socket, Iconv and FFI: the builtin classes that reach outside the script."""

import errno
import io
import os
import socket
import struct
import threading

from twisted.trial import unittest

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.host import Host
from halon.hsl.stdlib import core
from halon.hsl.stdlib.files import FileResource
from halon.hsl.stdlib.socket import SocketResource
from tests.stdlib.helpers import arr


class FileTests(unittest.TestCase):
    def setUp(self):
        self.root = self.mktemp()
        os.makedirs(self.root)
        with open(os.path.join(self.root, "data.txt"), "wb") as f:
            f.write(b"one\r\ntwo\nthree")
        self.host = Host(rootpath=self.root, files={"virtual.txt": b"virtual data"})
        self.File = core.namespace(self.host)["File"]

    def test_stringManualExample(self):
        """File::String("Hello\\nWorld")->readline() is "Hello"; then World; then false."""
        f = self.File.from_string(b"Hello\nWorld")
        self.assertEqual(f.readline(), b"Hello")
        self.assertEqual(f.readline(), b"World")
        self.assertIs(f.readline(), False)
        self.assertIsNone(f.get_path())

    def test_readSeekTell(self):
        """read with and without a length, "" at EOF, and the three whence values."""
        f = self.File(b"data.txt")
        self.assertEqual(f.read(3.0), b"one")
        self.assertEqual(f.tell(), 3.0)
        self.assertEqual(f.seek(-5.0, b"SEEK_END"), 9.0)
        self.assertEqual(f.read(), b"three")
        self.assertEqual(f.read(), b"")
        self.assertEqual(f.seek(0.0), 0.0)
        self.assertEqual(f.seek(5.0, b"SEEK_CUR"), 5.0)
        self.assertEqual(f.readline(), b"two")
        self.assertIsNone(f.seek(-100.0, b"SEEK_CUR"))
        self.assertRaises(HSLRuntimeError, f.seek, 0.0, b"SEEK_NOWHERE")
        self.assertEqual(f.get_path(), os.path.realpath(os.path.join(self.root, "data.txt")).encode())

    def test_manualLoop(self):
        """The manual's while ($data = $file->read(8192)) loop reads everything."""
        f = self.File(b"virtual.txt")
        chunks = []
        while True:
            data = f.read(4.0)
            if not data:
                break
            chunks.append(data)
        self.assertEqual(b"".join(chunks), b"virtual data")
        f.close()
        self.assertRaises(HSLRuntimeError, f.read)

    def test_readStatic(self):
        """File::read gives all bytes, or none for missing files and paths outside the root."""
        self.assertEqual(self.File.read_file(b"data.txt"), b"one\r\ntwo\nthree")
        self.assertEqual(self.File.read_file(b"virtual.txt"), b"virtual data")
        self.assertIsNone(self.File.read_file(b"missing.txt"))
        self.assertIsNone(self.File.read_file(b"../../../etc/passwd"))

    def test_sandbox(self):
        """Opening outside the root path is an error; so is any file without a root."""
        self.assertRaises(HSLRuntimeError, self.File, b"/etc/passwd")
        self.assertRaises(HSLRuntimeError, core.namespace(Host())["File"], b"data.txt")

    def test_resourceAndReadAll(self):
        """A FileResource from a hook wraps any stream; read_all keeps the position."""
        f = self.File(FileResource(io.BytesIO(b"abcdef")))
        f.read(2.0)
        self.assertEqual(f.read_all(), b"abcdef")
        self.assertEqual(f.read(), b"cdef")


class SocketTests(unittest.TestCase):
    def setUp(self):
        self.Socket = core.classes["Socket"]
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = float(self.server.getsockname()[1])

    def tearDown(self):
        self.server.close()

    def _echo_once(self):
        def serve():
            conn, _ = self.server.accept()
            with conn:
                data = conn.recv(100)
                conn.sendall(data.upper())

        t = threading.Thread(target=serve)
        t.start()
        return t

    def test_roundTrip(self):
        """connect, send, recv, shutdown, close against a real loopback server."""
        t = self._echo_once()
        s = self.Socket(self.Socket.af(b"127.0.0.1"), b"SOCK_STREAM")
        self.assertIs(s.connect(b"127.0.0.1", self.port), s)
        self.assertEqual(s.send(b"hello"), 5.0)
        self.assertEqual(s.recv(100.0), b"HELLO")
        self.assertIs(s.shutdown(b"SHUT_RDWR"), s)
        self.assertIs(s.close(), s)
        self.assertIsNone(s.close())
        t.join()

    def test_errors(self):
        """A refused connection and a timeout give none and an errno."""
        s = self.Socket(b"AF_INET", b"SOCK_STREAM")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.assertIsNone(s.connect(b"127.0.0.1", float(port)))
        self.assertEqual(s.errno(), float(errno.ECONNREFUSED))
        s2 = self.Socket(b"AF_INET", b"SOCK_STREAM")
        s2.connect(b"127.0.0.1", self.port)
        s2.settimeout(0.1)
        self.assertIsNone(s2.recv(10.0))
        self.assertEqual(s2.errno(), float(errno.ETIMEDOUT))
        self.assertIsNone(s2.recv(10.0, arr("MSG_DONTWAIT")))
        s2.close()

    def test_udpAndBind(self):
        """Datagram sockets bind and exchange on loopback."""
        a = self.Socket(b"AF_INET", b"SOCK_DGRAM")
        self.assertIs(a.bind(b"127.0.0.1", 0.0), a)
        port = float(a.sock.getsockname()[1])
        b = self.Socket(b"AF_INET", b"SOCK_DGRAM")
        b.connect(b"127.0.0.1", port)
        b.send(b"ping")
        self.assertEqual(a.recv(10.0, arr("MSG_PEEK")), b"ping")
        self.assertEqual(a.recv(10.0), b"ping")
        a.close()
        b.close()

    def test_statics(self):
        """Socket::AF and Socket::Resource."""
        self.assertEqual(self.Socket.af(b"::1"), b"AF_INET6")
        self.assertIsNone(self.Socket.af(b"example.com"))
        raw = socket.socket()
        s = self.Socket.from_resource(SocketResource(raw))
        self.assertIs(s.sock, raw)
        raw.close()
        self.assertRaises(HSLRuntimeError, self.Socket, b"AF_BOGUS", b"SOCK_STREAM")


class IconvTests(unittest.TestCase):
    def test_convert(self):
        """Latin-1 to UTF-8 and back; errno after failures."""
        Iconv = core.classes["Iconv"]
        self.assertEqual(Iconv(b"ISO-8859-1", b"UTF-8").convert(b"r\xe4ksm\xf6rg\xe5s"), "räksmörgås".encode())
        to_latin = Iconv(b"UTF-8", b"ISO-8859-1")
        self.assertEqual(to_latin.convert("å".encode()), b"\xe5")
        self.assertIsNone(to_latin.convert("€".encode()))
        self.assertEqual(to_latin.errno(), 84.0)
        self.assertIsNone(to_latin.convert(b"\xc3"))
        self.assertEqual(to_latin.errno(), 22.0)
        self.assertEqual(Iconv(b"UTF-8", b"ASCII//TRANSLIT").convert("café €".encode()), b"cafe ?")
        self.assertEqual(Iconv(b"UTF-8", b"ASCII//IGNORE").convert("café".encode()), b"caf")
        self.assertRaises(HSLRuntimeError, Iconv, b"NO-SUCH-CHARSET", b"UTF-8")
        closed = Iconv(b"UTF-8", b"UTF-16LE")
        self.assertEqual(closed.convert(b"a"), b"a\0")
        closed.close()
        self.assertIsNone(closed.convert(b"a"))


class FFITests(unittest.TestCase):
    def setUp(self):
        self.FFI = core.namespace(Host(ffi=True))["FFI"]
        self.libc = self.FFI(b"libc.so.6")
        self.T = self.FFI.s_type

    def test_refusedWithoutFFI(self):
        """Without ffi on the host neither the constructor nor the statics work."""
        FFI = core.namespace(Host())["FFI"]
        self.assertRaises(HSLRuntimeError, FFI, b"libc.so.6")
        self.assertRaises(HSLRuntimeError, FFI.s_type, b"pointer")

    def test_callsAndConversions(self):
        """strlen with a string converted implicitly and with FFI::cstring; a missing function is none."""
        T, FFI = self.T, self.FFI
        strlen = self.libc.func(b"strlen", arr(T(b"pointer")), T(b"uint64"))
        self.assertEqual(FFI.s_number(strlen(b"hello")), 5.0)
        self.assertEqual(FFI.s_number(strlen(FFI.s_cstring(b"ab\0cd"))), 2.0)
        self.assertIsNone(self.libc.func(b"no_such_function", arr(), T(b"void")))

    def test_variadicAndMemory(self):
        """snprintf with variadic typed values into allocated memory; malloc with attach; offset."""
        T, FFI = self.T, self.FFI
        snprintf = self.libc.func(b"snprintf", arr(T(b"pointer"), T(b"uint64"), T(b"pointer"), T(b"...")), T(b"sint32"))
        buf = FFI.s_allocate(64.0)
        snprintf(buf, 64.0, b"%s %d %.1f", FFI.s_cstring(b"x"), FFI.s_cnumber(T(b"sint32"), 42.0), FFI.s_cnumber(T(b"double"), 1.5))
        self.assertEqual(FFI.s_string(buf), b"x 42 1.5")
        malloc = self.libc.func(b"malloc", arr(T(b"uint64")), T(b"pointer"))
        p = FFI.s_attach(malloc(16.0))
        FFI.s_memcpy(p, b"hi\0")
        self.assertEqual(FFI.s_string(FFI.s_offset(p, 1.0)), b"i")
        self.assertEqual(FFI.s_string(p, 2.0), b"hi")
        self.assertEqual(FFI.s_number64(FFI.s_cnumber(T(b"sint64"), -1.0)).to_list(), [4294967295.0, 4294967295.0])
        self.assertIsNone(FFI.s_deref(FFI.s_byref(FFI.s_nullptr())))

    def test_callback(self):
        """qsort calls back into a script function."""
        T, FFI = self.T, self.FFI

        def compare(a, b):
            x = FFI.s_number(FFI.s_deref(a, T(b"sint32")))
            y = FFI.s_number(FFI.s_deref(b, T(b"sint32")))
            return FFI.s_cnumber(T(b"sint32"), x - y)

        cmp = FFI.s_callback(arr(T(b"pointer"), T(b"pointer")), T(b"sint32"), compare)
        qsort = self.libc.func(b"qsort", arr(T(b"pointer"), T(b"uint64"), T(b"uint64"), T(b"pointer")), T(b"void"))
        data = FFI.s_allocate(12.0)
        FFI.s_memcpy(data, struct.pack("3i", 3, 1, 2))
        self.assertIsNone(qsort(data, 3.0, 4.0, cmp))
        self.assertEqual(struct.unpack("3i", FFI.s_string(data, 12.0)), (1, 2, 3))

    def test_fileAndSocketValues(self):
        """File->toFFIValue is a FILE* at the current position; Socket->toFFIValue its descriptor."""
        T, FFI = self.T, self.FFI
        File = core.namespace(Host(ffi=True))["File"]
        f = File.from_string(b"Hello\nWorld")
        f.readline()
        fgets = self.libc.func(b"fgets", arr(T(b"pointer"), T(b"sint32"), T(b"pointer")), T(b"pointer"))
        buf = FFI.s_allocate(32.0)
        fgets(buf, 32.0, f.to_ffi_value())
        self.assertEqual(FFI.s_string(buf), b"World")
        s = core.classes["Socket"](b"AF_INET", b"SOCK_STREAM")
        self.assertEqual(FFI.s_number(s.to_ffi_value()), float(s.sock.fileno()))
        s.close()
        self.assertRaises(HSLRuntimeError, core.namespace(Host())["File"].from_string(b"x").to_ffi_value)
