# -*- test-case-name: tests.smtpd.test_protocol -*-
"""
One virtual server (C{servers[]} entry): the factory its listeners share,
with what its connections need from outside the wire protocol: settings,
the connection limiter, the hooks of the running configuration, the
client's PTR name, and the commit of accepted messages to the spool and
the queue.

A connection keeps the settings and hooks it started with; a reload
changes what new connections get (L{SMTPServer.update}).
"""

import ipaddress
import os

from twisted.internet import defer, protocol
from twisted.logger import Logger

from halon.logs import mail as mail_log
from halon.queue.spool import SpoolMessage, encode_text
from halon.smtpd.envelope import Session
from halon.smtpd.limits import ConnectionLimiter
from halon.smtpd.protocol import SMTPServerProtocol
from halon.smtpd.proxyproto import Networks

__all__ = ["SMTPServer", "Committer", "address_json"]

log = Logger()


def _ip(address):
    """A peer's address as scripts see it: IPv4-mapped IPv6 shown as IPv4."""
    host = getattr(address, "host", None)
    if host is None:
        return "unknown"
    if ":" not in host:
        return host
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return host
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


class SMTPServer(protocol.ServerFactory):
    """
    @param settings: L{halon.smtpd.settings.ServerSettings}.
    @param hooks: callable C{hooks(session)} giving the L{Hooks} a new
        connection uses (the running configuration's, at that moment).
    @param committer: L{Committer} shared by the servers of a process.
    @param reactor: for timeouts and the connections' clock.
    @param ptr: optional callable C{ptr(ip)} -> Deferred name or None.
    """

    noisy = False
    protocol = SMTPServerProtocol

    def __init__(self, settings, hooks, committer, reactor, ptr=None):
        self.settings = settings
        self._hooks = hooks
        self.committer = committer
        self._reactor = reactor
        self._ptr = ptr
        self.limiter = ConnectionLimiter(settings.max_connections, settings.max_connections_per_ip)
        self.proxy_networks = Networks(settings.proxy_networks)
        self.connections = set()
        # C{stage(session)} -> (settings, hooks) of a live stage that takes
        # the new connection, or None (L{halon.smtpd.livestage}).
        self.stage = None

    def update(self, settings, hooks=None):
        """A reloaded configuration: new connections get these settings (and hooks)."""
        self.settings = settings
        if hooks is not None:
            self._hooks = hooks
        self.limiter.max_total = settings.max_connections
        self.limiter.max_per_ip = settings.max_connections_per_ip
        self.proxy_networks = Networks(settings.proxy_networks)

    def buildProtocol(self, addr):
        p = self.protocol(self, self._reactor)
        p.factory = self
        return p

    def new_session(self, peer, local):
        return Session(self.settings.serverid, _ip(peer), getattr(peer, "port", 0), _ip(local), getattr(local, "port", 0))

    def configuration_for(self, session):
        """The settings and hooks a new connection keeps for its life: a live stage's, or the running ones."""
        staged = self.stage(session) if self.stage is not None else None
        if staged is not None:
            return staged
        return self.settings, self._hooks(session)

    def lookup_ptr(self, ip):
        if self._ptr is None:
            return defer.succeed(None)
        d = defer.maybeDeferred(self._ptr, ip)
        d.addErrback(lambda f: None)
        return d

    def connection_made(self, connection):
        self.connections.add(connection)

    def connection_lost(self, connection):
        self.connections.discard(connection)

    def shutdown(self):
        """Ask every connection to end (421 between commands)."""
        for connection in list(self.connections):
            connection.shutdown()

    def commit(self, session, transaction, entries):
        return self.committer.commit(session, transaction, entries)


def address_json(address):
    return {"localpart": encode_text(address.localpart), "domain": encode_text(address.domain)}


def _params_json(params):
    return {encode_text(k): encode_text(v) for k, v in params.items()}


class Committer:
    """
    Turns the entries an EOD hook queued into spool files, commits them,
    and hands them to the queue once the client has its 250.  Entries with the same message uuid share
    a file (the usual case: one file per transaction); an entry staged
    after the script changed the message carries its own uuid.
    """

    def __init__(self, spool, sink, log_received=True):
        self.spool = spool
        self.sink = sink
        self._log_received = log_received

    def commit(self, session, transaction, entries):
        """Write the message files durably; fires with the L{SpoolMessage}s once they are on disk."""
        messages = self.build(session, transaction, entries)
        d = self.spool.commit(messages)
        d.addCallback(lambda _: messages)
        return d

    def release(self, messages):
        """The client has its 250: the queue takes the messages."""
        for message in messages:
            if self._log_received:
                mail_log.received(message)
            try:
                self.sink.submit(message)
            except Exception:
                log.failure("the queue refused {uuid}; it stays in the spool", uuid=message.uuid)

    def withdraw(self, messages):
        """The client left before its 250 and will send again: the files go."""
        for message in messages:
            try:
                os.unlink(message.path)
            except OSError as e:
                log.error("could not withdraw {path}: {reason}", path=message.path, reason=e.strerror)

    def build(self, session, transaction, entries):
        envelope = self.envelope(session, transaction)
        files = {}
        for entry in entries:
            uuid = entry.uuid
            if uuid not in files:
                files[uuid] = SpoolMessage(uuid, dict(envelope), [], message=entry.message)
            files[uuid].recipients.append(self.recipient(entry))
        return list(files.values())

    @staticmethod
    def envelope(session, transaction):
        params = transaction.senderparams
        sender = transaction.sender
        connection = {
            "remoteip": session.remoteip,
            "remoteport": session.remoteport,
            "localip": session.localip,
            "localport": session.localport,
            "helo": encode_text(session.helo_host),
            "auth": encode_text(session.auth["username"]) if session.auth and session.auth.get("username") else None,
            "tls": session.tls.get("protocol") if session.tls else None,
        }
        if session.proxyip:
            connection["proxyip"] = session.proxyip
        return {
            "transaction": transaction.id,
            "connection_id": session.id,
            "serverid": session.serverid,
            "received": transaction.ts,
            "sender": encode_text(sender.lower()) if sender is not None else "",
            "senderaddress": address_json(sender) if sender is not None else {"localpart": "", "domain": ""},
            "senderparams": _params_json(params),
            "dsn": {
                "ret": encode_text((params.get(b"RET") or b"").upper() or None),
                "envid": encode_text(params.get(b"ENVID")),
            },
            "connection": connection,
        }

    @staticmethod
    def recipient(entry):
        options = entry.options
        notify = entry.params.get(b"NOTIFY")
        return {
            "index": entry.index,
            "sender": encode_text(entry.sender.lower()),
            "senderaddress": address_json(entry.sender),
            "recipient": encode_text(entry.recipient.lower()),
            "address": address_json(entry.recipient),
            "transportid": entry.transportid,
            "params": _params_json(entry.params),
            "dsn": {
                "notify": encode_text(notify.upper()).split(",") if notify else None,
                "orcpt": encode_text(entry.params.get(b"ORCPT")),
            },
            "metadata": {encode_text(k): encode_text(v) for k, v in options.get("metadata", {}).items()},
            "hold": bool(options.get("hold", False)),
            "delay": options.get("delay", 0),
            "jobid": encode_text(options.get("jobid")),
            "tenantid": encode_text(options.get("tenantid")),
            "priority": options.get("priority", 0),
            "quotas": [encode_text(q) for q in options.get("quotas", [])],
        }
