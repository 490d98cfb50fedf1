"""
httprd and http(): L{request} turns http()'s arguments into a request,
L{fetch} makes it with pooled connections, L{background} queues and retries
background requests inside the httprd daemon (L{service}), and L{client} is
the "http" service smtpd registers for its scripts.
"""
