"""
The one interface between the SMTP state machine and whatever decides.

The protocol (L{halon.smtpd.protocol}) knows nothing of scripts: at each
phase it calls one method of a L{Hooks} object and waits for the
L{Decision} the returned Deferred fires with.  The HSL implementation
(L{halon.smtpd.hsl}) runs the configured scripts on the server's script
pool; L{Hooks} itself is Halon's behaviour where no script is configured
for a phase, and tests use small Python implementations.

Every method gets the L{Session}; transaction phases also get the
L{Transaction}.  Options that a decision carries are the Python forms of
the hook functions' options (docs/smtpd.md has the table).
"""

from twisted.internet import defer

from halon.smtpd.envelope import new_id

__all__ = ["Decision", "QueueEntry", "QueueStager", "Hooks", "PHASES"]

PHASES = ("connect", "proxy", "helo", "auth", "mailfrom", "rcptto", "eod", "disconnect")


class Decision:
    """
    What a hook decided.  C{action} is one of ACCEPT, REJECT, DEFER, REPLY,
    PASS; C{reason} a list of text lines (bytes) or None for the default
    text; C{code}/C{enhanced} override the default reply codes;
    C{disconnect} closes the connection after the reply; C{options} holds
    the phase's accept options (sender, recipient, transportid, host,
    extensions, username, command, next, remoteip, remoteptr); C{queue}
    the entries an EOD hook staged.
    """

    ACCEPT = "accept"
    REJECT = "reject"
    DEFER = "defer"
    REPLY = "reply"
    PASS = "pass"

    __slots__ = ("action", "reason", "code", "enhanced", "disconnect", "options", "queue", "error")

    def __init__(
        self, action, reason=None, code=None, enhanced=None, disconnect=False, options=None, queue=(), error=None
    ):
        self.action = action
        self.reason = reason
        self.code = code
        self.enhanced = enhanced
        self.disconnect = disconnect
        self.options = options or {}
        self.queue = list(queue)
        self.error = error

    def __repr__(self):
        return "Decision(%s, reason=%r, code=%r, enhanced=%r, disconnect=%r, options=%r, queue=%d)" % (
            self.action,
            self.reason,
            self.code,
            self.enhanced,
            self.disconnect,
            self.options,
            len(self.queue),
        )

    @classmethod
    def accept(cls, **options):
        return cls(cls.ACCEPT, options=options)

    @classmethod
    def reject(cls, reason=None, **kw):
        return cls(cls.REJECT, _lines(reason), **kw)

    @classmethod
    def defer(cls, reason=None, **kw):
        return cls(cls.DEFER, _lines(reason), **kw)


def _lines(reason):
    if reason is None:
        return None
    if isinstance(reason, (bytes, str)):
        reason = [reason]
    return [r.encode("utf-8") if isinstance(r, str) else r for r in reason]


class QueueEntry:
    """
    One recipient an EOD hook queued: the message bytes as they were at
    that moment, sender, recipient (L{Address}es) and transport, and the
    queue options (metadata, hold, jobid, delay, quotas, priority,
    tenantid) as Python values.  C{params} are the recipient's RCPT
    parameters (DSN NOTIFY, ORCPT) when it is one the client gave.
    C{uuid} and C{index} make its queue id C{uuid:index}.
    """

    __slots__ = ("message", "sender", "recipient", "transportid", "params", "options", "uuid", "index")

    def __init__(self, message, sender, recipient, transportid, params=None, options=None, uuid=None, index=0):
        self.message = message
        self.sender = sender
        self.recipient = recipient
        self.transportid = transportid
        self.params = params or {}
        self.options = options or {}
        self.uuid = uuid
        self.index = index

    def __repr__(self):
        return "QueueEntry(%s:%d %r -> %r via %r, %r)" % (
            self.uuid,
            self.index,
            self.sender,
            self.recipient,
            self.transportid,
            self.options,
        )


class QueueStager:
    """
    Collects what an EOD hook queues and gives each entry its id: the
    index counts queue() calls from 0; the uuid is the transaction's while
    the message is as received, and a new one for each different version
    the script queued after changing it (each version is its own file).
    """

    def __init__(self, transaction_id):
        self.transaction_id = transaction_id
        self.entries = []
        self._versions = {}
        self._last = None

    def stage(self, message, sender, recipient, transportid, params=None, options=None):
        if self._last is not None and self._last[0] is message:
            uuid = self._last[1]
        else:
            uuid = self._versions.get(message)
            if uuid is None:
                uuid = self.transaction_id if not self._versions else new_id()
                self._versions[message] = uuid
            self._last = (message, uuid)
        entry = QueueEntry(message, sender, recipient, transportid, params, options, uuid, len(self.entries))
        self.entries.append(entry)
        return entry


class Hooks:
    """
    Halon's behaviour when a phase has no script: connect, HELO, MAIL
    and RCPT accept; end of data defers with nothing queued (the implicit
    end of an EOD script); AUTH is not offered; the proxy phase passes.
    Subclasses override the phases they implement and L{has}.
    """

    def has(self, phase):
        """Whether a script is configured for C{phase} (AUTH and proxy are offered only then)."""
        return False

    def connect(self, session):
        return defer.succeed(Decision.accept())

    def proxy(self, session, command):
        return defer.succeed(Decision(Decision.PASS))

    def helo(self, session, verb, host, extensions):
        return defer.succeed(Decision.accept())

    def auth(self, session, mechanism, username, password, state, response):
        return defer.succeed(Decision.reject())

    def mailfrom(self, session, address, params):
        return defer.succeed(Decision.accept())

    def rcptto(self, session, address, params, transportid):
        return defer.succeed(Decision.accept())

    def eod(self, session, message):
        return defer.succeed(Decision.defer())

    def disconnect(self, session, close, reply, error):
        return defer.succeed(None)
