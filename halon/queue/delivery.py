"""
One delivery attempt: where to connect, and the SMTP conversation there.

L{resolve_destination} turns a recipient domain (or a transport's fixed
server) into an ordered list of hops C{(mx, ip)}: MX records by preference,
the domain itself when it has none (RFC 5321 5.1 implicit MX), and a
permanent error for NXDOMAIN and null MX (RFC 7505); lookups go through
L{halon.resolver.Resolver}, so they are cached and counted.

L{Deliverer.deliver} tries the hops in order until one takes the message:
it reuses a pooled connection when the pool has one for the hop, else opens
one (within the global connection limit), and returns one L{Outcome} per
recipient.  Connection failures move on to the next hop; once the message
data may have reached a server, it does not (a drop during DATA is a
temporary failure, never a second delivery through another MX).
"""

import fnmatch
import functools
import ipaddress
import itertools
import uuid

from twisted.internet import defer, endpoints, ssl

from halon.mailauth import dane
from halon.queue.client import SessionError, SMTPClientProtocol

PERMANENT_DNS = ("nxdomain", "nullmx", "excluded")


class Resolution:
    """
    @ivar hops: [(mx name, ip)] in the order to try.
    @ivar error: None, or (message, kind) where kind is one of postdelivery's
        dns error kinds (other, nxdomain, nullmx, nodata, excluded).
    """

    __slots__ = ("hops", "error")

    def __init__(self, hops=(), error=None):
        self.hops = list(hops)
        self.error = error

    @property
    def permanent(self):
        return self.error is not None and self.error[1] in PERMANENT_DNS


@functools.lru_cache(maxsize=1024)
def _is_ip(text):
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def _wildcard_match(patterns, name):
    name = name.lower().rstrip(".")
    return any(fnmatch.fnmatchcase(name, p.lower().rstrip(".")) for p in patterns)


def fixed_destination(server):
    """The L{Resolution} of a transport's server when it is an IP address (no lookup to wait for), else None."""
    if server and _is_ip(server):
        ip = server.strip("[]")
        return Resolution([(ip, ip)])
    return None


@defer.inlineCallbacks
def resolve_destination(resolver, domain, server=None, mx_include=(), mx_exclude=(), ipv6=True):
    """A Deferred L{Resolution} for delivering to C{domain} (or to C{server})."""
    if server and server != "lookup-mx":
        if _is_ip(server):
            return fixed_destination(server)
        addresses = yield _addresses(resolver, server, ipv6)
        if isinstance(addresses, tuple):
            return Resolution(error=addresses)
        return Resolution([(server, ip) for ip in addresses])
    if not domain:
        return Resolution(error=("no recipient domain", "other"))
    if domain.startswith("[") and _is_ip(domain):
        return Resolution([(domain.strip("[]"), domain.strip("[]"))])
    answer = yield resolver.lookup_mx(domain)
    if answer.error == "NXDOMAIN":
        return Resolution(error=("%s: NXDOMAIN" % (domain,), "nxdomain"))
    if answer.error is not None:
        return Resolution(error=("%s: MX lookup failed (%s)" % (domain, answer.error), "other"))
    records = sorted(answer.records)
    if len(records) == 1 and records[0][1].rstrip(".") == "":
        return Resolution(error=("%s does not accept mail (null MX)" % (domain,), "nullmx"))
    names = [name.rstrip(".") for _, name in records if name.rstrip(".")] or [domain]
    if mx_include:
        names = [n for n in names if _wildcard_match(mx_include, n)]
    if mx_exclude:
        names = [n for n in names if not _wildcard_match(mx_exclude, n)]
    if not names:
        return Resolution(error=("%s: every MX excluded" % (domain,), "excluded"))
    hops = []
    errors = []
    for name in names:
        addresses = yield _addresses(resolver, name, ipv6)
        if isinstance(addresses, tuple):
            errors.append(addresses)
            continue
        hops.extend((name, ip) for ip in addresses)
    if not hops:
        message = "; ".join(e[0] for e in errors) or "%s: no addresses" % (domain,)
        return Resolution(error=(message, "nodata"))
    return Resolution(hops)


@defer.inlineCallbacks
def _addresses(resolver, name, ipv6):
    """[ip] of a host (IPv4 first), or (message, kind) on failure."""
    a = yield resolver.lookup_a(name)
    addresses = list(a.records)
    if ipv6:
        aaaa = yield resolver.lookup_aaaa(name)
        addresses.extend(aaaa.records)
    else:
        aaaa = a
    if addresses:
        return addresses
    if a.error == "NXDOMAIN":
        return ("%s: NXDOMAIN" % (name,), "nxdomain")
    if a.error is not None or aaaa.error is not None:
        return ("%s: address lookup failed (%s)" % (name, a.error or aaaa.error), "other")
    return ("%s: no addresses" % (name,), "nodata")


class Outcome:
    """
    The result of an attempt for one recipient, in postdelivery's terms.

    @ivar reply: the L{halon.queue.client.Reply} that decided it, or None.
    @ivar error: None or a dict (temporary, message, type[, dns]) when there
        was no SMTP reply to go by.
    @ivar connection: a dict describing the connection used (or None).
    """

    __slots__ = ("reply", "error", "connection", "duration")

    def __init__(self, reply=None, error=None, connection=None, duration=0.0):
        self.reply = reply
        self.error = error
        self.connection = connection
        self.duration = duration

    @property
    def delivered(self):
        return self.reply is not None and 200 <= self.reply.code < 300

    @property
    def permanent(self):
        if self.reply is not None:
            return self.reply.code >= 500
        return not self.error.get("temporary", True)

    def __repr__(self):
        return "Outcome(%r, %r)" % (self.reply, self.error)


class Session:
    """What identifies the client side of a connection (part of the pool key)."""

    __slots__ = ("helo", "localip", "port", "lmtp", "auth")

    def __init__(self, helo, localip=None, port=25, lmtp=False, auth=None):
        self.helo = helo
        self.localip = localip or None
        self.port = port
        self.lmtp = lmtp
        self.auth = tuple(auth) if auth else None


_connection_ids = itertools.count(1)


class Deliverer:
    """
    @param trust_root: what *_verify TLS modes verify against (a
        twisted.internet.ssl trust root); the platform's CAs by default.
    """

    def __init__(self, reactor, pool, trust_root=None, resolver=None):
        self._reactor = reactor
        self.pool = pool
        self.trust_root = trust_root
        self.resolver = resolver
        self._plain_tls = {}

    @defer.inlineCallbacks
    def _dane(self, mx, port, mode):
        """
        (tls mode for this hop, TLSA records or None, the reason this hop
        must not be used or None) for a dane/dane_require hop.  Only
        DNSSEC-validated TLSA records count (RFC 7672 2.2); with them TLS is
        required and the chain must match.  A failed lookup may hide
        records, so it refuses the hop; no records at all falls back to
        opportunistic TLS, unless dane_require.
        """
        if self.resolver is None or _is_ip(mx):
            answer = None
        else:
            answer = yield self.resolver.query(dane.tlsa_name(mx, port), "tlsa")
            if answer.error not in (None, "NXDOMAIN"):
                return "require", None, "TLSA lookup for %s failed (%s)" % (mx, answer.error)
            if answer.records and answer.dnssec:
                return "require", list(answer.records), None
        if mode == "dane_require":
            return "require", None, "no DNSSEC-validated TLSA records for %s" % (mx,)
        return "optional", None, None

    def _tls_context(self, mode, protocols, hostname):
        if mode == "disabled":
            return None
        minimum = _minimum_tls(protocols)
        if mode.endswith("_verify"):
            trust = self.trust_root if self.trust_root is not None else ssl.platformTrust()
            return ssl.optionsForClientTLS(hostname, trustRoot=trust, extraCertificateOptions={"raiseMinimumTo": minimum})
        if minimum not in self._plain_tls:
            self._plain_tls[minimum] = ssl.CertificateOptions(verify=False, raiseMinimumTo=minimum)
        return self._plain_tls[minimum]

    def attempt(self, hops, session, settings, sender, recipients, data, mail_params=b"", rcpt_params=()):
        """
        Deliver C{data} from C{sender} to C{recipients} through the first
        hop that takes it.  Never fails: returns [L{Outcome}] per recipient,
        or None when no connection could be opened within the global limit.
        A generator of Deferreds, for the queue to run within its attempt's
        own; L{deliver} runs it on its own.
        """
        started = self._reactor.seconds()
        errors = []
        for mx, ip in hops:
            tlsa = None
            mode = settings.tls_mode
            if mode in ("dane", "dane_require"):
                mode, tlsa, refused = yield self._dane(mx, session.port, mode)
                if refused is not None:
                    errors.append(("%s [%s]: %s" % (mx, ip, refused), "dane", None))
                    continue
            key = (ip, session.port, session.localip, session.helo, settings.tls_mode, session.auth, session.lmtp)
            protocol = self.pool.take(key, settings.pooling)
            fresh = protocol is None
            if fresh:
                if not self.pool.has_room():
                    # Every connection slot is taken (queues.concurrency.total):
                    # not an attempt; the queue tries again when one frees up.
                    return None
                protocol = yield self._connect(mx, ip, session, settings, errors, mode)
                if protocol is None:
                    continue
                if tlsa is not None:
                    verdict = dane.verify(tlsa, (protocol.tls or {}).get("chain") or [], mx)
                    protocol.tls["tlsa"] = {"records": [_tlsa_dict(r) for r in tlsa],
                                            "error": None if verdict.ok else verdict.reason}
                    if not verdict.ok:
                        errors.append(("%s [%s]: DANE: %s" % (mx, ip, verdict.reason), "dane",
                                       self._describe(protocol, mx, ip, session)))
                        protocol.quit()
                        continue
            connection = self._describe(protocol, mx, ip, session)
            try:
                result = yield protocol.transaction(sender, recipients, data, mail_params, rcpt_params)
            except SessionError as e:
                if not fresh and not getattr(e, "replied", True):
                    # A pooled connection the server had already closed
                    # before answering anything: take this hop again on a new one.
                    protocol = yield self._connect(mx, ip, session, settings, errors)
                    if protocol is None:
                        continue
                    connection = self._describe(protocol, mx, ip, session)
                    try:
                        result = yield protocol.transaction(sender, recipients, data, mail_params, rcpt_params)
                    except SessionError as again:
                        return self._failed(recipients, again, connection, started)
                else:
                    return self._failed(recipients, e, connection, started)
            connection["transactions"] = protocol.transactions
            duration = self._reactor.seconds() - started
            self._release(protocol, key, settings)
            return [Outcome(reply, None, connection, duration) for reply in result.eod]
        # No hop took the message.  Refusals before MAIL (a 5xx banner or
        # EHLO included) are temporary, as they say nothing about the message.
        message, kind, connection = errors[-1] if errors else ("no destination", "network", None)
        error = {"temporary": True, "message": message, "type": kind}
        duration = self._reactor.seconds() - started
        return [Outcome(None, error, connection, duration) for _ in recipients]

    deliver = defer.inlineCallbacks(attempt)

    def _failed(self, recipients, e, connection, started):
        error = {"temporary": e.temporary, "message": str(e), "type": e.kind}
        duration = self._reactor.seconds() - started
        return [Outcome(None, error, connection, duration) for _ in recipients]

    def _release(self, protocol, key, settings):
        limit = settings.pool_transactions
        if settings.pooling and protocol.usable and (not limit or protocol.transactions < limit):
            self.pool.put(key, protocol, settings.pool_timeout, settings.pool_evictable)
        else:
            protocol.quit()

    @defer.inlineCallbacks
    def _connect(self, mx, ip, session, settings, errors, mode=None):
        """A ready L{SMTPClientProtocol} to C{ip}, or None (the reason appended to C{errors})."""
        mode = mode or settings.tls_mode
        tls = self._tls_context(mode, settings.tls_protocols, mx)
        protocol = SMTPClientProtocol(
            self._reactor,
            session.helo,
            mode,
            tls,
            lmtp=session.lmtp,
            auth=session.auth,
            timeouts=settings.timeouts,
        )
        protocol.connection_id = str(uuid.uuid4())
        if ":" in ip:
            endpoint = endpoints.TCP6ClientEndpoint(self._reactor, ip, session.port, settings.connect_timeout,
                                                    (session.localip, 0) if session.localip else None)
        else:
            endpoint = endpoints.TCP4ClientEndpoint(self._reactor, ip, session.port, settings.connect_timeout,
                                                    (session.localip, 0) if session.localip else None)
        self.pool.opened()
        try:
            yield endpoints.connectProtocol(endpoint, protocol)
        except Exception as e:
            self.pool.closed()
            errors.append(("%s [%s]: %s" % (mx, ip, _reason(e)), "network", None))
            return None
        protocol.closed.addCallback(lambda _: self.pool.closed())
        try:
            yield protocol.ready
        except SessionError as e:
            errors.append(("%s [%s]: %s" % (mx, ip, e), e.kind, self._describe(protocol, mx, ip, session)))
            return None
        return protocol

    def _describe(self, protocol, mx, ip, session):
        connection = {
            "id": getattr(protocol, "connection_id", ""),
            "localip": _local_ip(protocol),
            "remoteip": ip,
            "remotemx": mx,
            "helo": session.helo,
            "remotegreet": list(protocol.greeting),
            "transactions": protocol.transactions,
        }
        if protocol.tls is not None:
            connection["tls"] = dict(protocol.tls)
        return connection


def _tlsa_dict(record):
    usage, selector, mtype, data = record
    return {"usage": usage, "selector": selector, "mtype": mtype, "data": data.hex()}


def _local_ip(protocol):
    """The connection's local address, asked of the socket once per connection."""
    local = protocol.local_ip
    if local is None:
        try:
            local = protocol.transport.getHost().host
        except Exception:
            return ""
        protocol.local_ip = local
    return local


def _reason(e):
    text = str(e) or type(e).__name__
    return text.split(": ", 1)[-1] if "Connection was refused" in text else text


def _minimum_tls(protocols):
    """The lowest TLS version a Halon protocol string (C{!SSLv2,!SSLv3,!TLSv1}) leaves allowed."""
    excluded = {p.strip().lstrip("!") for p in (protocols or "").split(",") if p.strip().startswith("!")}
    for name, version in (("TLSv1", ssl.TLSVersion.TLSv1_0), ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
                          ("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3)):
        if name not in excluded:
            return version
    return ssl.TLSVersion.TLSv1_3
