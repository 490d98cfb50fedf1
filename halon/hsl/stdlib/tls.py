"""
TLSSocket: TLS over a script's connected Socket, client side.

The TLS engine is Python's C{ssl.SSLObject} over memory buffers, and the
bytes go through the Socket's own Python socket (its C{sock} attribute),
so the Socket keeps its descriptor, its timeout (C{settimeout}) and its
identity: C{toSocket()} gives back the very object the script passed in.

Options are Halon's: C{tls_protocols} ("TLSv1.2,TLSv1.3", "!SSLv3" ...;
versions between the lowest and highest allowed are used),
C{tls_ciphers}, C{tls_verify_ca} (against the system's CAs; default
false), C{tls_default_ca}, C{tls_verify_name} (names to match against the
certificate's SAN/CN, wildcards as whole left-most labels only),
C{tls_sni} and C{tls_client_cert} ("pki:X" ids need a key store this host
does not have, so handshakes with it fail).  By default nothing is
verified, as in Halon.
"""

import errno as errno_codes
import ssl

from cryptography import x509

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.stdlib import core
from halon.hsl.stdlib.x509 import X509, X509Resource
from halon.hsl.values import HSLArray, HSLObject, to_bytes, to_number, truthy

__all__ = ["TLSSocket", "name_matches"]

_VERSIONS = [
    ("TLSv1", ssl.TLSVersion.TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3),
]
_OPTIONS = {"tls_protocols", "tls_ciphers", "tls_verify_name", "tls_verify_ca", "tls_default_ca", "tls_sni", "tls_client_cert"}
_READ = 65536


def _protocol_range(spec):
    """(minimum, maximum) TLS versions from Halon's protocol list; ValueError when empty."""
    names = [n for n, _ in _VERSIONS]
    items = [p.strip() for p in spec.split(",") if p.strip()]
    if any(not p.startswith("!") for p in items):
        allowed = {p for p in items if not p.startswith("!")}
    else:
        allowed = set(names)
    allowed -= {p[1:] for p in items if p.startswith("!")}
    chosen = [version for name, version in _VERSIONS if name in allowed]
    if not chosen:
        raise ValueError("no usable TLS protocol in %r" % spec)
    return chosen[0], chosen[-1]


def name_matches(pattern, name):
    """RFC 6125 matching: case-insensitive, '*' only as the whole left-most label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:] and "." in rest
    return pattern == name


def _certificate_names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
        if names:
            return names
    except (x509.ExtensionNotFound, ValueError):
        pass
    return [a.value for a in cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]


def _python_socket(socket):
    sock = getattr(socket, "sock", None)
    if sock is None or not hasattr(sock, "recv"):
        raise HSLRuntimeError("TLSSocket(): expected a connected Socket")
    return sock


@core.cls("TLSSocket")
class TLSSocket(HSLObject):
    """TLSSocket(Socket $socket, array $options)."""

    hsl_class_name = "TLSSocket"
    hsl_methods = {
        "handshake": "handshake",
        "recv": "recv",
        "send": "send",
        "shutdown": "shutdown",
        "errno": "errno",
        "getpeerx509": "getpeerx509",
        "toSocket": "to_socket",
    }

    def __init__(self, socket, options):
        self._socket = socket
        self._sock = _python_socket(socket)
        opts = self._options(options)
        self._names = [to_bytes(n).decode("utf-8", "replace") for n in opts.get("tls_verify_name", HSLArray()).values()]
        self._refuse = "tls_client_cert" in opts
        self._errno = 0
        self._handshaken = False
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            if "tls_protocols" in opts:
                context.minimum_version, context.maximum_version = _protocol_range(_text(opts["tls_protocols"]))
            if "tls_ciphers" in opts:
                context.set_ciphers(_text(opts["tls_ciphers"]))
        except (ValueError, ssl.SSLError) as e:
            raise HSLRuntimeError("TLSSocket(): %s" % (e,))
        if truthy(opts.get("tls_verify_ca", False)):
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_default_certs()
        elif truthy(opts.get("tls_default_ca", False)):
            context.load_default_certs()
        sni = _text(opts["tls_sni"]) if "tls_sni" in opts else None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=sni)

    @staticmethod
    def _options(options):
        if not isinstance(options, HSLArray):
            raise HSLRuntimeError("TLSSocket(): options must be an array")
        out = {}
        for key, value in options.items():
            name = to_bytes(key).decode("utf-8", "replace")
            if name not in _OPTIONS:
                raise HSLRuntimeError("TLSSocket(): unknown option %r" % name)
            out[name] = value
        if "tls_verify_name" in out and not isinstance(out["tls_verify_name"], HSLArray):
            out["tls_verify_name"] = HSLArray.from_list([out["tls_verify_name"]])
        return out

    # -- moving bytes -------------------------------------------------------------

    def _flush(self):
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def _pump(self, operation, *args):
        """Run one SSLObject operation to completion over the socket."""
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self._sock.recv(_READ)
                if not data:
                    self._incoming.write_eof()
                else:
                    self._incoming.write(data)
                continue
            self._flush()
            return result

    def _failed(self, error):
        self._errno = getattr(error, "errno", None) or errno_codes.EIO
        return None

    def _ensure_handshake(self):
        if not self._handshaken:
            if self._refuse:
                raise ssl.SSLError(errno_codes.ENOENT, "client certificate ids are not available here")
            self._pump(self._tls.do_handshake)
            if self._names:
                cert = x509.load_der_x509_certificate(self._tls.getpeercert(binary_form=True))
                names = _certificate_names(cert)
                if not any(name_matches(p, n) for p in names for n in self._names):
                    raise ssl.SSLCertVerificationError(errno_codes.EACCES, "certificate name mismatch")
            self._handshaken = True

    # -- the HSL methods ----------------------------------------------------------------

    def handshake(self):
        try:
            self._ensure_handshake()
        except (ssl.SSLError, OSError, ValueError) as e:
            return self._failed(e)
        return self

    def recv(self, length):
        try:
            self._ensure_handshake()
            return self._pump(self._tls.read, max(1, int(to_number(length))))
        except ssl.SSLZeroReturnError:
            return b""
        except ssl.SSLEOFError:
            return b""
        except (ssl.SSLError, OSError, ValueError) as e:
            return self._failed(e)

    def send(self, data):
        try:
            self._ensure_handshake()
            return float(self._pump(self._tls.write, to_bytes(data)))
        except (ssl.SSLError, OSError, ValueError) as e:
            return self._failed(e)

    def shutdown(self):
        try:
            self._pump(self._tls.unwrap)
        except (ssl.SSLError, OSError, ValueError) as e:
            return self._failed(e)
        return 1.0

    def errno(self):
        return float(self._errno)

    def getpeerx509(self):
        try:
            der = self._tls.getpeercert(binary_form=True)
        except ValueError:
            return None
        if der is None:
            return None
        return X509(X509Resource(x509.load_der_x509_certificate(der)))

    def to_socket(self):
        return self._socket


def _text(value):
    return to_bytes(value).decode("utf-8", "replace")
