"""
What the server knows about a client, split by lifetime as in aiosmtpd:
L{Session} lives as long as the connection (peer, HELO, TLS, AUTH, the
scripts' $context), L{Transaction} from one reset to the next (sender,
recipients, their parameters).  Both are plain data: the protocol fills
them in, hooks read them, and the spool writes them.

Also here: parsing of the MAIL FROM / RCPT TO argument (the path and its
ESMTP parameters), which is pure and tested on its own.
"""

import uuid

__all__ = ["Address", "Recipient", "Session", "Transaction", "parse_path", "PathError", "new_id"]


def new_id():
    """A fresh id for a connection, a transaction or a queued message."""
    return str(uuid.uuid4())


class PathError(ValueError):
    """A MAIL FROM / RCPT TO argument that is not a valid path."""


class Address:
    """
    An envelope address: C{localpart} and C{domain} as the client sent them
    (bytes; both empty for the null sender).
    """

    __slots__ = ("localpart", "domain")

    def __init__(self, localpart=b"", domain=b""):
        self.localpart = localpart
        self.domain = domain

    @classmethod
    def parse(cls, text):
        """
        An address from a string a script or a client gave: the domain is
        what follows the last @ outside quotes; a string without @ is all
        local part (C{<postmaster>}).
        """
        at = _last_at(text)
        if at < 0:
            return cls(text, b"")
        return cls(text[:at], text[at + 1 :])

    @property
    def null(self):
        return not self.localpart and not self.domain

    def __bytes__(self):
        if not self.domain:
            return self.localpart
        return self.localpart + b"@" + self.domain

    def lower(self):
        """The address as Halon's sender/recipient strings show it: lower-case."""
        return bytes(self).lower()

    def is_ascii(self):
        return bytes(self).isascii()

    def __eq__(self, other):
        return isinstance(other, Address) and bytes(self) == bytes(other)

    def __hash__(self):
        return hash(bytes(self))

    def __repr__(self):
        return "Address(%r)" % (bytes(self),)


class Recipient:
    """An accepted recipient: address, RCPT parameters and transport id."""

    __slots__ = ("address", "params", "transportid")

    def __init__(self, address, params, transportid):
        self.address = address
        self.params = params
        self.transportid = transportid

    def __repr__(self):
        return "Recipient(%r, %r, %r)" % (self.address, self.params, self.transportid)


class Transaction:
    """
    One mail transaction.  It exists from the start (scripts see
    $transaction["id"] in the connect hook) and is replaced after each
    end of data, RSET, HELO/EHLO and STARTTLS.
    """

    __slots__ = ("_id", "sender", "senderparams", "recipients", "ts")

    def __init__(self, tid=None):
        self._id = tid or None
        self.sender = None
        self.senderparams = {}
        self.recipients = []
        self.ts = None

    @property
    def id(self):
        """
        Made when first read: most sessions replace the transaction they
        start with (at HELO) and the one after their message (at QUIT)
        without anything asking for its id.
        """
        if self._id is None:
            self._id = new_id()
        return self._id

    @property
    def started(self):
        return self.sender is not None


class Session:
    """
    One client connection.  C{context} is the scripts' C{$context}, kept
    between hooks, and C{script_cache} what the hook implementation keeps
    for itself; both belong to the hook implementation.
    """

    def __init__(self, serverid, remoteip, remoteport, localip, localport):
        self.id = new_id()
        self.serverid = serverid
        self.remoteip = remoteip
        self.remoteport = remoteport
        self.localip = localip
        self.localport = localport
        self.remoteptr = None
        self.proxyip = None
        self.priority = 0
        self.helo_verb = None
        self.helo_host = None
        self.extensions = None
        self.tls = None
        self.auth = None
        self.context = None
        self.script_cache = None
        self.transaction = Transaction()

    def new_transaction(self):
        self.transaction = Transaction()
        return self.transaction

    def forget_helo(self):
        """After STARTTLS the client must greet again (RFC 3207)."""
        self.helo_verb = None
        self.helo_host = None
        self.extensions = None


def _last_at(text):
    """Index of the last @ outside a quoted string, or -1."""
    quoted = False
    escaped = False
    at = -1
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == 0x5C and quoted:  # backslash
            escaped = True
        elif c == 0x22:  # "
            quoted = not quoted
        elif c == 0x40 and not quoted:  # @
            at = i
    return at


def _closing_bracket(text):
    """Index of the > that closes the path, skipping quoted local parts."""
    quoted = False
    escaped = False
    for i in range(1, len(text)):
        c = text[i]
        if escaped:
            escaped = False
        elif c == 0x5C and quoted:
            escaped = True
        elif c == 0x22:
            quoted = not quoted
        elif c == 0x3E and not quoted:
            return i
    return -1


# Outside quotes a local part has no controls, spaces or specials (RFC 5321 atext and dots).
_FORBIDDEN = frozenset(range(0, 33)) | {0x7F, 0x3C, 0x3E, 0x28, 0x29, 0x2C, 0x3B, 0x3A, 0x5B, 0x5D, 0x5C}


def _check_localpart(local):
    if not local:
        raise PathError("empty local part")
    if local[:1] == b'"':
        if len(local) < 2 or local[-1:] != b'"':
            raise PathError("unterminated quoted local part")
        body = local[1:-1]
        if any(c < 32 or c == 0x7F for c in body):
            raise PathError("control character in local part")
        return
    if any(c in _FORBIDDEN or c == 0x40 or c == 0x22 for c in local):
        raise PathError("invalid character in local part")


def _check_domain(domain):
    if not domain:
        raise PathError("empty domain")
    if domain[:1] == b"[":
        if domain[-1:] != b"]" or any(c <= 32 or c == 0x7F for c in domain):
            raise PathError("invalid address literal")
        return
    if len(domain) > 255:
        raise PathError("domain too long")
    for label in domain.split(b"."):
        if not label or len(label) > 63:
            raise PathError("invalid domain")
        if any(c < 128 and not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c in b"-_") for c in label):
            raise PathError("invalid character in domain")


def parse_path(argument, keyword, allow_null):
    """
    Split a MAIL/RCPT argument (C{b"FROM:<a@b> SIZE=10"}) into the address
    and its parameters ({upper-case name: value or None}, in order).
    A path without angle brackets is tolerated, as many servers do; a
    source route (C{<@a,@b:u@d>}) is dropped.  Raises L{PathError}.
    """
    colon = argument.find(b":")
    if colon < 0 or argument[:colon].strip().upper() != keyword:
        raise PathError("expected %s:<address>" % keyword.decode())
    rest = argument[colon + 1 :].lstrip(b" ")
    if rest[:1] == b"<":
        end = _closing_bracket(rest)
        if end < 0:
            raise PathError("missing >")
        path = rest[1:end]
        tail = rest[end + 1 :]
        if tail and tail[:1] != b" ":
            raise PathError("garbage after address")
    else:
        path, _, tail = rest.partition(b" ")
    if path[:1] == b"@":
        route_end = path.find(b":")
        if route_end < 0:
            raise PathError("invalid source route")
        path = path[route_end + 1 :]
    if not path:
        if not allow_null:
            raise PathError("empty address")
        address = Address()
    else:
        at = _last_at(path)
        if at < 0:
            if keyword == b"TO" and path.lower() == b"postmaster":
                address = Address(path, b"")
            else:
                raise PathError("address without domain")
        else:
            address = Address(path[:at], path[at + 1 :])
            _check_localpart(address.localpart)
            _check_domain(address.domain)
        if len(path) > 512:
            raise PathError("address too long")
    return address, parse_params(tail)


def parse_params(text):
    """ESMTP parameters C{A=1 B} as {b"A": b"1", b"B": None}; names upper-cased."""
    params = {}
    for word in text.split():
        name, eq, value = word.partition(b"=")
        if not name or any(c <= 32 or c >= 127 for c in name):
            raise PathError("invalid parameter")
        params[name.upper()] = value if eq else None
    return params
