"""
The blocking control client halonctl (and any script or test) uses.

Twisted is not imported: halonctl makes one call and exits, and importing
the reactor and AMP would take longer than the whole call.  The wire form
is AMP's (L{halon.control.boxes}), the same the daemons speak with
L{twisted.protocols.amp}.

    with ControlClient("/var/run/halon/smtpd.ctl") as client:
        stats = client.call("ProcessStats", request)
        for page in client.pages("QueueList", request):
            ...
"""

import socket

from halon.control import api, boxes

RECEIVE = 256 * 1024


class ControlClientError(Exception):
    """Base of the errors a call can end with; the message is for a person."""


class ConnectError(ControlClientError):
    """No daemon could be reached on the socket."""


class CallError(ControlClientError):
    """The daemon answered the call with an error."""


class ControlClient:
    """
    One connection to a control socket; calls run one after the other.

    @ivar path: the socket.
    """

    def __init__(self, path, timeout=None):
        self.path = path
        self._timeout = timeout
        self._sock = None
        self._decoder = boxes.Decoder()
        self._pending = []
        self._asks = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def call(self, name, request):
        """The response to the call C{name} (see L{api.CALLS}), every page merged."""
        merged = None
        for page in self.pages(name, request):
            if merged is None:
                merged = page
            else:
                merged.MergeFrom(page)
        return merged

    def pages(self, name, request):
        """
        The response to the call C{name} as it arrives: one message per page
        (one in all unless the daemon pages it).  The next page is asked for
        only when the caller takes it, so a slow reader holds the daemon back
        instead of piling pages up in memory.
        """
        response_class = api.CALLS[name].response_class()
        answer = self._ask(name, [(b"request", request.SerializeToString())])
        while True:
            data = boxes.join(b"response", answer)
            cursor = answer.get(b"cursor")
            yield response_class.FromString(data or b"")
            if cursor is None:
                return
            answer = self._ask(api.NEXT_PAGE, [(b"cursor", cursor)])

    def _connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self.path)
        except OSError as e:
            sock.close()
            raise ConnectError("%s: %s" % (self.path, _reason(e))) from None
        self._sock = sock

    def _ask(self, command, arguments):
        if self._sock is None:
            self._connect()
        self._asks += 1
        ask = b"%x" % (self._asks,)
        pairs = [(b"_command", command.encode("ascii")), (b"_ask", ask)]
        for key, value in arguments:
            pairs += boxes.split(key, value)
        try:
            self._sock.sendall(boxes.encode(pairs))
        except OSError as e:
            self.close()
            raise ConnectError("%s: %s" % (self.path, _reason(e))) from None
        box = self._receive()
        if box.get(b"_answer") == ask:
            return box
        if box.get(b"_error") == ask:
            raise CallError(box.get(b"_error_description", b"").decode("utf-8", "replace"))
        self.close()
        raise ControlClientError("%s: unexpected answer %r" % (self.path, sorted(box)[:5]))

    def _receive(self):
        while not self._pending:
            try:
                data = self._sock.recv(RECEIVE)
            except OSError as e:
                self.close()
                raise ConnectError("%s: %s" % (self.path, _reason(e))) from None
            if not data:
                self.close()
                raise ConnectError("%s: the daemon closed the connection without answering" % (self.path,))
            try:
                self._pending += self._decoder.feed(data)
            except boxes.BoxError as e:
                self.close()
                raise ControlClientError("%s: not an AMP answer: %s" % (self.path, e)) from None
        return self._pending.pop(0)


def _reason(error):
    if isinstance(error, FileNotFoundError):
        return "no such control socket (is the daemon running?)"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (the daemon is not running)"
    if isinstance(error, PermissionError):
        return "permission denied (are you in the socket's group?)"
    if isinstance(error, socket.timeout):
        return "timed out"
    return error.strerror or str(error)
