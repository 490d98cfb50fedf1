"""
Delivery status notifications (RFC 3464): the bounce and delay reports the
queue sends to a message's sender.

A report is a multipart/report with three parts: a short human-readable
explanation, the machine-readable message/delivery-status (one block per
recipient), and the returned message: its headers only when the sender
asked RET=HDRS, else the whole message (RFC 3461 leaves the default to
the MTA; the whole message helps the sender most).  Reports are sent from
the null sender, so a report about a report is never made (RFC 5321 4.5.5).
"""

import email.utils
import uuid as _uuid

FAILED, DELAYED, DELIVERED = "failed", "delayed", "delivered"


class Status:
    """
    What happened to one recipient, in the delivery-status vocabulary.

    @ivar status: "5.1.1"-style status code.
    @ivar diagnostic: the remote reply as text ("550 5.1.1 no such user"), or None.
    @ivar remotemx: the host that answered (Remote-MTA), or None.
    """

    __slots__ = ("recipient", "action", "status", "diagnostic", "remotemx", "orcpt")

    def __init__(self, recipient, action, status, diagnostic=None, remotemx=None, orcpt=None):
        self.recipient = recipient
        self.action = action
        self.status = status
        self.diagnostic = diagnostic
        self.remotemx = remotemx
        self.orcpt = orcpt


def wants(notify, action):
    """Whether a recipient's NOTIFY parameter (list of words, or None) asks for C{action}."""
    if not notify:
        return action in (FAILED, DELAYED)
    words = {w.upper() for w in notify}
    if "NEVER" in words:
        return False
    return {FAILED: "FAILURE", DELAYED: "DELAY", DELIVERED: "SUCCESS"}[action] in words


def _line(text):
    return " ".join(str(text).split())


def build(reporting_mta, sender, statuses, original, envid=None, ret=None, arrival=None, now=None):
    """
    The report's bytes (CRLF lines, headers included) for C{statuses} of a
    message from C{sender}; C{original} is the message as it was queued.
    """
    boundary = "=_%s" % (_uuid.uuid4().hex,)
    delayed = all(s.action == DELAYED for s in statuses)
    subject = "Delivery delayed: still trying" if delayed else "Undelivered Mail Returned to Sender"
    date = email.utils.formatdate(now, localtime=False)
    head = [
        "From: Mail Delivery System <MAILER-DAEMON@%s>" % (reporting_mta,),
        "To: <%s>" % (sender,),
        "Subject: %s" % (subject,),
        "Date: %s" % (date,),
        "Message-ID: <%s@%s>" % (_uuid.uuid4().hex, reporting_mta),
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="%s"' % (boundary,),
    ]
    if delayed:
        text = ["Your message has not been delivered yet to the recipients below.",
                "Delivery will be tried again; you do not need to resend it."]
    else:
        text = ["Your message could not be delivered to the recipients below.",
                "This is a permanent failure; no further attempts will be made."]
    text.append("")
    for s in statuses:
        text.append("<%s>: %s" % (s.recipient, _line(s.diagnostic or s.status)))
    per_message = ["Reporting-MTA: dns; %s" % (reporting_mta,)]
    if envid:
        per_message.append("Original-Envelope-Id: %s" % (_line(envid),))
    if arrival is not None:
        per_message.append("Arrival-Date: %s" % (email.utils.formatdate(arrival, localtime=False),))
    blocks = ["\r\n".join(per_message)]
    for s in statuses:
        block = []
        if s.orcpt:
            block.append("Original-Recipient: %s" % (_line(s.orcpt),))
        block.append("Final-Recipient: rfc822; %s" % (s.recipient,))
        block.append("Action: %s" % (s.action,))
        block.append("Status: %s" % (s.status,))
        if s.remotemx:
            block.append("Remote-MTA: dns; %s" % (s.remotemx,))
        if s.diagnostic:
            block.append("Diagnostic-Code: smtp; %s" % (_line(s.diagnostic),))
        blocks.append("\r\n".join(block))
    headers_only = (ret or "").upper() == "HDRS"
    returned = original
    returned_type = "message/rfc822"
    if headers_only:
        end = original.find(b"\r\n\r\n")
        returned = original if end < 0 else original[: end + 2]
        returned_type = "text/rfc822-headers"
    parts = [
        "\r\n".join(head).encode("utf-8"),
        b"",
        b"This is a MIME-formatted delivery status notification.",
        b"",
        ("--%s" % boundary).encode(),
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        "\r\n".join(text).encode("utf-8"),
        b"",
        ("--%s" % boundary).encode(),
        b"Content-Type: message/delivery-status",
        b"",
        "\r\n\r\n".join(blocks).encode("utf-8"),
        b"",
        ("--%s" % boundary).encode(),
        ("Content-Type: %s" % returned_type).encode(),
        b"",
        returned.rstrip(b"\r\n"),
        b"",
        ("--%s--" % boundary).encode(),
        b"",
    ]
    return b"\r\n".join(parts)


def status_of(outcome):
    """(status code, diagnostic text, remote MX) from a delivery L{Outcome<halon.queue.delivery.Outcome>}."""
    reply = outcome.reply
    remotemx = (outcome.connection or {}).get("remotemx")
    if reply is not None:
        if reply.enhanced is not None:
            code = "%d.%d.%d" % reply.enhanced
        else:
            code = "%d.0.0" % (reply.code // 100,)
        return code, "%d %s" % (reply.code, " ".join(reply.reason)), remotemx
    error = outcome.error or {}
    permanent = not error.get("temporary", True)
    if error.get("type") == "dns":
        code = "5.1.2" if permanent else "4.4.3"
    else:
        code = "5.0.0" if permanent else "4.4.1"
    return code, error.get("message"), remotemx
