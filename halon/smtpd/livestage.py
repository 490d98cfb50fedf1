# -*- test-case-name: tests.smtpd.test_livestage -*-
"""
Live stage (blue-green testing): a second running configuration that
serves a chosen part of the new connections while the live one serves
the rest, started, watched and cancelled with `halonctl config livestage`.

A live stage is checked and prepared exactly as a reload is (schema,
semantics, hooks compiled, certificates read) before it takes any
connection, so a configuration that would be refused by a reload is
refused here too.  Which connections it takes is decided once, when a
connection opens; the connection then keeps that configuration (its
settings and hooks) until it closes, even if the live stage ends first.

It ends by itself when its time is up or it has taken its count of
connections; time is the injected clock's, so tests drive it with
C{task.Clock}.
"""

import random

from twisted.logger import Logger

from halon.smtpd.proxyproto import Networks

__all__ = ["LiveStage", "LiveStages", "LiveStageError"]

log = Logger()


class LiveStageError(Exception):
    """A live stage request that cannot be carried out; the message is for the operator."""


class LiveStage:
    """
    One staged configuration and the conditions a connection must meet
    to use it (all that are given).

    @param ident: the operator's id for it (C{--id}).
    @param prepared: the L{halon.smtpd.service.Prepared} configuration.
    @param remoteips: addresses or networks of the clients it takes.
    @param serverids: the servers whose connections it takes.
    @param probability: the share of matching connections it takes, by lot.
    @param time: seconds it runs, or None.
    @param count: connections it takes before it ends, or None.
    """

    def __init__(self, ident, prepared, started, remoteips=(), serverids=(), probability=None, time=None, count=None):
        try:
            self.remoteips = Networks(remoteips)
        except ValueError as e:
            raise LiveStageError("remoteip: %s" % (e,))
        if probability is not None and not 0 <= probability <= 1:
            raise LiveStageError("probability: %g is not between 0 and 1" % (probability,))
        if time is not None and time <= 0:
            raise LiveStageError("time: %g is not a positive number of seconds" % (time,))
        if count is not None and count < 1:
            raise LiveStageError("count: %d is not a positive number of connections" % (count,))
        unknown = sorted(set(serverids) - set(prepared.settings))
        if unknown:
            raise LiveStageError("serverid: %s is not a server of this configuration" % (", ".join(unknown),))
        self.id = ident
        self.prepared = prepared
        self.started = started
        self.remoteip_list = list(remoteips)
        self.serverids = frozenset(serverids)
        self.probability = probability
        self.time = time
        self.count = count
        self.connections = 0

    def matches(self, session, draw):
        """Whether a new connection meets the conditions; C{draw()} is a number in [0, 1)."""
        if self.serverids and session.serverid not in self.serverids:
            return False
        if self.remoteips and session.remoteip not in self.remoteips:
            return False
        if self.probability is not None and not draw() < self.probability:
            return False
        return True


class LiveStages:
    """
    The process's live stage: at most one at a time, as in Halon.

    @param clock: L{IReactorTime}; runtime and the end of a timed stage.
    @param load: C{load(text, name)} -> a loaded smtpd-app configuration
        (raises L{halon.config.ConfigError}).
    @param prepare: C{prepare(app)} -> L{Prepared} (raises ConfigError),
        the same preparation a reload uses.
    @param draw: the lot for C{probability}, a number in [0, 1).
    """

    def __init__(self, clock, load, prepare, draw=random.random):
        self.clock = clock
        self._load = load
        self._prepare = prepare
        self._draw = draw
        self.current = None
        self._timer = None

    def start(self, ident, text, **conditions):
        """
        Check, prepare and start a staged configuration.  Raises
        L{LiveStageError} when one is running already or a condition is
        wrong, and L{halon.config.ConfigError} for the configuration's
        problems; nothing changes then.
        """
        if not ident:
            raise LiveStageError("a live stage needs an id")
        if self.current is not None:
            raise LiveStageError("live stage %s is running; cancel it first" % (self.current.id,))
        prepared = self._prepare(self._load(text, "livestage:%s" % (ident,)))
        stage = LiveStage(ident, prepared, self.clock.seconds(), **conditions)
        self.current = stage
        if stage.time is not None:
            self._timer = self.clock.callLater(stage.time, self._ended, stage, "its time is up")
        log.info(
            "live stage {id} started ({conditions})",
            id=ident,
            conditions=_describe(stage),
        )
        return stage

    def cancel(self):
        """End the running live stage; False when none runs."""
        if self.current is None:
            return False
        self._ended(self.current, "cancelled")
        return True

    def runtime(self, stage):
        """Whole seconds since C{stage} started."""
        return int(self.clock.seconds() - stage.started)

    def choose(self, session):
        """
        The (settings, hooks) of the live stage for a new connection that
        it takes, else None (the live configuration serves it).
        """
        stage = self.current
        if stage is None or not stage.matches(session, self._draw):
            return None
        serverid = session.serverid
        chosen = stage.prepared.settings[serverid], stage.prepared.hooks[serverid](session)
        stage.connections += 1
        if stage.count is not None and stage.connections >= stage.count:
            self._ended(stage, "it took its %d connections" % (stage.count,))
        return chosen

    def _ended(self, stage, why):
        if self.current is not stage:
            return
        self.current = None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        log.info(
            "live stage {id} ended: {why} ({connections} connections, {runtime} s)",
            id=stage.id,
            why=why,
            connections=stage.connections,
            runtime=self.runtime(stage),
        )

    def stop(self):
        """The process is stopping: no timer may outlive it."""
        if self.current is not None:
            self._ended(self.current, "smtpd stopped")


def _describe(stage):
    parts = []
    if stage.remoteip_list:
        parts.append("remoteip " + ", ".join(stage.remoteip_list))
    if stage.serverids:
        parts.append("serverid " + ", ".join(sorted(stage.serverids)))
    if stage.probability is not None:
        parts.append("probability %g" % (stage.probability,))
    if stage.time is not None:
        parts.append("time %g s" % (stage.time,))
    if stage.count is not None:
        parts.append("count %d" % (stage.count,))
    return "; ".join(parts) or "every connection"
