"""DKIM signing and verification speed of halon.mailauth beside dkimpy's own signer."""
