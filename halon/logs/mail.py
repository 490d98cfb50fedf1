"""
The lines a mail log is read for: one when a message is accepted into
the spool, one per delivery attempt.  Both carry what an operator greps
or a log shipper indexes as event fields, so the JSON observer keeps them
as they are and the text line shows them in a fixed order:

    received  queueid, transaction, sender, recipients, size, serverid, remoteip
    delivery  queueid, sender, recipient, action, reply, remotemx, remoteip, retry,
              tls (protocol, cipher, dane, mta_sts) when the connection had TLS

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
    sender = envelope.get("sender") or ""
    serverid = envelope.get("serverid")
    remoteip = connection.get("remoteip")
    shown = ", ".join(["<%s>" % r for r in recipients])
    logger.emit(
        LogLevel.info,
        _literal("%s received from <%s> to %s size=%s server=%s client=%s"
                 % (message.uuid, sender, shown, message.length, serverid, remoteip)),
        queueid=message.uuid,
        transaction=envelope.get("transaction"),
        sender=sender,
        recipients=recipients,
        shown=shown,
        size=message.length,
        serverid=serverid,
        remoteip=remoteip,
        action="RECEIVED",
    )


def delivery(queueid, sender, recipient, action, reply, remotemx=None, remoteip=None, retry=0, logger=log, tls=None):
    """
    Log one delivery attempt of one recipient (C{queueid} is C{uuid:N}).
    C{tls} is the attempt's connection TLS record (protocol, and the DANE
    and MTA-STS verdicts when the transport asked for them).
    """
    if action not in ACTIONS:
        raise ValueError("action must be one of %s" % (", ".join(ACTIONS),))
    remotemx = remotemx or "-"
    remoteip = remoteip or "-"
    fields = _tls_fields(tls)
    logger.emit(
        ACTIONS[action],
        _literal("%s %s from <%s> to <%s> via %s [%s] retry=%s%s: %s"
                 % (queueid, action, sender, recipient, remotemx, remoteip, retry, _tls_text(fields), reply)),
        queueid=queueid,
        sender=sender,
        recipient=recipient,
        action=action,
        reply=reply,
        remotemx=remotemx,
        remoteip=remoteip,
        retry=retry,
        tls=fields,
    )


def _literal(text):
    """
    C{text} as a log format that formats to itself.  The line is built
    here with %: Twisted's formatter would look up a dozen fields per line,
    a cost the reactor thread pays for every message; the fields stay in
    the event for the JSON observer.
    """
    if "{" in text or "}" in text:
        return text.replace("{", "{{").replace("}", "}}")
    return text


def _tls_fields(tls):
    """The TLS record without what does not belong in a log (certificates)."""
    if not tls:
        return None
    fields = {k: tls[k] for k in ("protocol", "cipher") if tls.get(k)}
    tlsa = tls.get("tlsa")
    if tlsa is not None:
        fields["dane"] = "pass" if tlsa.get("error") is None else "fail: %s" % (tlsa["error"],)
    sts = tls.get("mtasts")
    if isinstance(sts, dict) and sts.get("mode"):
        fields["mta_sts"] = sts["mode"]
    return fields


def _tls_text(fields):
    if not fields:
        return ""
    parts = [" tls=%s" % (fields.get("protocol") or "yes",)]
    if "dane" in fields:
        parts.append(" dane=%s" % (fields["dane"],))
    if "mta_sts" in fields:
        parts.append(" mta-sts=%s" % (fields["mta_sts"],))
    return "".join(parts)
