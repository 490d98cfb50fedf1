"""
The DATA phase without I/O: bytes in, a finished message (or a verdict)
out.  Kept apart from the protocol so that the rules that matter for
safety are in one small place and tested byte by byte:

- The message ends only at <CR><LF>.<CR><LF>.  A lone "." line ended or
  preceded by a bare <LF> (C{\\n.\\n}, C{\\n.\\r\\n}, C{\\r\\n.\\n}) is the
  shape of SMTP smuggling: it is answered with an error and the connection
  is closed, so no other server's idea of where the message ends can put
  commands into ours, and the client is never left waiting.
- Other bare <LF> line ends are stored as <CR><LF>, so that the spool
  always holds canonical line ends and the queue's dot-stuffing on relay
  stays correct.
- Dot-stuffing is removed.  A line longer than the limit, or a message
  larger than the limit, stops being stored; reading goes on to the end so
  the client gets its error reply at the right moment.

Work is done per block of complete lines with bytes methods (find, count,
split), not per line in Python, so a 4 KiB message costs a few calls.
"""

import re

__all__ = ["DataReader", "DONE", "BAD_END"]

DONE = "done"
BAD_END = "bad-end"

_BARE_LF = re.compile(rb"(?<!\r)\n")


class DataReader:
    """
    Feed it what arrives after the 354; it answers C{(None, b"")} until
    the end, then C{(DONE or BAD_END, bytes that followed the end)}.

    @ivar size: bytes of message stored so far (after unstuffing).
    @ivar oversize: the message passed C{max_size}.
    @ivar line_too_long: a line passed C{max_line} (bytes including CRLF).
    """

    def __init__(self, max_size, max_line):
        self.max_size = max_size
        self.max_line = max_line
        self.size = 0
        self.oversize = False
        self.line_too_long = False
        self._parts = []
        self._partial = b""
        self._prev_crlf = True
        self._skipping = False
        self._skip_last_cr = False

    @property
    def failed(self):
        return self.oversize or self.line_too_long

    def message(self):
        """The message bytes, line ends CRLF, as the client meant them."""
        return b"".join(self._parts)

    def feed(self, data):
        if self._skipping:
            data = self._skip(data)
            if data is None:
                return None, b""
        buf = self._partial + data if self._partial else data
        end = buf.rfind(b"\n")
        if end < 0:
            self._keep_partial(buf)
            return None, b""
        complete = buf[: end + 1]
        rest = buf[end + 1 :]
        if complete[:1] == b"." or b"\n." in complete:
            status, after = self._end_only(complete)
            if status is None:
                status, after = self._slow(complete)
            if status is not None:
                return status, after + rest
        else:
            self._check_lines(complete)
            self._prev_crlf = complete.endswith(b"\r\n")
            self._store(complete)
        self._partial = b""
        self._keep_partial(rest)
        return None, b""

    def _keep_partial(self, buf):
        if len(buf) > self.max_line:
            self.line_too_long = True
            self._partial = b""
            self._skipping = True
            self._skip_last_cr = buf.endswith(b"\r")
        else:
            self._partial = buf

    def _skip(self, data):
        """Drop the rest of an overlong line; what follows it, or None."""
        nl = data.find(b"\n")
        if nl < 0:
            if data:
                self._skip_last_cr = data.endswith(b"\r")
            return None
        self._skipping = False
        self._prev_crlf = data[nl - 1 : nl] == b"\r" if nl > 0 else self._skip_last_cr
        return data[nl + 1 :]

    def _check_lines(self, complete):
        if len(complete) > self.max_line and not self.line_too_long:
            if max(map(len, complete.split(b"\n"))) + 1 > self.max_line:
                self.line_too_long = True

    def _store(self, block):
        if self.failed:
            return
        if block.count(b"\n") != block.count(b"\r\n"):
            block = _BARE_LF.sub(b"\r\n", block)
        self.size += len(block)
        if self.size > self.max_size:
            self.oversize = True
            self._parts = []
            return
        self._parts.append(block)

    def _end_only(self, complete):
        """
        The usual block: plain lines, then the end of data.  When the first
        dot line is the end, the lines before it need no unstuffing.
        """
        first = complete.find(b"\n.")
        if complete[:1] == b"." or first < 1 or complete[first - 1 : first + 4] != b"\r\n.\r\n":
            return None, b""
        block = complete[: first + 1]
        self._check_lines(block)
        self._store(block)
        return DONE, complete[first + 4 :]

    def _slow(self, complete):
        """A block with dot lines: unstuff, and look for the end."""
        out = []
        prev_crlf = self._prev_crlf
        pos = 0
        length = len(complete)
        while pos < length:
            nl = complete.index(b"\n", pos)
            line = complete[pos : nl + 1]
            pos = nl + 1
            if line[:1] == b".":
                if line == b".\r\n" and prev_crlf:
                    self._store_lines(out)
                    return DONE, complete[pos:]
                if line == b".\r\n" or line == b".\n":
                    return BAD_END, complete[pos:]
                line = line[1:]
            if len(line) > self.max_line:
                self.line_too_long = True
            prev_crlf = line.endswith(b"\r\n")
            out.append(line)
        self._prev_crlf = prev_crlf
        self._store_lines(out)
        return None, b""

    def _store_lines(self, lines):
        if lines:
            self._store(b"".join(lines))
