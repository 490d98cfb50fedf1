"""The trial suite of Halon on Twisted; run it with `make test`."""
