"""
The policy smtpd applies to a server whose running configuration names
no script for a phase where Halon's default would lose mail: at end of
data every recipient is queued with its transport, as the EOD script
Halon's tooling generates does.  Relaying is for loopback clients only.
"""

from twisted.internet import defer

from halon.smtpd.hooks import Decision, Hooks, QueueStager
from halon.smtpd.proxyproto import Networks

__all__ = ["BuiltinHooks"]

_LOOPBACK = Networks(["127.0.0.0/8", "::1"])


class BuiltinHooks(Hooks):
    """Queue everything loopback clients send; refuse other clients' recipients."""

    def rcptto(self, session, address, params, transportid):
        if session.remoteip in _LOOPBACK:
            return defer.succeed(Decision.accept())
        return defer.succeed(Decision.reject("Relaying denied"))

    def eod(self, session, message):
        transaction = session.transaction
        stager = QueueStager(transaction.id)
        for recipient in transaction.recipients:
            stager.stage(message, transaction.sender, recipient.address, recipient.transportid, recipient.params)
        return defer.succeed(Decision(Decision.ACCEPT, queue=stager.entries))
