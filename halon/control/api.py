"""
The control API as data: every call a daemon may answer, with its
messages.  halonctl, the AMP commands (L{halon.control.commands}) and the
daemons' handler registries all read this one table, so a call is added in
one place (plus its messages in proto/halon/).

This module imports neither Twisted nor protobuf: halonctl reads it on
every run, and message classes are loaded only when a call is made.
"""

from halon.control.pb import message_class

# The daemons that have a control socket, and the file name of the socket
# under /var/run/halon (./var/run/halon in the embedded setup): each
# daemon's default environment.controlsocket.path, rated's included, which
# Halon names queued.ctl (seeds/000 §4.2.2).
PROGRAMS = {"smtpd": "smtpd.ctl", "rated": "queued.ctl", "dlpd": "dlpd.ctl"}


class Call:
    """
    One control call.

    @ivar name: the AMP command name (C{"QueueList"}).
    @ivar words: the halonctl command that makes it (C{"queue list"}), for
        error messages.
    @ivar programs: the daemons that answer it.
    @ivar request_name: the full name of the request message.
    @ivar response_name: the full name of the response message.
    @ivar paged: the repeated field of the response a daemon may stream in
        pages, or C{None}.
    """

    def __init__(self, name, words, programs, request, response, paged=None):
        self.name = name
        self.words = words
        self.programs = programs
        self.request_name = request
        self.response_name = response
        self.paged = paged

    def request_class(self):
        return message_class(self.request_name)

    def response_class(self):
        return message_class(self.response_name)

    def __repr__(self):
        return "<Call %s>" % (self.name,)


_ALL = ("smtpd", "rated", "dlpd")
_SMTPD = ("smtpd",)
_RATED = ("rated",)

CALLS = {
    c.name: c
    for c in [
        Call("ProcessStats", "process-stats", _ALL, "control.ProcessStatsRequest", "control.ProcessStatsResponse"),
        Call("ConfigReload", "config reload", _ALL, "control.ConfigReloadRequest", "control.ConfigReloadResponse"),
        Call(
            "QueueList", "queue list", _SMTPD, "smtpd.QueueListRequest", "smtpd.QueueListResponse", paged="messages"
        ),
        Call(
            "QueueGroupBy",
            "queue groupby",
            _SMTPD,
            "smtpd.QueueGroupByRequest",
            "smtpd.QueueGroupByResponse",
            paged="groups",
        ),
        Call("QueueUpdate", "queue update", _SMTPD, "smtpd.QueueUpdateRequest", "smtpd.QueueUpdateResponse"),
        Call(
            "QueueUnload", "queue unload", _SMTPD, "smtpd.QueueUnloadRequest", "smtpd.QueueUnloadResponse", paged="paths"
        ),
        Call(
            "PolicyConditionAdd",
            "queue policy add",
            _SMTPD,
            "smtpd.PolicyConditionAddRequest",
            "smtpd.PolicyConditionAddResponse",
        ),
        Call(
            "PolicyConditionList",
            "queue policy list",
            _SMTPD,
            "smtpd.PolicyConditionListRequest",
            "smtpd.PolicyConditionResponse",
            paged="conditions",
        ),
        Call(
            "PolicyConditionDelete",
            "queue policy delete",
            _SMTPD,
            "smtpd.PolicyConditionDeleteRequest",
            "smtpd.PolicyConditionDeleteResponse",
        ),
        Call("PolicyReload", "queue policy reload", _SMTPD, "smtpd.PolicyReloadRequest", "smtpd.PolicyReloadResponse"),
        Call(
            "PolicyRateRefill",
            "queue policy rate refill",
            _SMTPD,
            "smtpd.PolicyRateRefillRequest",
            "smtpd.PolicyRateRefillResponse",
        ),
        Call("SuspendAdd", "queue suspend add", _SMTPD, "smtpd.SuspendAddRequest", "smtpd.SuspendAddResponse"),
        Call(
            "SuspendList",
            "queue suspend list",
            _SMTPD,
            "smtpd.SuspendListRequest",
            "smtpd.SuspendResponse",
            paged="suspends",
        ),
        Call(
            "SuspendDelete", "queue suspend delete", _SMTPD, "smtpd.SuspendDeleteRequest", "smtpd.SuspendDeleteResponse"
        ),
        Call(
            "SuspendReload", "queue suspend reload", _SMTPD, "smtpd.SuspendReloadRequest", "smtpd.SuspendReloadResponse"
        ),
        Call(
            "DeliveryReload",
            "queue delivery reload",
            _SMTPD,
            "smtpd.DeliveryReloadRequest",
            "smtpd.DeliveryReloadResponse",
        ),
        Call(
            "ConfigGreenDeploy",
            "config livestage start",
            _SMTPD,
            "smtpd.ConfigGreenDeployRequest",
            "smtpd.ConfigGreenDeployResponse",
        ),
        Call(
            "ConfigGreenStatus",
            "config livestage status",
            _SMTPD,
            "smtpd.ConfigGreenStatusRequest",
            "smtpd.ConfigGreenStatusResponse",
        ),
        Call(
            "ConfigGreenCancel",
            "config livestage cancel",
            _SMTPD,
            "smtpd.ConfigGreenCancelRequest",
            "smtpd.ConfigGreenCancelResponse",
        ),
        Call(
            "HSLRateList", "hsl rates list", _RATED, "rated.HSLRateRequest", "rated.HSLRateResponse", paged="rates"
        ),
        Call("HSLRateClear", "hsl rates clear", _RATED, "rated.HSLRateClearRequest", "rated.HSLRateClearResponse"),
        Call(
            "HSLMemoryStore", "hsl memory store", _SMTPD, "smtpd.HSLMemoryStoreRequest", "smtpd.HSLMemoryStoreResponse"
        ),
        Call("HSLMemoryFetch", "hsl memory fetch", _SMTPD, "smtpd.HSLMemoryRequest", "smtpd.HSLMemoryResponse"),
        Call(
            "HSLMemoryDelete",
            "hsl memory delete",
            _SMTPD,
            "smtpd.HSLMemoryDeleteRequest",
            "smtpd.HSLMemoryDeleteResponse",
        ),
        Call(
            "HSLCacheList", "hsl cache list", _SMTPD, "smtpd.HSLCacheRequest", "smtpd.HSLCacheResponse", paged="buckets"
        ),
        Call("HSLCacheClear", "hsl cache clear", _SMTPD, "smtpd.HSLCacheClearRequest", "smtpd.HSLCacheClearResponse"),
        Call("ResolverClear", "resolver clear", _SMTPD, "smtpd.ResolverClearRequest", "smtpd.ResolverClearResponse"),
    ]
}

# The transport's own command: the next page of a paged answer.
NEXT_PAGE = "NextPage"

# queue list views: the states they show and their columns.
LIST_VIEWS = {
    "active": (("ACTIVE",), ("id", "transportid", "recipient", "retrycount", "age")),
    "defer": (("DEFER",), ("id", "transportid", "recipient", "retrycount", "retrydelay", "age")),
    "connections": (("SENDING",), ("id", "transportid", "localip", "remoteip", "remotemx", "recipient")),
}
LIST_FIELDS = ("id", "transportid", "sender", "recipient", "state", "retrycount", "age")

# queue groupby: fields grouped by when none are given; the views' count columns.
GROUPBY_FIELDS = ("transportid", "recipientdomain")
GROUPBY_VIEWS = ("state", "age")
# view "age": bucket bounds in seconds (1 minute, 5 minutes, 1 hour, 1 day).
AGE_BOUNDS = (60.0, 300.0, 3600.0, 86400.0)


def list_columns(request):
    """
    The states and columns a queue list request asks for, for the daemon
    that answers it (it fills QueueListResponse.fields with the columns):
    the request's fields, else its view's, else L{LIST_FIELDS}; the view's
    state unless the request's conditions name states.  An unknown view or
    field is a ValueError.
    """
    if request.view and request.view not in LIST_VIEWS:
        raise ValueError("unknown view %r (choose from %s)" % (request.view, ", ".join(LIST_VIEWS)))
    states, fields = LIST_VIEWS.get(request.view, ((), LIST_FIELDS))
    if request.fields:
        fields = tuple(request.fields)
    if request.conditions.state:
        states = ()
    known = request.DESCRIPTOR.fields_by_name["conditions"].message_type.file.message_types_by_name
    unknown = [f for f in fields if f not in known["QueueMessage"].fields_by_name]
    if unknown:
        raise ValueError("unknown field %r" % (unknown[0],))
    return states, fields
