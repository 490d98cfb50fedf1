"""
Connection limits of one virtual server: concurrency in total and per
remote IP.  A client over a limit still gets a 421 before the close, so it
knows to retry later rather than suspect the network.

Counts live on the reactor thread only; C{server_concurrency()} in scripts
reads them through the reactor (L{halon.smtpd.server}).
"""

__all__ = ["ConnectionLimiter"]


class ConnectionLimiter:
    """
    @ivar total: connections now open.
    @ivar per_ip: remote IP (str) -> connections now open from it.
    """

    def __init__(self, max_total=None, max_per_ip=None):
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.total = 0
        self.per_ip = {}

    def acquire(self, ip):
        """
        Count a new connection from C{ip}; returns None when admitted, else
        "total" or "remoteip" naming the limit it hit (and counts nothing).
        """
        if self.max_total is not None and self.total >= self.max_total:
            return "total"
        current = self.per_ip.get(ip, 0)
        if self.max_per_ip is not None and current >= self.max_per_ip:
            return "remoteip"
        self.total += 1
        self.per_ip[ip] = current + 1
        return None

    def release(self, ip):
        self.total -= 1
        current = self.per_ip.get(ip, 0) - 1
        if current > 0:
            self.per_ip[ip] = current
        else:
            self.per_ip.pop(ip, None)

    def move(self, old_ip, new_ip):
        """
        A PROXY header revealed the real client: count it under C{new_ip}.
        Returns None, or "remoteip" when the real address is over its limit
        (then the connection stays counted under C{old_ip}).
        """
        if old_ip == new_ip:
            return None
        current = self.per_ip.get(new_ip, 0)
        if self.max_per_ip is not None and current >= self.max_per_ip:
            return "remoteip"
        self.release(old_ip)
        self.total += 1
        self.per_ip[new_ip] = current + 1
        return None

    def count(self, ip=None):
        return self.total if ip is None else self.per_ip.get(ip, 0)
