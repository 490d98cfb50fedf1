"""Real peers the tests start on loopback: DNS servers, SMTP servers, certificates."""
