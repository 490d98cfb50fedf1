"""
dlpd: content scanning of messages.  L{walk} undoes the MIME structure,
L{extract} unpacks archives and PDF streams, L{rules} and L{detect} decide
what matches, L{scanner} runs a scan, and L{service} serves scans on the
IPC socket the dlp() function uses.
"""
