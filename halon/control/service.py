"""
A daemon's control socket: AMP on a Unix socket, answering the calls the
daemon registered handlers for.

A handler is C{callable(request) -> response}, where request and response
are the call's protobuf messages; it may return a Deferred, or L{Paged}
for an answer too large to build at once.  It raises L{ControlError} for
a refusal the person at halonctl should read; anything else it raises is
logged with its traceback and answered as an internal error.

Paging is pulled by the client: the first answer carries the first page
and a cursor, and every L{NextPage<halon.control.commands.NextPage>} builds
the next page from the handler's iterator only then.  So at most one page
per cursor exists at a time on the daemon, whatever the size of the whole.
"""

import grp
import os
import socket
import stat
from collections import OrderedDict
from functools import partial

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.internet.protocol import Factory
from twisted.protocols import amp

from halon.control import api, commands
from halon.control.commands import ControlError

# A page is cut once its items reach this many bytes (one item may go over).
PAGE_BYTES = 512 * 1024
# Open cursors per connection; opening one more closes the oldest.
MAX_CURSORS = 16
# A request box larger than this closes the connection.
MAX_REQUEST_BYTES = 256 * 1024 * 1024

_ERROR_CODE = commands.ControlCommand.errors[ControlError]

_log = Logger()


class Paged:
    """
    An answer streamed in pages: C{head} is the response message with its
    paged field (L{api.Call.paged}) empty and the other fields set, sent
    with the first page; C{items} yields the paged field's elements, and is
    read only as far as the pages the client asks for.
    """

    def __init__(self, head, items):
        self.head = head
        self.items = iter(items)


class _Cursor:
    """The rest of a paged answer: its iterator, and the item read ahead to know more follow."""

    def __init__(self, call, items):
        self.call = call
        self.items = items
        self.ahead = []

    def fill(self, message, budget):
        """Add items to C{message} up to C{budget} bytes; whether more follow."""
        field = getattr(message, self.call.paged)
        size = 0
        pending, self.ahead = self.ahead, []
        for source in (pending, self.items):
            for item in source:
                field.append(item)
                size += _size(item)
                if size >= budget:
                    for following in self.items:
                        self.ahead.append(following)
                        return True
                    return False
        return False

    def close(self):
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


def _size(item):
    if isinstance(item, str):
        return len(item) + 4
    if isinstance(item, bytes):
        return len(item) + 4
    if isinstance(item, (int, float)):
        return 10
    return item.ByteSize() + 4


class ControlProtocol(amp.AMP):
    """One halonctl (or other client) connection."""

    _log = Logger()

    def __init__(self, control):
        amp.AMP.__init__(self)
        self._control = control
        self._cursors = OrderedDict()
        self._cursor_ids = 0
        self._received = 0

    # -- bounding what a client may send ------------------------------------

    def proto_value(self, string):
        self._received += len(string)
        if self._received > MAX_REQUEST_BYTES:
            self._log.warn("control request over {limit} bytes; closing the connection", limit=MAX_REQUEST_BYTES)
            self.transport.loseConnection()
        return amp.AMP.proto_value(self, string)

    def proto_key(self, string):
        if not string:
            self._received = 0
        return amp.AMP.proto_key(self, string)

    def connectionMade(self):
        self._control.connections.add(self)
        amp.AMP.connectionMade(self)

    def connectionLost(self, reason):
        self._control.connections.discard(self)
        for cursor in self._cursors.values():
            cursor.close()
        self._cursors.clear()
        amp.AMP.connectionLost(self, reason)

    # -- dispatch ---------------------------------------------------------------

    def locateResponder(self, name):
        name = name.decode("utf-8", "replace")
        command = commands.COMMANDS.get(name)
        if command is None:
            return self._refusal("unknown control command %r" % (name,))
        if name == api.NEXT_PAGE:
            return partial(self._respond, command, self._next_page)
        call = api.CALLS[name]
        handler = self._control.handlers.get(name)
        if handler is None:
            return self._refusal("%s does not implement '%s' (%s)" % (self._control.program, call.words, name))
        return partial(self._respond, command, partial(self._call, call, handler))

    def _refusal(self, message):
        def refuse(box):
            return defer.fail(amp.RemoteAmpError(_ERROR_CODE, message))

        return refuse

    def _respond(self, command, function, box):
        d = defer.maybeDeferred(lambda: function(**command.parseArguments(box, self)))
        d.addCallback(command.makeResponse, self)
        d.addErrback(self._error, command)
        return d

    def _error(self, failure, command):
        if failure.check(ControlError):
            message = str(failure.value)
        else:
            self._log.failure("control command {command} failed", failure, command=command.commandName)
            message = "internal error: %s: %s" % (type(failure.value).__name__, failure.value)
        return defer.fail(amp.RemoteAmpError(_ERROR_CODE, message))

    @defer.inlineCallbacks
    def _call(self, call, handler, request):
        result = yield handler(request)
        if isinstance(result, Paged):
            return self._first_page(call, result)
        return {"response": result}

    # -- pages ------------------------------------------------------------------

    def _first_page(self, call, paged):
        if call.paged is None:
            raise TypeError("%s is not a paged call" % (call.name,))
        cursor = _Cursor(call, paged.items)
        page = paged.head
        if not cursor.fill(page, self._control.page_bytes):
            return {"response": page}
        self._cursor_ids += 1
        key = str(self._cursor_ids)
        self._cursors[key] = cursor
        while len(self._cursors) > MAX_CURSORS:
            self._cursors.popitem(last=False)[1].close()
        return {"response": page, "cursor": key}

    def _next_page(self, cursor):
        state = self._cursors.get(cursor)
        if state is None:
            raise ControlError("no such page cursor %r (the answer was complete, or too many were open)" % (cursor,))
        page = state.call.response_class()()
        try:
            more = state.fill(page, self._control.page_bytes)
        except BaseException:
            del self._cursors[cursor]
            raise
        if not more:
            del self._cursors[cursor]
            return {"response": page.SerializeToString()}
        return {"response": page.SerializeToString(), "cursor": cursor}


class _ControlFactory(Factory):
    def __init__(self, control):
        self.control = control

    def buildProtocol(self, addr):
        return ControlProtocol(self.control)


class ControlService(service.Service):
    """
    Listens on C{path} with C{mode} (0660 unless configured) and, when
    C{group} is given (a name or a gid), that group, so that members of the
    group (Halon's recommended "staff") may administer the daemon.  A stale
    socket file left by a crash is removed; a live one (another daemon
    still running) is an error, as is a path that is not a socket.

    @ivar handlers: call name (C{"ProcessStats"}) -> handler; see the module
        docstring.  Calls without a handler are answered with an error naming
        the program and the halonctl command.
    @ivar program: the daemon's name, for those errors.
    @ivar connections: the L{ControlProtocol}s connected now.
    """

    _log = Logger()

    def __init__(self, reactor, path, handlers, program="smtpd", mode=0o660, group=None, page_bytes=PAGE_BYTES):
        self._reactor = reactor
        self.path = path
        self.program = program
        self.mode = mode
        self.group = group
        self.page_bytes = page_bytes
        self.handlers = {}
        for name, handler in handlers.items():
            self.register(name, handler)
        self.connections = set()
        self._factory = _ControlFactory(self)
        self._port = None

    def register(self, name, handler):
        """Answer the call C{name} (a key of L{api.CALLS}) with C{handler}."""
        if name not in api.CALLS:
            raise ValueError("%r is not a control call (see halon.control.api.CALLS)" % (name,))
        self.handlers[name] = handler

    def privilegedStartService(self):
        """Create the socket before privileges are dropped: /var/run/halon and chgrp may need them."""
        if self._port is None:
            self._listen()
        service.Service.privilegedStartService(self)

    def startService(self):
        if self._port is None:
            self._listen()
        service.Service.startService(self)

    def stopService(self):
        service.Service.stopService(self)
        port, self._port = self._port, None
        for protocol in list(self.connections):
            protocol.transport.abortConnection()
        if port is not None:
            return port.stopListening()

    def _listen(self):
        gid = None if self.group is None else _gid(self.group)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        _remove_stale(self.path)
        self._port = self._reactor.listenUNIX(self.path, self._factory, mode=self.mode)
        if gid is not None:
            os.chown(self.path, -1, gid)
        self._log.info("{program} control socket on {path}", program=self.program, path=self.path)


def configured(reactor, program, environment, handlers):
    """
    The control socket a daemon's startup configuration asks for: its
    C{environment.controlsocket} {path, group, chmod}, the path defaulting to
    Halon's for C{program} under /var/run/halon (L{api.PROGRAMS}).

    C{None} when the section is absent, so that a helper daemon started
    from a minimal file (as tests and one-off runs do) never claims the
    system-wide socket, or when it names a TCP port, which this build does
    not serve.  The shipped and embedded configurations set it.
    """
    conf = (environment or {}).get("controlsocket")
    if conf is None:
        return None
    if "port" in conf:
        _log.warn("{program}: environment.controlsocket.port is set; TCP control sockets are not served", program=program)
        return None
    mode = conf.get("chmod", 0o660)
    return ControlService(
        reactor,
        conf.get("path") or os.path.join("/var/run/halon", api.PROGRAMS[program]),
        handlers,
        program=program,
        mode=mode if isinstance(mode, int) else int(str(mode), 8),
        group=conf.get("group"),
    )


def _gid(group):
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError("control socket group %r does not exist" % (group,)) from None


def _remove_stale(path):
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ValueError("%s exists and is not a socket; not replacing it with the control socket" % (path,))
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    except OSError as e:
        raise ValueError("%s: cannot tell whether the control socket is in use: %s" % (path, e.strerror or e))
    finally:
        probe.close()
    raise ValueError("%s: another process is listening on this control socket" % (path,))
