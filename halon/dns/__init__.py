"""
DNS for scripts and mail authentication.

L{client.StubResolver} asks nameservers and returns L{client.Answer}s that
keep the response code and the AD bit. L{blocking.BlockingLookup} lets code
running on a script thread (SPF, DKIM and DMARC evaluation, dns_query())
wait for an answer that the reactor fetches. L{functions.DNSFunctions} is
the "resolver" service behind HSL's dns_query().
"""
