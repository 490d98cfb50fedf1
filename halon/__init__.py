"""Halon on Twisted: the Halon MTA as an event-driven Twisted framework."""

__version__ = "0.1.0"

# The Halon release whose behaviour (HSL, halonctl, configuration) we follow.
HALON_COMPAT_VERSION = "6.11"
