"""
The AMP commands of the control API, one per call of L{halon.control.api}.

Every command takes its protobuf request as the argument C{request} and
answers with its protobuf response as C{response}, both through
L{Protobuf}, which serializes the message and spreads it over as many AMP
values as it needs (AMP caps one value at 64 KiB).  A paged answer also
carries C{cursor}: the client asks L{NextPage} with it for the following
page, until an answer comes without one (see docs/halonctl.md).

Errors a handler raises travel as L{ControlError}: the AMP error code
C{CONTROL} and the message, which halonctl prints.
"""

from twisted.internet.defer import Deferred
from twisted.protocols import amp

from halon.control import api, boxes


class ControlError(Exception):
    """A call failed; the message is for the person who made it."""


class Chunked(amp.Argument):
    """Bytes of any length, split across C{name}, C{name.2}, C{name.3} ... keys."""

    def toBox(self, name, strings, objects, proto):
        value = self.retrieve(objects, name.decode("ascii"), proto)
        if value is None:
            if self.optional:
                return
            raise amp.InvalidSignature("%s: no value" % (name.decode("ascii"),))
        for key, chunk in boxes.split(name, self.encode(value)):
            strings[key] = chunk

    def fromBox(self, name, strings, objects, proto):
        data = boxes.join(name, strings)
        if data is None:
            if not self.optional:
                raise KeyError(name)
            objects[name.decode("ascii")] = None
            return
        objects[name.decode("ascii")] = self.decode(data)

    def encode(self, value):
        return value

    def decode(self, data):
        return data


class Protobuf(Chunked):
    """
    A protobuf message of one type, by its full name (C{"smtpd.QueueListRequest"}):
    the class is loaded on first use, so declaring commands costs no import.
    """

    def __init__(self, full_name, optional=False):
        Chunked.__init__(self, optional)
        self.full_name = full_name
        self._class = None

    def message_class(self):
        if self._class is None:
            from halon.control.pb import message_class

            self._class = message_class(self.full_name)
        return self._class

    def encode(self, value):
        if not isinstance(value, self.message_class()):
            raise TypeError("expected %s, not %s" % (self.full_name, type(value).__name__))
        return value.SerializeToString()

    def decode(self, data):
        return self.message_class().FromString(data)


class ControlCommand(amp.Command):
    """What every control command shares: its errors."""

    errors = {ControlError: b"CONTROL"}


def _command(name):
    call = api.CALLS[name]
    return type(
        name,
        (ControlCommand,),
        {
            "__doc__": "halonctl %s" % (call.words,),
            "commandName": name.encode("ascii"),
            "arguments": [(b"request", Protobuf(call.request_name))],
            "response": [(b"response", Protobuf(call.response_name)), (b"cursor", amp.Unicode(optional=True))],
        },
    )


ProcessStats = _command("ProcessStats")
ConfigReload = _command("ConfigReload")
QueueList = _command("QueueList")
QueueGroupBy = _command("QueueGroupBy")
QueueUpdate = _command("QueueUpdate")
QueueUnload = _command("QueueUnload")
PolicyConditionAdd = _command("PolicyConditionAdd")
PolicyConditionList = _command("PolicyConditionList")
PolicyConditionDelete = _command("PolicyConditionDelete")
PolicyReload = _command("PolicyReload")
PolicyRateRefill = _command("PolicyRateRefill")
SuspendAdd = _command("SuspendAdd")
SuspendList = _command("SuspendList")
SuspendDelete = _command("SuspendDelete")
SuspendReload = _command("SuspendReload")
DeliveryReload = _command("DeliveryReload")
ConfigGreenDeploy = _command("ConfigGreenDeploy")
ConfigGreenStatus = _command("ConfigGreenStatus")
ConfigGreenCancel = _command("ConfigGreenCancel")
HSLRateList = _command("HSLRateList")
HSLRateClear = _command("HSLRateClear")
HSLMemoryStore = _command("HSLMemoryStore")
HSLMemoryFetch = _command("HSLMemoryFetch")
HSLMemoryDelete = _command("HSLMemoryDelete")
HSLCacheList = _command("HSLCacheList")
HSLCacheClear = _command("HSLCacheClear")
ResolverClear = _command("ResolverClear")


class NextPage(ControlCommand):
    """
    The page after the one that came with C{cursor}.  The page is the
    serialized response message of the call that opened the cursor (the
    client knows its type); C{cursor} again when more follow.
    """

    commandName = api.NEXT_PAGE.encode("ascii")
    arguments = [(b"cursor", amp.Unicode())]
    response = [(b"response", Chunked()), (b"cursor", amp.Unicode(optional=True))]


COMMANDS = {name: globals()[name] for name in api.CALLS}
COMMANDS[api.NEXT_PAGE] = NextPage


async def call_remote(protocol, command, request, on_page=None):
    """
    Call C{command} with C{request} on a connected L{amp.AMP} C{protocol}
    and fetch every page of the answer.  With C{on_page}, each page
    (a response message) is handed to it as it arrives and the result is
    C{None}; without, the pages are merged into one response message.
    """
    answer = await protocol.callRemote(command, request=request)
    response_class = dict(command.response)[b"response"].message_class()
    page, cursor = answer["response"], answer.get("cursor")
    merged = None
    while True:
        if on_page is not None:
            result = on_page(page)
            if isinstance(result, Deferred):
                await result
        elif merged is None:
            merged = page
        else:
            merged.MergeFrom(page)
        if cursor is None:
            return merged
        answer = await protocol.callRemote(NextPage, cursor=cursor)
        page, cursor = response_class.FromString(answer["response"]), answer.get("cursor")

