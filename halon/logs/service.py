"""
The observers C{environment.logging} asks for, added to the global log
publisher while the service runs.  twistd's own observer is left as it is
(choose it with C{twistd --logger}; L{json_logger} makes stdout JSON
lines).

    logging:
      level: info            # debug, info, warn, error, critical
      text: var/log/halon.log
      json: var/log/halon.json
      syslog:
        ident: halon
        facility: mail
"""

import os
import sys

from twisted.application import service
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
    textFileLogObserver,
)

from halon.logs.observers import json_lines_observer, syslog_observer

__all__ = ["LoggingService", "json_logger", "LEVELS"]

LEVELS = {name: getattr(LogLevel, name) for name in ("debug", "info", "warn", "error", "critical")}


class LoggingService(service.Service):
    """
    @param conf: C{environment.logging} (may be empty: then nothing is added).
    @param syslog: the syslog observer factory (tests give one that records).
    @ivar observers: the observers added while running.
    """

    name = "logging"

    def __init__(self, conf, publisher=globalLogPublisher, syslog=syslog_observer):
        level = conf.get("level", "info")
        if level not in LEVELS:
            raise ValueError("environment.logging.level must be one of %s" % (", ".join(LEVELS),))
        self._level = LEVELS[level]
        self._conf = conf
        self._publisher = publisher
        self._syslog = syslog
        self._files = []
        self.observers = []

    def privilegedStartService(self):
        """Start here, so the other daemons' start-up lines (listen on ...) are logged too."""
        self._start()
        service.Service.privilegedStartService(self)

    def startService(self):
        self._start()
        service.Service.startService(self)

    def _start(self):
        if self.observers:
            return
        conf = self._conf
        if conf.get("text"):
            self._add(textFileLogObserver(self._open(conf["text"])))
        if conf.get("json"):
            self._add(json_lines_observer(self._open(conf["json"])))
        if conf.get("syslog"):
            syslog_conf = conf["syslog"] if isinstance(conf["syslog"], dict) else {}
            self._add(self._syslog(syslog_conf.get("ident", "halon"), syslog_conf.get("facility", "mail")))

    def stopService(self):
        service.Service.stopService(self)
        self._stop()

    def reopen(self):
        """Close and open the files again (SIGHUP after logrotate moved them)."""
        if self.observers:
            self._stop()
            self._start()

    def _stop(self):
        for observer in self.observers:
            self._publisher.removeObserver(observer)
        self.observers = []
        for f in self._files:
            f.close()
        self._files = []

    def _open(self, path):
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        f = open(path, "a", encoding="utf-8", errors="backslashreplace")
        self._files.append(f)
        return f

    def _add(self, observer):
        predicate = LogLevelFilterPredicate(defaultLogLevel=self._level)
        filtered = FilteringLogObserver(observer, [predicate])
        self.observers.append(filtered)
        self._publisher.addObserver(filtered)


def json_logger():
    """For C{twistd --logger halon.logs.json_logger}: JSON lines on stdout instead of text."""
    return json_lines_observer(sys.stdout)
