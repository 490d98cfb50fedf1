"""
Cluster synchronisation of rate hits over UDP, as Halon's rated does it.

Every hit accepted on this node (with C{sync} on) is sent to every peer of
rated-app.yaml; a peer adds it to the entry's count.  Delivery is
opportunistic: no acknowledgements, no retransmission.  Packets are
authenticated with HMAC-SHA1 under the shared C{key}, and spaced at least
C{syncdelay} microseconds apart so a burst cannot flood the network.  A node
that starts asks its peers for the hits they hold (HELLO) and they answer
with theirs, so a restarted node is not blind until its windows refill.

Packet: HMAC-SHA1 (20 bytes) over the rest, which is version, type, sender
node id (8 bytes), sequence number (8 bytes) and records.  A record is the
namespace and entry lengths (2 bytes each), the entry's window (ms, 4
bytes), the hit's age when sent (ms, 4 bytes), a hit count (2 bytes), then
the namespace and entry.  Ages rather than timestamps make the nodes'
clocks irrelevant.  The sequence number and a 64-packet window per sender
drop replayed packets.
"""

import hmac
import os
import socket
import struct

from twisted.internet import defer
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

VERSION = 1
HITS, HELLO = 1, 2
DEFAULT_PORT = 13131
MAX_PAYLOAD = 1400

_HEADER = struct.Struct("!BBQQ")
_RECORD = struct.Struct("!HHIIH")
_MAC_SIZE = 20
_WINDOW = 64


class ClusterSync(DatagramProtocol):
    """
    @ivar peers: [(hostname, port)] from rated-app.yaml.
    @ivar addresses: the peers' resolved (ip, port), what packets go to.
    """

    _log = Logger()

    def __init__(self, reactor, table, key, peers=(), syncdelay=25, stats=None, node_id=None, resolve=None):
        self._reactor = reactor
        self._table = table
        self._key = key
        self._delay = syncdelay / 1e6
        self._node = node_id if node_id is not None else int.from_bytes(os.urandom(8), "big")
        self._seq = 0
        self._seen = {}
        self._pending = []
        self._flush_call = None
        self._outbox = []
        self._pacer = None
        self._last_send = 0.0
        self._resolve = resolve or _resolve_with(reactor)
        self.peers = list(peers)
        self.addresses = []
        self._v6 = False
        self._stats = stats
        self._counters = {}
        if stats is not None:
            for name in ("sent", "received", "rejected"):
                self._counters[name] = stats.counter("rated.sync.packets." + name)
            stats.gauge("rated.sync.peers", lambda: len(self.addresses))

    # -- peers ---------------------------------------------------------------

    @defer.inlineCallbacks
    def set_peers(self, peers, hello=False):
        """
        Use C{peers} from now on (a running-config reload), resolving their
        hostnames; with C{hello}, ask the new ones for their hits.
        """
        before = set(self.addresses)
        self.peers = list(peers)
        self.addresses = yield self.resolve_peers()
        if hello:
            for address in self.addresses:
                if address not in before:
                    self._send_now(self._packet(HELLO, b""), address)

    @defer.inlineCallbacks
    def resolve_peers(self):
        """[(ip, port)] of the peers; a name that does not resolve is skipped and logged."""
        out = []
        for host, port in self.peers:
            try:
                ip = yield self._resolve(host)
            except Exception as e:
                self._log.warn("rated peer {host} does not resolve: {error}", host=host, error=e)
                continue
            out.append((ip, port))
        return out

    @defer.inlineCallbacks
    def reresolve(self):
        self.addresses = yield self.resolve_peers()

    def startProtocol(self):
        self._v6 = self.transport.getHost().type == "UDP" and ":" in self.transport.getHost().host

    # -- sending -------------------------------------------------------------

    def publish(self, namespace, entry, keep, when):
        """A local hit to tell the peers about, sent on the next flush."""
        if self.addresses:
            self._pending.append((namespace, entry, keep, when, 1))
            if self._flush_call is None:
                self._flush_call = self._reactor.callLater(0, self._flush)

    def _flush(self):
        self._flush_call = None
        records, self._pending = self._pending, []
        for payload in self._payloads(records):
            packet = self._packet(HITS, payload)
            for address in self.addresses:
                self._outbox.append((packet, address))
        self._pace()

    def _payloads(self, records):
        """Records packed into payloads of at most MAX_PAYLOAD bytes."""
        now = self._reactor.seconds()
        chunk, size = [], 0
        for namespace, entry, keep, when, count in records:
            record = _RECORD.pack(
                len(namespace), len(entry), _ms(keep), _ms(max(0.0, now - when)), count
            ) + namespace + entry
            if len(record) > MAX_PAYLOAD:
                self._log.warn("rate entry too long to synchronise: {n} bytes", n=len(record))
                continue
            if size + len(record) > MAX_PAYLOAD:
                yield b"".join(chunk)
                chunk, size = [], 0
            chunk.append(record)
            size += len(record)
        if chunk:
            yield b"".join(chunk)

    def _packet(self, kind, payload):
        self._seq += 1
        body = _HEADER.pack(VERSION, kind, self._node, self._seq) + payload
        return hmac.digest(self._key, body, "sha1") + body

    def _pace(self):
        """Send queued packets no closer together than syncdelay."""
        if self._pacer is not None or not self._outbox:
            return
        now = self._reactor.seconds()
        budget = max(1, int((now - self._last_send) / self._delay)) if self._delay > 0 else len(self._outbox)
        for _ in range(min(budget, len(self._outbox))):
            self._send_now(*self._outbox.pop(0))
        self._last_send = now
        if self._outbox:
            self._pacer = self._reactor.callLater(self._delay, self._resume)

    def _resume(self):
        self._pacer = None
        self._pace()

    def _send_now(self, packet, address):
        if self.transport is None:
            return
        ip, port = address
        if self._v6 and ":" not in ip:
            ip = "::ffff:" + ip
        try:
            self.transport.write(packet, (ip, port))
        except OSError as e:
            self._log.warn("rated sync to {ip}:{port} failed: {error}", ip=ip, port=port, error=e)
            return
        self._count("sent")

    # -- receiving -----------------------------------------------------------

    def datagramReceived(self, data, address):
        kind, node, payload = self._verify(data)
        if kind is None:
            self._count("rejected")
            return
        self._count("received")
        if node == self._node:
            return
        if kind == HITS:
            self._apply(payload)
        elif kind == HELLO:
            self._answer_hello(address[:2])

    def _verify(self, data):
        if len(data) < _MAC_SIZE + _HEADER.size:
            return None, None, None
        mac, body = data[:_MAC_SIZE], data[_MAC_SIZE:]
        if not hmac.compare_digest(mac, hmac.digest(self._key, body, "sha1")):
            return None, None, None
        version, kind, node, seq = _HEADER.unpack_from(body)
        if version != VERSION or not self._fresh(node, seq):
            return None, None, None
        return kind, node, body[_HEADER.size :]

    def _fresh(self, node, seq):
        """Anti-replay: True the first time (node, seq) is seen within the window."""
        highest, mask = self._seen.get(node, (0, 0))
        if seq > highest:
            shift = seq - highest
            mask = ((mask << shift) | 1) & ((1 << _WINDOW) - 1) if shift < _WINDOW else 1
            self._seen[node] = (seq, mask)
            return True
        offset = highest - seq
        if offset >= _WINDOW or mask & (1 << offset):
            return False
        self._seen[node] = (highest, mask | (1 << offset))
        return True

    def _apply(self, payload):
        now = self._reactor.seconds()
        offset = 0
        while offset + _RECORD.size <= len(payload):
            nlen, elen, keep_ms, age_ms, count = _RECORD.unpack_from(payload, offset)
            offset += _RECORD.size
            namespace = payload[offset : offset + nlen]
            entry = payload[offset + nlen : offset + nlen + elen]
            offset += nlen + elen
            if len(entry) != elen or keep_ms == 0:
                return
            self._table.add_remote(namespace, entry, keep_ms / 1000.0, now - age_ms / 1000.0, count)

    def _answer_hello(self, address):
        records = []
        for namespace, entry, keep, times in self._table.local_hits():
            for when in times:
                records.append((namespace, entry, keep, when, 1))
        for payload in self._payloads(records):
            self._outbox.append((self._packet(HITS, payload), address))
        self._pace()

    def hello(self):
        """Ask every peer for the hits it holds (at startup)."""
        for address in self.addresses:
            self._send_now(self._packet(HELLO, b""), address)

    def _count(self, name):
        counter = self._counters.get(name)
        if counter is not None:
            counter.increment()

    def stop(self):
        for call in (self._flush_call, self._pacer):
            if call is not None and call.active():
                call.cancel()
        self._flush_call = self._pacer = None


class ClusterService:
    """
    Binds the UDP socket, resolves peers (again every C{reresolve} seconds
    when set) and says hello; a plain object the rated service starts.
    """

    def __init__(self, reactor, sync, port=DEFAULT_PORT, interface="", reresolve=None):
        self._reactor = reactor
        self.sync = sync
        self._port_number = port
        self._interface = interface
        self._reresolve = reresolve
        self._loop = None
        self.port = None

    def listen(self):
        interface = self._interface
        if interface == "":
            interface = "::" if socket.has_ipv6 else "0.0.0.0"
        self.port = self._reactor.listenUDP(self._port_number, self.sync, interface=interface)

    @defer.inlineCallbacks
    def start(self):
        """Resolve the peers and say hello; fires when done."""
        yield self.sync.set_peers(self.sync.peers)
        self.sync.hello()
        if self._reresolve:
            self._loop = LoopingCall(self.sync.reresolve)
            self._loop.clock = self._reactor
            self._loop.start(self._reresolve, now=False)

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.sync.stop()
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()


def parse_peer(value, default_port=DEFAULT_PORT):
    """A peer from rated-app.yaml: "host", "host:port", "[v6]:port" or {address, port}."""
    if isinstance(value, dict):
        return str(value["address"]), int(value.get("port", default_port))
    text = str(value)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def _resolve_with(reactor):
    def resolve(host):
        if _is_ip(host):
            return defer.succeed(host)
        return reactor.resolve(host)

    return resolve


def _is_ip(host):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _ms(seconds):
    return min(int(seconds * 1000), 0xFFFFFFFF)
