"""SPF, DKIM, DMARC, ARC, DANE and MTA-STS against a real DNS server on loopback."""
