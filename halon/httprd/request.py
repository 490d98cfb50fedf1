"""
http()'s arguments as a request, and the response as http()'s result.

L{from_hsl} checks every option of the manual and turns the script's values
into an L{HTTPRequest}: plain data that both the in-process fetcher and
httprd (for background requests, after a trip over its socket as JSON)
understand.  L{to_hsl} shapes the answer the way the manual describes:
the body on 2xx, C{none} otherwise, or C{["status" => ..., "content" => ...]}
with C{extended_result}.
"""

import base64
import json
import urllib.parse

from halon.hsl.errors import HSLRuntimeError
from halon.hsl.values import HSLArray, is_function, to_bytes, to_number, truthy

OPTIONS = {
    "extended_result",
    "connect_timeout",
    "timeout",
    "max_file_size",
    "sourceip",
    "sourceipid",
    "method",
    "headers",
    "response_headers",
    "redirects",
    "tls_verify_peer",
    "tls_verify_host",
    "tls_default_ca",
    "tls_client_cert",
    "background",
    "background_hash",
    "background_retry_count",
    "background_retry_delay",
    "proxy",
}

_UNRESERVED = "-._~"


class HTTPRequest:
    """One request and how to make it; every field has the manual's default."""

    def __init__(self, url, **fields):
        self.url = url
        self.method = fields.get("method", "GET")
        self.headers = list(fields.get("headers", []))
        self.body = fields.get("body")
        self.connect_timeout = fields.get("connect_timeout", 10.0)
        self.timeout = fields.get("timeout")
        self.max_file_size = fields.get("max_file_size")
        self.redirects = fields.get("redirects", 0)
        self.tls_verify_peer = fields.get("tls_verify_peer", True)
        self.tls_verify_host = fields.get("tls_verify_host", False)
        self.tls_client_cert = fields.get("tls_client_cert")
        self.sourceip = fields.get("sourceip")
        self.proxy = fields.get("proxy")
        self.extended_result = fields.get("extended_result", False)
        self.response_headers = fields.get("response_headers", False)
        self.background = fields.get("background", False)
        self.background_hash = fields.get("background_hash", 0)
        self.retry_count = fields.get("retry_count", 0)
        self.retry_delay = fields.get("retry_delay", 0.0)

    _FIELDS = (
        "method headers connect_timeout timeout max_file_size redirects tls_verify_peer tls_verify_host "
        "tls_client_cert sourceip proxy extended_result response_headers background background_hash "
        "retry_count retry_delay"
    ).split()

    def to_wire(self):
        """JSON bytes for httprd's socket."""
        data = {name: getattr(self, name) for name in self._FIELDS}
        data["url"] = self.url
        data["headers"] = [[_b64(n), _b64(v)] for n, v in self.headers]
        data["body"] = None if self.body is None else _b64(self.body)
        return json.dumps(data).encode()

    @classmethod
    def from_wire(cls, payload):
        data = json.loads(payload)
        url = data.pop("url")
        data["headers"] = [(base64.b64decode(n), base64.b64decode(v)) for n, v in data["headers"]]
        data["body"] = None if data["body"] is None else base64.b64decode(data["body"])
        return cls(url, **data)


class HTTPResponse:
    """What came back: status line, headers [(name, value)] as bytes, body."""

    def __init__(self, status, headers, body, version=b"HTTP/1.1", phrase=b""):
        self.status = status
        self.headers = headers
        self.body = body
        self.version = version
        self.phrase = phrase

    def raw_headers(self):
        lines = [b"%s %d %s" % (self.version, self.status, self.phrase)]
        lines += [n + b": " + v for n, v in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n"


def from_hsl(url, options=None, get=None, post=None, source_ips=None):
    """An L{HTTPRequest} from http()'s arguments, or L{HSLRuntimeError} naming the bad option."""
    opts = _options(options)
    url = to_bytes(url)
    if get is not None:
        if not isinstance(get, HSLArray):
            raise HSLRuntimeError("http(): get must be an array")
        for i, value in reversed(list(enumerate(get.values(), 1))):
            url = url.replace(b"$%d" % i, _url_encode(to_bytes(value)))
    try:
        text = url.decode("ascii")
    except UnicodeDecodeError:
        raise HSLRuntimeError("http(): the URL must be ASCII (encode it first)")
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme not in ("http", "https"):
        raise HSLRuntimeError("http(): unsupported URL scheme %r" % (scheme or text,))
    fields = {}
    body, content_type = _post(post)
    headers = [_header(h) for h in _list(opts.get("headers"), "headers")]
    if body is not None:
        fields["body"] = body
        if content_type and not any(n.lower() == b"content-type" for n, _ in headers):
            headers.append((b"Content-Type", content_type))
    fields["headers"] = headers
    method = opts.get("method")
    fields["method"] = to_bytes(method).decode("ascii", "replace").upper() if method else ("POST" if body is not None else "GET")
    for name in ("connect_timeout", "timeout"):
        if opts.get(name) is not None:
            fields[name] = _positive(opts[name], name)
    if opts.get("max_file_size") is not None:
        fields["max_file_size"] = int(_positive(opts["max_file_size"], "max_file_size"))
    if opts.get("redirects") is not None:
        fields["redirects"] = int(to_number(opts["redirects"]))
    for name in ("tls_verify_peer", "tls_verify_host", "extended_result", "response_headers", "background"):
        if opts.get(name) is not None:
            fields[name] = truthy(opts[name])
    if opts.get("tls_client_cert") is not None:
        fields["tls_client_cert"] = to_bytes(opts["tls_client_cert"]).decode("utf-8", "replace")
    fields["sourceip"] = _source_ip(opts, source_ips)
    if opts.get("proxy") is not None:
        fields["proxy"] = to_bytes(opts["proxy"]).decode("ascii", "replace")
    if opts.get("background_hash") is not None:
        fields["background_hash"] = int(abs(to_number(opts["background_hash"])))
    if opts.get("background_retry_count") is not None:
        fields["retry_count"] = int(max(0, to_number(opts["background_retry_count"])))
    if opts.get("background_retry_delay") is not None:
        fields["retry_delay"] = max(0.0, to_number(opts["background_retry_delay"]))
    return HTTPRequest(text, **fields)


def to_hsl(request, response):
    """http()'s return value for C{response} (C{None}: no valid response at all)."""
    if response is None:
        return None
    if request.extended_result:
        result = HSLArray()
        result.set(b"status", float(response.status))
        result.set(b"content", response.body)
        if request.response_headers:
            result.set(b"headers", HSLArray.from_list([n + b": " + v for n, v in response.headers]))
        return result
    if request.response_headers:
        return response.raw_headers() + response.body
    return response.body if 200 <= response.status < 300 else None


def _options(options):
    if options is None:
        return {}
    if not isinstance(options, HSLArray):
        raise HSLRuntimeError("http(): options must be an array")
    out = {}
    for key, value in options.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else None
        if name not in OPTIONS:
            raise HSLRuntimeError("http(): unknown option %r" % (to_bytes(key).decode("utf-8", "replace"),))
        out[name] = value
    return out


def _post(post):
    """(body, default content type) of the post argument."""
    if post is None:
        return None, None
    if isinstance(post, HSLArray):
        pairs = [_url_encode(to_bytes(k)) + b"=" + _url_encode(to_bytes(v)) for k, v in post.items()]
        return b"&".join(pairs), b"application/x-www-form-urlencoded"
    if is_function(post):
        raise HSLRuntimeError("http(): post as a function is not supported")
    return to_bytes(post), b"application/x-www-form-urlencoded"


def _list(value, name):
    if value is None:
        return []
    if not isinstance(value, HSLArray):
        raise HSLRuntimeError("http(): %s must be an array" % (name,))
    return list(value.values())


def _header(value):
    line = to_bytes(value)
    name, sep, rest = line.partition(b":")
    if not sep or not name.strip() or b"\n" in line or b"\r" in line:
        raise HSLRuntimeError("http(): header %r is not 'Name: value'" % (line.decode("utf-8", "replace"),))
    return name.strip(), rest.strip()


def _positive(value, name):
    n = to_number(value)
    if not n > 0:
        raise HSLRuntimeError("http(): %s must be a number above 0" % (name,))
    return n


def _source_ip(opts, source_ips):
    if opts.get("sourceipid") is not None:
        ident = to_bytes(opts["sourceipid"]).decode("utf-8", "replace")
        if not source_ips or ident not in source_ips:
            raise HSLRuntimeError("http(): unknown sourceipid %r" % (ident,))
        return source_ips[ident]
    if opts.get("sourceip") is not None:
        return to_bytes(opts["sourceip"]).decode("ascii", "replace")
    return None


def _url_encode(value):
    return urllib.parse.quote_from_bytes(value, safe=_UNRESERVED).encode("ascii")


def _b64(data):
    return base64.b64encode(data).decode("ascii")
