"""
The settings of one virtual server, read once from the loaded (validated,
defaults filled in) smtpd.yaml and smtpd-app.yaml entries for its id, so
the protocol reads attributes instead of walking dicts on every command.

Field names are those of schemas/smtpd.schema.json (startup: listeners,
proxyprotocol, threads) and schemas/smtpd-app.schema.json (running:
hostname, greeting, maxlinelength, phases, tls, concurrency, timeout).
"""

import socket

__all__ = ["ServerSettings", "Listener", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 300


class Listener:
    """One listen directive: address (None = every IPv4 and IPv6 address), port, backlog, id."""

    __slots__ = ("address", "port", "backlog", "id", "implicit_tls")

    def __init__(self, port, address=None, backlog=None, ident=None, implicit_tls=False):
        self.port = port
        self.address = address
        self.backlog = backlog
        self.id = ident
        self.implicit_tls = implicit_tls

    def describe(self, port=None):
        """C{ADDR:PORT} as the start-up log shows it (IPv6 in brackets)."""
        address = self.address or "0.0.0.0"
        if ":" in address:
            address = "[%s]" % address
        return "%s:%d" % (address, self.port if port is None else port)


class ServerSettings:
    """
    Everything the protocol needs to know about its server.  Built by
    L{from_config}; tests build one directly with keyword arguments.
    """

    def __init__(
        self,
        serverid="default",
        hostname=None,
        greeting="ESMTP",
        transport=None,
        max_line_length=65536,
        max_message_size=None,
        max_recipients=1000,
        max_connections=10000,
        max_connections_per_ip=None,
        idle_timeout=DEFAULT_TIMEOUT,
        state_timeouts=None,
        auth_mechanisms=("PLAIN", "LOGIN"),
        auth_tls_required=True,
        proxy_networks=(),
        remoteptr=True,
        listeners=(),
        max_errors=20,
        tls=None,
    ):
        self.serverid = serverid
        if hostname is None:
            hostname = socket.getfqdn()
        self.hostname = hostname.encode("utf-8") if isinstance(hostname, str) else hostname
        self.greeting = greeting.encode("utf-8") if isinstance(greeting, str) else greeting
        self.transport = transport
        self.max_line_length = max_line_length
        self.max_message_size = max_message_size
        self.max_recipients = max_recipients
        self.max_connections = max_connections
        self.max_connections_per_ip = max_connections_per_ip
        self.idle_timeout = idle_timeout
        self.state_timeouts = dict(state_timeouts or {})
        self.auth_mechanisms = tuple(m.upper() for m in auth_mechanisms)
        self.auth_tls_required = auth_tls_required
        self.proxy_networks = list(proxy_networks)
        self.remoteptr = remoteptr
        self.listeners = list(listeners)
        self.max_errors = max_errors
        self.tls = tls

    def timeout(self, state):
        """Seconds to wait for the client in C{state} (BANNER, MAIL, DATA ...)."""
        return self.state_timeouts.get(state, self.idle_timeout)

    @classmethod
    def from_config(cls, startup_server, app_server, tls=None):
        """
        From the smtpd.yaml entry (None when the server only exists in the
        running configuration) and the smtpd-app.yaml entry of one id.
        C{tls} is the server's prepared TLS (L{halon.smtpd.tls.ServerTLS}) or None.
        """
        startup_server = startup_server or {}
        phases = app_server.get("phases", {})
        concurrency = app_server.get("concurrency", {})
        timeout = app_server.get("timeout", {})
        auth = phases.get("auth", {})
        tls_conf = app_server.get("tls", {})
        implicit = tls_conf.get("implicit", False)
        listeners = []
        for entry in startup_server.get("listeners", []):
            ident = entry.get("id")
            is_implicit = implicit is True or (isinstance(implicit, list) and ident in implicit)
            listeners.append(Listener(entry["port"], entry.get("address"), entry.get("backlog"), ident, is_implicit))
        return cls(
            serverid=app_server["id"],
            hostname=app_server.get("hostname"),
            greeting=app_server.get("greeting", "ESMTP"),
            transport=app_server.get("transport"),
            max_line_length=app_server.get("maxlinelength", 65536),
            max_message_size=phases.get("data", {}).get("maxsize"),
            max_recipients=phases.get("rcptto", {}).get("maxrecipients", 1000),
            max_connections=concurrency.get("total", 10000),
            max_connections_per_ip=concurrency.get("remoteip"),
            idle_timeout=timeout.get("idle", DEFAULT_TIMEOUT),
            state_timeouts=timeout.get("smtp", {}),
            auth_mechanisms=auth.get("mechanisms", ("PLAIN", "LOGIN")),
            auth_tls_required=auth.get("tlsrequired", True),
            proxy_networks=startup_server.get("proxyprotocol", []),
            remoteptr=phases.get("connect", {}).get("remoteptr", True),
            listeners=listeners,
            tls=tls,
        )
