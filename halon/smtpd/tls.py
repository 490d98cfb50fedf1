"""
Server-side TLS for STARTTLS and implicit-TLS listeners, on pyOpenSSL.

A L{ServerTLS} is made from a server's C{tls} settings and the running
configuration's C{pki.private} keys when the configuration is prepared, so
a bad certificate or key refuses the configuration instead of failing the
first handshake.  Several certificates are chosen between by SNI.

L{describe} turns a finished handshake into what scripts see as
C{$connection["tls"]}: protocol, cipher, keysize, sni, and the peer
certificate with its verification result when clients are asked for one.
"""

import weakref

from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

__all__ = ["ServerTLS", "TLSError", "describe", "load_pki"]

_PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
_VERSION = {
    "TLSv1": SSL.TLS1_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.3": SSL.TLS1_3_VERSION,
}
DEFAULT_PROTOCOLS = "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1"


class TLSError(ValueError):
    """A certificate, key or setting that cannot be used; the message says which."""


def _read(entry, what, ident):
    if "data" in entry:
        return entry["data"].encode("utf-8")
    try:
        with open(entry["path"], "rb") as f:
            return f.read()
    except OSError as e:
        raise TLSError("pki.private %s: %s %s: %s" % (ident, what, entry["path"], e.strerror))


def load_pki(app):
    """
    The running configuration's C{pki.private} as {id: (certificate chain
    as a list of X509, private key)}.  Raises L{TLSError}.
    """
    out = {}
    for entry in app.get("pki", {}).get("private", []):
        ident = entry["id"]
        cert_pem = _read(entry["certificate"], "certificate", ident)
        key_pem = _read(entry["privatekey"], "private key", ident)
        try:
            chain = _certificates(cert_pem)
            key = crypto.load_privatekey(crypto.FILETYPE_PEM, key_pem)
        except crypto.Error as e:
            raise TLSError("pki.private %s: cannot read the certificate or key: %s" % (ident, _reason(e)))
        if not chain:
            raise TLSError("pki.private %s: no certificate found" % (ident,))
        out[ident] = (chain, key)
    return out


def _certificates(pem):
    marker = b"-----BEGIN CERTIFICATE-----"
    blocks = [marker + part for part in pem.split(marker)[1:]]
    return [crypto.load_certificate(crypto.FILETYPE_PEM, block) for block in blocks]


def _reason(error):
    try:
        return "; ".join(str(e[2]) for e in error.args[0]) or str(error)
    except (IndexError, TypeError):
        return str(error)


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLS:
    """
    The TLS contexts of one virtual server.  Twisted's C{startTLS} and
    C{TLSMemoryBIOFactory} take it as a server connection creator.

    @param certs: [(chain, key, server names)], the first is the default.
    """

    def __init__(self, certs, protocols=None, ciphers=None, clientcert=False):
        if not certs:
            raise TLSError("tls.certs is empty")
        self.clientcert = clientcert
        self._verify_errors = weakref.WeakKeyDictionary()
        self._contexts = []
        self._by_name = {}
        for chain, key, names in certs:
            context = self._context(chain, key, protocols, ciphers)
            self._contexts.append(context)
            for name in names:
                self._by_name.setdefault(name.lower().encode("idna") if isinstance(name, str) else name, context)
        if len(self._contexts) > 1 or self._by_name:
            self._contexts[0].set_tlsext_servername_callback(self._choose)

    @classmethod
    def from_config(cls, tls_conf, pki):
        """From a server's C{tls} settings and L{load_pki}'s result; raises L{TLSError}."""
        certs = []
        for entry in tls_conf.get("certs", []):
            if entry["cert"] not in pki:
                raise TLSError("tls.certs: no pki.private entry with id %s" % (entry["cert"],))
            chain, key = pki[entry["cert"]]
            certs.append((chain, key, entry.get("sni", [])))
        return cls(certs, tls_conf.get("protocols"), tls_conf.get("ciphers"), tls_conf.get("clientcert", False))

    def _context(self, chain, key, protocols, ciphers):
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_SINGLE_ECDH_USE)
        low, high = _versions(protocols or DEFAULT_PROTOCOLS)
        context.set_min_proto_version(low)
        context.set_max_proto_version(high)
        try:
            context.use_certificate(chain[0])
            for extra in chain[1:]:
                context.add_extra_chain_cert(extra)
            context.use_privatekey(key)
            context.check_privatekey()
            if ciphers:
                context.set_cipher_list(ciphers.encode("ascii"))
        except SSL.Error as e:
            raise TLSError("certificate, key or ciphers not usable: %s" % (_reason(e),))
        if self.clientcert:
            context.set_verify(SSL.VERIFY_PEER, self._verified)
        return context

    def _verified(self, connection, cert, errno, depth, ok):
        """Record the first verification error; a client certificate is never required."""
        if errno and connection not in self._verify_errors:
            self._verify_errors[connection] = errno
        return True

    def _choose(self, connection):
        name = connection.get_servername()
        if name is None:
            return
        context = self._by_name.get(name.lower())
        if context is not None and context is not self._contexts[0]:
            connection.set_context(context)

    def getContext(self):
        return self._contexts[0]

    def serverConnectionForTLS(self, protocol):
        return SSL.Connection(self._contexts[0], None)

    def verify_error(self, connection):
        return self._verify_errors.get(connection, 0)


def _versions(spec):
    """(lowest, highest) enabled protocol version from an OpenSSL-style list."""
    enabled = dict((p, True) for p in _PROTOCOLS)
    for word in spec.replace(" ", "").split(","):
        if not word:
            continue
        negate = word.startswith("!")
        name = word.lstrip("!")
        if name not in enabled:
            raise TLSError("tls.protocols: unknown protocol %s" % (name,))
        enabled[name] = not negate
    usable = [p for p in _PROTOCOLS if enabled[p] and p in _VERSION]
    if not usable:
        raise TLSError("tls.protocols: no protocol left enabled")
    return _VERSION[usable[0]], _VERSION[usable[-1]]


def _server_name(sni):
    """The SNI a client sent, as text: IDNA labels decoded when they are valid."""
    try:
        return sni.decode("idna")
    except UnicodeError:
        return sni.decode("ascii", "replace")


def describe(transport, server_tls):
    """
    $connection["tls"] for a transport whose handshake finished, as a dict
    of Python values: protocol, cipher, keysize, sni (when sent), and
    peercert {x509 (cryptography certificate), chain, error} when the client
    presented one.
    """
    connection = transport.getHandle() if hasattr(transport, "getHandle") else None
    if not isinstance(connection, SSL.Connection):
        return {}
    info = {
        "protocol": connection.get_protocol_version_name(),
        "cipher": connection.get_cipher_name(),
        "keysize": connection.get_cipher_bits(),
    }
    sni = connection.get_servername()
    if sni is not None:
        info["sni"] = _server_name(sni)
    peer = connection.get_peer_certificate()
    if peer is not None:
        chain = connection.get_peer_cert_chain() or []
        info["peercert"] = {
            "x509": peer.to_cryptography(),
            "chain": [c.to_cryptography() for c in chain],
            "error": server_tls.verify_error(connection) if server_tls is not None else 0,
        }
    return info
