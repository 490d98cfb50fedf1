"""
A discarding SMTP sink on Twisted, for bench/queue where Postfix's
smtp-sink is not installed:  python -m bench.queue.sink PORT
"""

import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineReceiver


class Sink(LineReceiver):
    delimiter = b"\r\n"
    MAX_LENGTH = 1 << 20

    def connectionMade(self):
        self.data = False
        self.sendLine(b"220 sink ESMTP")

    def lineReceived(self, line):
        if self.data:
            if line == b".":
                self.data = False
                self.sendLine(b"250 2.0.0 ok")
            return
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.sendLine(b"250-sink")
            self.sendLine(b"250 PIPELINING")
        elif verb == b"DATA":
            self.data = True
            self.sendLine(b"354 go ahead")
        elif verb == b"QUIT":
            self.sendLine(b"221 bye")
            self.transport.loseConnection()
        else:
            self.sendLine(b"250 ok")


if __name__ == "__main__":
    reactor.listenTCP(int(sys.argv[1]), protocol.ServerFactory.forProtocol(Sink), interface="127.0.0.1")
    reactor.run()
