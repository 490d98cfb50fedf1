"""
MTA-STS (RFC 8461): a domain's policy for TLS to its MX hosts.

The TXT record _mta-sts.<domain> announces a policy and its id; the policy
itself is fetched over HTTPS (certificate verified, no redirects, at most
64 KiB) from https://mta-sts.<domain>/.well-known/mta-sts.txt and cached
for its max_age, refetched when the id changes. A cached policy outlives a
failed refresh, which is what protects against an attacker who strips the
TXT record.
"""

import re

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, ResponseDone
from twisted.web.http_headers import Headers

MAX_POLICY = 64 * 1024


class Policy:
    def __init__(self, id, mode, mx, max_age, fetched):
        self.id = id
        self.mode = mode
        self.mx = mx
        self.max_age = max_age
        self.fetched = fetched

    def as_dict(self):
        return {"id": self.id, "mode": self.mode, "mx": list(self.mx), "max_age": self.max_age}

    def mx_allowed(self, host):
        """Whether an MX host name matches one of the policy's mx patterns (RFC 8461 4.1)."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            pattern = pattern.lower().rstrip(".")
            if pattern.startswith("*."):
                if host.count(".") == pattern.count(".") and host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False


class PolicyError(Exception):
    pass


def parse_txt(records):
    """The id of the single STSv1 TXT record, or None (RFC 8461 3.1)."""
    ids = []
    for record in records:
        text = record.decode("utf-8", "replace") if isinstance(record, bytes) else record
        if not text.startswith("v=STSv1"):
            continue
        fields = dict(p.strip().partition("=")[::2] for p in text.split(";") if "=" in p)
        ids.append(fields.get("id", "").strip())
    if len(ids) != 1 or not re.fullmatch(r"[A-Za-z0-9]{1,32}", ids[0]):
        return None
    return ids[0]


def parse_policy(body, id, now):
    """A L{Policy} from the text of mta-sts.txt; raises L{PolicyError}."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("the policy is not UTF-8")
    fields = {}
    mx = []
    for line in re.split(r"\r?\n", text):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise PolicyError("malformed policy line %r" % (line,))
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value)
        else:
            fields.setdefault(key, value)
    if fields.get("version") != "STSv1":
        raise PolicyError("unsupported policy version")
    mode = fields.get("mode")
    if mode not in ("enforce", "testing", "none"):
        raise PolicyError("invalid mode %r" % (mode,))
    try:
        max_age = int(fields.get("max_age", ""))
    except ValueError:
        raise PolicyError("invalid max_age")
    if not 0 <= max_age <= 31557600:
        raise PolicyError("max_age out of range")
    if mode != "none" and not mx:
        raise PolicyError("no mx patterns")
    return Policy(id, mode, mx, max_age, now)


class MTASTS:
    """
    Policy discovery with a cache. C{lookup_txt(name)} returns a Deferred
    L{halon.dns.client.Answer}; C{agent} is a twisted.web Agent (its TLS
    policy verifies certificates; tests give it their own CA).
    """

    def __init__(self, reactor, lookup_txt, agent=None, url="https://mta-sts.%s/.well-known/mta-sts.txt"):
        self._reactor = reactor
        self._lookup_txt = lookup_txt
        self._agent = agent if agent is not None else Agent(reactor)
        self._url = url
        self._cache = {}

    @defer.inlineCallbacks
    def policy(self, domain):
        """
        Deferred (Policy or None, error or None): None without a policy;
        an error text when discovery failed (a still valid cached policy
        is then returned beside it).
        """
        domain = domain.lower().rstrip(".")
        now = self._reactor.seconds()
        cached = self._cache.get(domain)
        if cached is not None and now - cached.fetched > cached.max_age:
            del self._cache[domain]
            cached = None
        answer = yield self._lookup_txt("_mta-sts." + domain)
        if answer.error not in (None, "NXDOMAIN"):
            return cached, "DNS %s for _mta-sts.%s" % (answer.error, domain)
        id = parse_txt(answer.records)
        if id is None:
            return cached, None
        if cached is not None and cached.id == id:
            return cached, None
        try:
            body = yield self._fetch(self._url % (domain,))
            policy = parse_policy(body, id, now)
        except Exception as e:
            return cached, "policy fetch failed: %s" % (e,)
        self._cache[domain] = policy
        return policy, None

    @defer.inlineCallbacks
    def _fetch(self, url):
        response = yield self._agent.request(b"GET", url.encode("ascii"), Headers({b"User-Agent": [b"halon-twisted"]}))
        if response.code != 200:
            raise PolicyError("HTTP status %d" % (response.code,))
        if response.length is not None and response.length != -1 and response.length > MAX_POLICY:
            raise PolicyError("policy larger than 64 KiB")
        reader = _BoundedReader(MAX_POLICY)
        response.deliverBody(reader)
        body = yield reader.done
        content_type = response.headers.getRawHeaders(b"content-type", [b""])[0]
        if not content_type.lower().startswith(b"text/plain"):
            raise PolicyError("policy content type is not text/plain")
        return body


class _BoundedReader(Protocol):
    """Reads a response body, giving up (and hanging up) past C{limit} bytes."""

    def __init__(self, limit):
        self._limit = limit
        self._chunks = []
        self._size = 0
        self.done = defer.Deferred()

    def dataReceived(self, data):
        self._size += len(data)
        if self._size > self._limit:
            self.transport.stopProducing()
            if not self.done.called:
                self.done.errback(PolicyError("policy larger than 64 KiB"))
            return
        self._chunks.append(data)

    def connectionLost(self, reason):
        if self.done.called:
            return
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self._chunks))
        else:
            self.done.errback(reason)
