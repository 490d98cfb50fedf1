"""
Logging: where the process's Twisted log events go besides twistd's own
observer (stdout with -n, twistd.log without): JSON lines and text files
and syslog, configured by C{environment.logging} of smtpd.yaml
(docs/operations.md).

Parts of the program log with C{twisted.logger.Logger} and put what a
reader filters on into the event as fields (C{queueid}, C{sender},
C{recipients}, C{action}, C{reply} ...); the text observers show the
formatted line, the JSON observer keeps the fields as they are.
"""

from halon.logs.observers import json_lines_observer, syslog_observer
from halon.logs import mail
from halon.logs.service import LoggingService, json_logger

__all__ = ["LoggingService", "json_lines_observer", "syslog_observer", "json_logger", "mail"]
