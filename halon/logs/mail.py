"""
The lines a mail log is read for: one when a message is accepted into
the spool, one per delivery attempt.  Both carry what an operator greps
or a log shipper indexes as event fields, so the JSON observer keeps them
as they are and the text line shows them in a fixed order:

    received  queueid, transaction, sender, recipients, size, serverid, remoteip
    delivery  queueid, sender, recipient, action, reply, remotemx, remoteip, retry

C{action} is what happened to the recipient: RECEIVED, DELIVER (done),
QUEUE (retry later), BOUNCE (failed, the sender is told) or DELETE.
"""

from twisted.logger import LogLevel, Logger

__all__ = ["received", "delivery", "ACTIONS"]

log = Logger(namespace="halon.mail")

ACTIONS = {"DELIVER": LogLevel.info, "QUEUE": LogLevel.warn, "BOUNCE": LogLevel.error, "DELETE": LogLevel.info}


def received(message, logger=log):
    """Log a message the spool holds now (a L{halon.queue.spool.SpoolMessage})."""
    envelope = message.envelope
    connection = envelope.get("connection") or {}
    recipients = [r.get("recipient", "") for r in message.recipients]
    logger.info(
        "{queueid} received from <{sender}> to {shown} size={size} server={serverid} client={remoteip}",
        queueid=message.uuid,
        transaction=envelope.get("transaction"),
        sender=envelope.get("sender") or "",
        recipients=recipients,
        shown=", ".join("<%s>" % r for r in recipients),
        size=message.length,
        serverid=envelope.get("serverid"),
        remoteip=connection.get("remoteip"),
        action="RECEIVED",
    )


def delivery(queueid, sender, recipient, action, reply, remotemx=None, remoteip=None, retry=0, logger=log):
    """Log one delivery attempt of one recipient (C{queueid} is C{uuid:N})."""
    if action not in ACTIONS:
        raise ValueError("action must be one of %s" % (", ".join(ACTIONS),))
    logger.emit(
        ACTIONS[action],
        "{queueid} {action} from <{sender}> to <{recipient}> via {remotemx} [{remoteip}] retry={retry}: {reply}",
        queueid=queueid,
        sender=sender,
        recipient=recipient,
        action=action,
        reply=reply,
        remotemx=remotemx or "-",
        remoteip=remoteip or "-",
        retry=retry,
    )
