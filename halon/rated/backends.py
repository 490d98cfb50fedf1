"""
Where rate() counts live: this node's table (shared with UDP peers), or a
redis-server that any number of rated nodes share.

Both answer the same three questions: C{rate} (one call of rate()),
C{rows} (halonctl hsl rates list) and C{clear} (halonctl hsl rates clear).
Each may answer with a Deferred.  Entries called with C{sync} off never
leave the node, whichever backend is in use.
"""

import os

from twisted.internet import defer

from halon.rated.window import rate_of

# A sliding window in a sorted set: members are unique hit ids scored by the
# server's clock in microseconds, so every host agrees on time.  Pruning,
# counting and adding happen in one script, so concurrent callers on any
# number of hosts never let more than `limit` hits into a window.
RATE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local keep = math.max(interval, tonumber(redis.call('GET', KEYS[2]) or '0'))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - keep))
local n = redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now - interval), '+inf')
if limit == 0 or n >= limit then
  return {0, n}
end
local ms = math.ceil(keep / 1000)
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ms)
redis.call('SET', KEYS[2], string.format('%.0f', keep), 'PX', ms)
return {1, n + 1}
"""

# KEYS come in pairs (hits, keep); the reply is the server time, then
# (count, oldest, newest) per pair after pruning.
ROWS_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {string.format('%.0f', now)}
for i = 1, #KEYS, 2 do
  local keep = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  if keep > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.0f', now - keep))
  end
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  out[#out + 1] = tostring(redis.call('ZCARD', KEYS[i]))
  out[#out + 1] = first[2] or '0'
  out[#out + 1] = last[2] or '0'
end
return out
"""


class LocalBackend:
    """The node's own table; accepted hits with sync on go to the cluster."""

    def __init__(self, table, cluster=None):
        self.table = table
        self.cluster = cluster

    def rate(self, namespace, entry, limit, interval, sync=True):
        result = self.table.check(namespace, entry, limit, interval, sync)
        if limit == 0:
            return float(result)
        if result is None:
            return 0.0
        if sync and self.cluster is not None:
            self.cluster.publish(namespace, entry, self.table.keep(namespace, entry), result)
        return 1.0

    def rows(self):
        return self.table.rows()

    def clear(self, namespace=None, entry=None):
        return self.table.clear(namespace, entry)


class RedisBackend:
    """
    Counters in Redis under C{prefix}; the local table still records this
    node's own hits, for the "Local count" column and for C{sync} off.
    """

    def __init__(self, client, table, prefix=b"halon:rate:"):
        self.client = client
        self.table = table
        self._prefix = prefix if isinstance(prefix, bytes) else prefix.encode()
        self._node = os.urandom(6).hex().encode()
        self._seq = 0

    def _keys(self, namespace, entry):
        hits = self._prefix + b"{%d:%s:%s}" % (len(namespace), namespace, entry)
        return hits, hits + b":keep"

    def _parse_key(self, key):
        """(namespace, entry) of a hits key, or None for anything else."""
        if not key.startswith(self._prefix + b"{") or not key.endswith(b"}"):
            return None
        body = key[len(self._prefix) + 1 : -1]
        length, sep, rest = body.partition(b":")
        if not sep or not length.isdigit() or len(rest) < int(length) + 1:
            return None
        n = int(length)
        if rest[n : n + 1] != b":":
            return None
        return rest[:n], rest[n + 1 :]

    @defer.inlineCallbacks
    def rate(self, namespace, entry, limit, interval, sync=True):
        if not sync:
            result = self.table.check(namespace, entry, limit, interval, sync=False)
            return float(result) if limit == 0 else (0.0 if result is None else 1.0)
        self._seq += 1
        member = b"%s:%d" % (self._node, self._seq)
        accepted, count = yield self.client.evaluate(
            RATE_SCRIPT, self._keys(namespace, entry), [int(limit), int(interval * 1e6), member]
        )
        if limit == 0:
            return float(count)
        if accepted:
            self.table.add_local(namespace, entry, interval)
            return 1.0
        self.table.denied += 1
        return 0.0

    @defer.inlineCallbacks
    def _scan(self):
        """Every (key, namespace, entry) under the prefix."""
        cursor, found = b"0", []
        while True:
            cursor, keys = yield self.client.execute("SCAN", cursor, "MATCH", self._prefix + b"{*}", "COUNT", 500)
            for key in keys:
                parsed = self._parse_key(key)
                if parsed is not None:
                    found.append((key,) + parsed)
            if cursor == b"0":
                return found

    @defer.inlineCallbacks
    def rows(self):
        found = yield self._scan()
        rows = []
        for start in range(0, len(found), 200):
            batch = found[start : start + 200]
            keys = []
            for key, _, _ in batch:
                keys += [key, key + b":keep"]
            reply = yield self.client.evaluate(ROWS_SCRIPT, keys, [])
            now = float(reply[0])
            for i, (_, namespace, entry) in enumerate(batch):
                count, oldest, newest = (float(v) for v in reply[1 + 3 * i : 4 + 3 * i])
                if count:
                    oldest, newest = (now - oldest) / 1e6, (now - newest) / 1e6
                    local = self.table.local_count(namespace, entry)
                    rows.append((namespace, entry, int(count), local, oldest, newest, rate_of(count, oldest, newest)))
        rows += self.table.rows(unsynced_only=True)
        rows.sort(key=lambda r: (r[0], r[1]))
        return rows

    @defer.inlineCallbacks
    def clear(self, namespace=None, entry=None):
        found = yield self._scan()
        doomed = [
            key
            for key, ns, en in found
            if (namespace is None or ns == namespace) and (entry is None or en == entry)
        ]
        for start in range(0, len(doomed), 500):
            keys = []
            for key in doomed[start : start + 500]:
                keys += [key, key + b":keep"]
            yield self.client.execute("DEL", *keys)
        unsynced = self.table.clear(namespace, entry, unsynced_only=True)
        self.table.clear(namespace, entry)
        return len(doomed) + unsynced
