"""
The queue: every queued recipient in memory, the scheduler that picks them
up, and what happens after an attempt (done, retry, bounce).

A recipient's life (states in L{halon.queue.states}):

    spool in -> HOLD (held) | DEFER (delayed, or a retry is due later) | ACTIVE
    ACTIVE -> UNKNOWN (pre-delivery hook, DNS) -> suspended? back to ACTIVE, parked
                                               -> SENDING (the SMTP attempt)
    after the attempt: delivered, bounced or deleted -> gone (journal "D")
                       temporary failure -> DEFER until the next retry interval

The spool file is the source of truth for what is queued; the journal
(L{halon.queue.journal}) carries what changed since.  A message's file is
removed once its last recipient is gone.  Recipients of one message with
the same transport and domain go in one SMTP transaction.

Scheduling runs on an injected clock: the defer queue is a heap of next
retry times with one timer at its head; the active queue is a FIFO; a
recipient held back by a suspend or a policy limit is parked until a
suspend is lifted.  Delivery itself (sockets, DNS, file reads) runs on the
reactor.

Pre- and post-delivery hooks are an object with C{predelivery(info)} and
C{postdelivery(info)} returning (Deferreds of) L{Decision}s; see
L{QueueHooks}.  halon.queue.control answers halonctl from this object.
"""

import heapq
import os
import socket
import sys
import uuid as _uuid
from collections import deque

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from halon.logs import mail as mail_log
from halon.queue import delivery_settings, dsn, spool, states
from halon.queue.files import Recent, Unlinker
from halon.queue.delivery import Deliverer, Outcome, Session, fixed_destination, resolve_destination
from halon.queue.grouping import Groupings
from halon.queue.index import Message, QueueIndex, Recipient
from halon.queue.journal import DONE, Journal
from halon.queue.policies import PolicyEngine
from halon.queue.pool import ConnectionPool
from halon.queue.suspends import Suspends

__all__ = ["Queue", "QueueConfig", "Decision", "QueueHooks"]

log = Logger()


# What the mail log calls each outcome of an attempt (halon.logs.mail).
_LOGGED = {"done": "DELIVER", "delete": "DELETE", "bounce": "BOUNCE", "queue": "QUEUE"}


class Decision:
    """
    What a hook decided.  C{action}: "try" (pre-delivery only), "queue",
    "bounce", "delete", or "default" (post-delivery: what the result
    implies).  C{options}: Try() delivery overrides (tls, server ...) or
    Queue()'s C{delay}, C{increment_retry}, C{hold}, C{transportid}.
    C{metadata}: pairs the script set (SetMetaData).
    """

    def __init__(self, action="default", options=None, metadata=None, reason=None):
        self.action = action
        self.options = options or {}
        self.metadata = metadata
        self.reason = reason


class QueueHooks:
    """The hooks when no script is configured: try every attempt, take the default after."""

    def predelivery(self, info):
        return Decision("try")

    def postdelivery(self, info):
        return Decision("default")


def _number(value, default):
    from halon.config.defaults import duration

    value = duration(value) if value is not None else default
    return float(value)


class QueueConfig:
    """
    The parts of smtpd.yaml and smtpd-app.yaml the queue reads, plus the
    three reloadable files (policies, suspends, delivery settings).

    @ivar transports: transport id -> (transport dict, its group dict).
    """

    def __init__(self, app=None, startup=None, hostname=None, nameservers=None):
        app = app or {}
        startup = startup or {}
        self.app = app
        self.hostname = hostname or socket.getfqdn()
        self.transports = {}
        for group in app.get("transportgroups") or []:
            for transport in group.get("transports") or []:
                self.transports[transport["id"]] = (transport, group)
        queues = dict(app.get("queues") or {})
        queues.update(startup.get("queues") or {})
        self.concurrency_total = int((queues.get("concurrency") or {}).get("total", 10000))
        self.pooling_size = int((queues.get("pooling") or {}).get("size", 1024))
        self.lists = app.get("lists") or {}
        self.groupings = Groupings(queues.get("grouping"), self.lists)
        environment = startup.get("environment") or {}
        self.policyconf = environment.get("policyconf")
        self.suspendconf = environment.get("suspendconf")
        self.deliveryconf = environment.get("deliveryconf")
        self.nameservers = nameservers

    def transport(self, transportid):
        """(transport, group) for C{transportid}; unknown ids deliver by MX with the defaults."""
        return self.transports.get(transportid, ({"id": transportid}, {}))


# How long a held-back attempt keeps its route (the pre-delivery hook's
# decision and the DNS answers) before it is routed again from the start.
ROUTE_LIFETIME = 300.0


class _Route:
    """Where an attempt goes, as the pre-delivery hook and DNS decided it."""

    __slots__ = ("transport", "group", "connection", "session", "overrides", "resolution", "sts", "localip",
                 "epoch", "at")

    def __init__(self, transport, group, connection, session, overrides, resolution, sts, localip, epoch, at):
        self.transport = transport
        self.group = group
        self.connection = connection
        self.session = session
        self.overrides = overrides
        self.resolution = resolution
        self.sts = sts
        self.localip = localip
        self.epoch = epoch
        self.at = at


class _Job:
    """
    One attempt: recipients of one message sharing transport and domain.

    @ivar route: a L{_Route} once the hook and DNS ran, else None.
    @ivar held_by: (source, condition) of the suspend it last waited for.
    @ivar followers: the jobs that waited behind this one for the same
        suspend, taken up one by one as each gets past it (L{Queue._go_on}).
    """

    __slots__ = ("message", "recipients", "info", "grant", "settings", "context", "route", "held_by", "followers")

    def __init__(self, message, recipients):
        self.message = message
        self.recipients = recipients
        self.info = {}
        self.grant = None
        self.settings = None
        self.context = None
        self.route = None
        self.held_by = None
        self.followers = None


class Queue(service.Service):
    """
    @param reactor: network, threads and the journal's writes.
    @param clock: scheduling (retries, suspends' and policies' ttl); the
        reactor unless a test passes a task.Clock.
    @param resolver: a L{halon.resolver.Resolver} (MX and address lookups).
    """

    name = "queue"

    def __init__(self, reactor, spool_path, stats, resolver, config=None, clock=None, hooks=None,
                 journal_path=None, deliverer=None, trust_root=None, mtasts=None):
        self._reactor = reactor
        self.clock = clock or reactor
        self.spool_path = spool_path
        self.stats = stats
        self.resolver = resolver
        self.config = config or QueueConfig()
        self.hooks = hooks or QueueHooks()
        self.index = QueueIndex()
        self.journal = Journal(journal_path or os.path.join(spool_path, "journal"), reactor)
        self.pool = ConnectionPool(self.clock, self.config.pooling_size, self.config.concurrency_total, stats)
        self.deliverer = deliverer or Deliverer(reactor, self.pool, trust_root, resolver)
        ids = _ids()
        self.suspends = Suspends(self.clock, ids, stats)
        self.policies = PolicyEngine(self.clock, ids, self.suspends, stats)
        self.delivery_file = None
        if mtasts is None and resolver is not None:
            from halon.mailauth.mtasts import MTASTS

            mtasts = MTASTS(reactor, lambda name: resolver.query(name, "txt"))
        self.mtasts = mtasts
        self.writer = spool.Spool(spool_path, reactor)
        self.recent = Recent()
        self.unlinker = Unlinker(reactor)
        self._active = deque()
        self._defer = []
        self._defer_call = None
        self._held = {}
        self._ready = deque()
        self._resolved = {}
        self._epoch = 0
        self._running = 0
        self._stopping = False
        self._pump_call = None
        self._loaded = False
        self._follow = None
        self._idle = []
        self.suspends.on_change(self._unpark)
        self.pool.on_room(self._kick)
        self._register(stats)

    def _register(self, stats):
        counts = self.index.counts
        stats.gauge("queue.loader.count", lambda: len(self.index))
        # The spool is loaded whole before the first connection is served: nothing waits to be loaded.
        stats.gauge("queue.loader.pending", lambda: 0)
        stats.gauge("queue.quota.size", lambda: len(self.index.quotas))
        stats.gauge("queue.queue.defer.size", lambda: counts[states.DEFER])
        stats.gauge("queue.queue.active.size", lambda: counts[states.ACTIVE])
        stats.gauge("queue.freeze.hold.size", lambda: counts[states.HOLD])
        stats.gauge("queue.freeze.update.size", lambda: counts[states.UPDATE])
        stats.gauge("queue.freeze.update.pending", lambda: self.index.freeze_pending)
        self._skips = stats.counter("queue.pickup.skips")
        self._misses = stats.counter("queue.pickup.misses")

    # -- configuration -----------------------------------------------------------------

    def configure(self, config):
        """
        A reloaded running configuration: transports, limits and the
        delivery scripts change (a script that does not compile leaves the
        ones running, and says so); queued state stays.
        """
        self.config = config
        self._epoch += 1
        self.pool.total = config.concurrency_total
        self.pool.size = config.pooling_size
        load = getattr(self.hooks, "load", None)
        if load is not None:
            try:
                load(config.app)
            except Exception as e:
                log.error("delivery scripts not reloaded, the previous ones stay: {error}", error=e)
        self._kick()

    def follow(self, current_app, startup):
        """
        Take transports and limits from C{current_app()} (the running
        smtpd-app.yaml as a dict), rebuilt whenever it is a new one: the
        SMTP server's reloads reach the queue without a call.
        """
        self._follow = (current_app, startup, current_app())
        self.configure(QueueConfig(self._follow[2], startup, self.config.hostname))

    def _followed(self):
        current_app, startup, seen = self._follow
        app = current_app()
        if app is not seen:
            self._follow = (current_app, startup, app)
            self.configure(QueueConfig(app, startup, self.config.hostname))

    def load_policies(self, document):
        from halon.queue.policies import parse_file

        self.policies.load(parse_file(document, self.config.lists))

    def load_suspends(self, document):
        from halon.queue.suspends import parse_file

        self.suspends.load(parse_file(document, self.config.lists))

    def load_delivery(self, document):
        self.delivery_file = delivery_settings.DeliveryFile(document, self.config.lists)

    def reload_file(self, kind):
        """Re-read environment.<kind>conf ("policy", "suspend", "delivery"); raises ConfigError/ValueError."""
        from halon.config import load_running

        path = getattr(self.config, kind + "conf")
        document = load_running("smtpd-" + kind, path, missing_ok=True) if path else {}
        try:
            {"policy": self.load_policies, "suspend": self.load_suspends, "delivery": self.load_delivery}[kind](document)
        except ValueError as e:
            raise ValueError("%s: %s" % (path, e))

    # -- the QueueSink interface of the SMTP server ------------------------------------

    def submit(self, spooled):
        """A message the spool made durable: index it and schedule its recipients."""
        message = self._build(spooled, {})
        if message is not None:
            self.index.add(message)
            self.recent.add(spooled)
            for rcpt in message.recipients:
                self._schedule(rcpt)
            self._kick()

    def load(self, spool_path=None, on_error=None):
        """Every message in the spool with its journaled state; the number of messages loaded."""
        entries = self.journal.load()
        self._loaded = True
        count = 0
        for spooled in spool.load(spool_path or self.spool_path, on_error):
            message = self._build(spooled, entries)
            if message is None:
                continue
            self.index.add(message)
            for rcpt in message.recipients:
                if rcpt.state == states.ACTIVE:
                    self._active.append(rcpt)
                elif rcpt.state == states.DEFER:
                    self._defer.append((rcpt.next_retry, id(rcpt), rcpt))
            count += 1
        heapq.heapify(self._defer)
        self._arm_defer()
        self._kick()
        return count

    def _build(self, spooled, entries):
        """The index record of a spooled message, None when nothing of it is left to deliver."""
        envelope = spooled.envelope
        first = spooled.recipients[0] if spooled.recipients else {}
        dsn_params = envelope.get("dsn") or {}
        message = Message(
            spooled.uuid,
            envelope.get("sender") or "",
            float(envelope.get("received") or 0),
            size=spooled.length or 0,
            path=spooled.path,
            serverid=envelope.get("serverid") or "",
            jobid=first.get("jobid") or "",
            tenantid=first.get("tenantid") or "",
            priority=first.get("priority") or 0,
            dsn={k: v for k, v in dsn_params.items() if v} or None,
            offset=spooled.offset,
        )
        now = self.clock.seconds()
        for record in spooled.recipients:
            n = record["index"]
            entry = entries.get("%s:%d" % (spooled.uuid, n)) if entries else None
            if entry is DONE:
                continue
            rcpt = Recipient(message, n, record.get("recipient") or "", record.get("transportid") or "")
            metadata = record.get("metadata")
            if metadata:
                rcpt.metadata = dict(metadata)
            quotas = record.get("quotas")
            if quotas:
                rcpt.quotas = tuple(dict.fromkeys(map(sys.intern, quotas)))
            dsn_params = record.get("dsn")
            if dsn_params and (dsn_params.get("notify") or dsn_params.get("orcpt")):
                rcpt.params = {"notify": dsn_params.get("notify"), "orcpt": dsn_params.get("orcpt")}
            if entry is not None:
                rcpt.state = entry.state
                rcpt.retry = entry.retry
                rcpt.next_retry = entry.next_retry
                rcpt.transportid = entry.transportid
                rcpt.metadata = entry.metadata
                rcpt.grouping = sys.intern(entry.grouping)
                rcpt.journaled = True
            else:
                rcpt.retry = int(record.get("retry") or 0)
                if record.get("hold"):
                    rcpt.state = states.HOLD
                elif record.get("delay"):
                    rcpt.state = states.DEFER
                    rcpt.next_retry = message.ts + float(record["delay"])
                    if rcpt.next_retry <= now:
                        rcpt.state = states.ACTIVE
            message.recipients.append(rcpt)
        if not message.recipients:
            _unlink(spooled.path)
            return None
        return message

    # -- scheduling ---------------------------------------------------------------------

    def _schedule(self, rcpt, kick=True):
        """Put a recipient in the queue its state says (ACTIVE FIFO or DEFER heap)."""
        if rcpt.state == states.ACTIVE:
            self._active.append(rcpt)
            if kick:
                self._kick()
        elif rcpt.state == states.DEFER:
            heapq.heappush(self._defer, (rcpt.next_retry, id(rcpt), rcpt))
            self._arm_defer()

    def _arm_defer(self):
        if not self._defer:
            return
        due = self._defer[0][0]
        if self._defer_call is not None and self._defer_call.active():
            if self._defer_call.getTime() <= due:
                return
            self._defer_call.cancel()
        self._defer_call = self.clock.callLater(max(0.0, due - self.clock.seconds()), self._release_due)

    def _release_due(self):
        self._defer_call = None
        now = self.clock.seconds()
        heap = self._defer
        moved = []
        while heap and heap[0][0] <= now:
            when, _, rcpt = heapq.heappop(heap)
            if rcpt.state == states.DEFER and rcpt.next_retry == when:
                self.index.set_state(rcpt, states.ACTIVE)
                self._active.append(rcpt)
                moved.append(rcpt)
        self._arm_defer()
        if moved:
            self._kick()

    def _kick(self):
        """Try a pickup on the next reactor turn (many wake-ups, one pickup)."""
        if self._pump_call is None and not self._stopping and self.running:
            self._pump_call = self.clock.callLater(0, self._pump)

    def _pump(self):
        self._pump_call = None
        if self._follow is not None:
            self._followed()
        picked = False
        active = self._active
        ready = self._ready
        pool = self.pool
        while (ready or active) and self._running < self.config.concurrency_total and not self._stopping:
            if pool.open >= pool.total and not len(pool):
                # No connection can be opened now; pool.on_room kicks again.
                break
            if ready:
                job = self._resumed(ready.popleft())
                if job is None:
                    continue
            else:
                rcpt = active.popleft()
                if rcpt.state != states.ACTIVE or rcpt.work is not None or rcpt.next_retry < 0:
                    continue
                job = self._job_of(rcpt)
            picked = True
            self._running += 1
            d = self._attempt(job) if job.route is None else self._transmit(job)
            d.addErrback(self._crashed, job)
            d.addBoth(self._job_done)
        if not picked and self._held and not active:
            self._misses.increment()
        if self.journal.wants_compaction():
            self.journal.compact([r for r in self.index.recipients() if r.journaled])

    def _job_of(self, rcpt):
        message = rcpt.message
        if getattr(self.hooks, "per_recipient", False):
            # Scripts see one queue entry at a time.
            recipients = [rcpt]
        else:
            recipients = [
                r for r in message.recipients
                if r.state == states.ACTIVE and r.work is None and r.transportid == rcpt.transportid
                and r.domain == rcpt.domain
            ]
        job = _Job(message, recipients)
        for r in recipients:
            r.work = job
            self.index.set_state(r, states.UNKNOWN)
        return job

    def _job_done(self, _):
        self._running -= 1
        self._kick()
        if self._running == 0 and self._idle:
            waiters, self._idle = self._idle, []
            for d in waiters:
                d.callback(None)

    def when_idle(self):
        """A Deferred that fires when no attempt is running and the files of what is done are gone."""
        if self._running == 0:
            return self.unlinker.when_done()
        d = defer.Deferred()
        self._idle.append(d)
        d.addCallback(lambda _: self.unlinker.when_done())
        return d

    def _crashed(self, failure, job):
        log.failure("delivery of {id} failed unexpectedly; retrying later", failure, id=job.message.uuid)
        outcome = Outcome(None, {"temporary": True, "message": "internal error", "type": "config"})
        if job.followers:
            followers, job.followers = job.followers, None
            self._take_up(followers)
        for rcpt in job.recipients:
            if rcpt.work is job:
                self._requeue(rcpt, job, outcome, 60.0)

    def _no_room(self, job):
        """No connection slot was free: back to the head of the active queue, no attempt counted."""
        for rcpt in reversed(job.recipients):
            rcpt.work = None
            if self.index.set_state(rcpt, states.ACTIVE) == states.ACTIVE:
                self._active.appendleft(rcpt)
            else:
                self.journal.record(rcpt)

    def _park(self, job, suspend):
        """
        Held back by C{suspend} (an operator's, or a policy's over its
        limit): back to ACTIVE, out of the pickup, in the group of jobs
        waiting for that suspend to be lifted (a sub-queue).  The jobs that
        waited behind this one stay behind it when the same condition holds
        it back again; else they are taken up.
        """
        self._skips.increment()
        waiting = []
        for rcpt in job.recipients:
            rcpt.work = None
            if self.index.set_state(rcpt, states.ACTIVE) == states.ACTIVE:
                waiting.append(rcpt)
            else:
                self.journal.record(rcpt)
        followers, job.followers = job.followers, None
        if waiting:
            job.recipients = waiting
            held_by = (suspend.source, suspend.condition.spec)
            group = self._held.get(suspend.id)
            if group is None:
                group = self._held[suspend.id] = deque()
            group.append(job)
            if followers and job.held_by == held_by:
                group.extend(followers)
                followers = None
            job.held_by = held_by
        if followers:
            self._take_up(followers)

    def _unpark(self):
        """Something was lifted: the groups whose suspend is gone are taken up."""
        if self._held:
            entries = self.suspends.entries
            for id in [id for id in self._held if id not in entries]:
                self._take_up(self._held.pop(id))

    def _take_up(self, group):
        """
        The first job of C{group} goes to the pickup, the others behind it:
        under a concurrency limit, one freed slot would otherwise send a
        whole sub-queue to the pickup only to be held back again.
        """
        job = group.popleft()
        job.followers = group or None
        self._ready.append(job)
        self._kick()

    def _go_on(self, job):
        """C{job} got past what held its group back: the next of the group may try too."""
        group = job.followers
        if group:
            job.followers = None
            follower = group.popleft()
            follower.followers = group or None
            self._ready.appendleft(follower)
            self._kick()

    def _resumed(self, job):
        """
        A held-back job taken up again, with the recipients still waiting
        for it (an operator may have changed or removed some meanwhile), or
        None when none is.  It keeps its route while that is fresh and
        nothing was reconfigured or updated since; else it is routed again.
        """
        recipients = [r for r in job.recipients if r.state == states.ACTIVE and r.work is None and r.next_retry >= 0]
        if not recipients:
            self._go_on(job)
            return None
        route = job.route
        if route is not None and route.epoch == self._epoch and self.clock.seconds() - route.at < ROUTE_LIFETIME:
            job.recipients = recipients
            for rcpt in recipients:
                rcpt.work = job
            return job
        fresh = self._job_of(recipients[0])
        fresh.followers, fresh.held_by = job.followers, job.held_by
        for rcpt in reversed(recipients):
            if rcpt.work is None:
                self._active.appendleft(rcpt)
        return fresh

    # -- one attempt --------------------------------------------------------------------

    def _context(self, job, remotemx="", remoteip="", localip=""):
        """
        What suspends, policies and delivery settings match on.  Before DNS
        (no C{remotemx}) the grouping is the one of the last attempt, or what
        the recipient domain alone decides (L{halon.queue.grouping}).
        """
        rcpt = job.recipients[0]
        context = {
            "tenantid": job.message.tenantid,
            "jobid": job.message.jobid,
            "transportid": rcpt.transportid,
            "recipientdomain": rcpt.domain,
            "grouping": rcpt.grouping if remotemx else (rcpt.grouping or self.config.groupings.of(rcpt.domain)),
        }
        if remotemx:
            context["remotemx"] = remotemx
        if remoteip:
            context["remoteip"] = remoteip
        if localip:
            context["localip"] = localip
        return context

    @defer.inlineCallbacks
    def _attempt(self, job):
        """Route C{job} (pre-delivery hook, DNS, MTA-STS), then L{_transmit} it."""
        first = job.recipients[0]
        transport, group = self.config.transport(first.transportid)
        connection = transport.get("connection") or {}
        session_conf = transport.get("session") or {}
        suspend = self.suspends.matching(self._context(job))
        if suspend is not None:
            self._park(job, suspend)
            return
        self._go_on(job)
        decision = self.hooks.predelivery(self._hook_info(job))
        if isinstance(decision, defer.Deferred):
            decision = yield decision
        self._apply_metadata(job, decision)
        if decision.action in ("queue", "bounce", "delete"):
            outcome = Outcome(None, {"temporary": decision.action == "queue", "message": decision.reason or "by pre-delivery",
                                     "type": "plugin"})
            self._after(job, [outcome] * len(job.recipients), decision, None)
            return
        overrides = decision.options or {}
        server = overrides.get("server") or connection.get("server")
        resolution = fixed_destination(server)
        if resolution is None:
            resolution = yield resolve_destination(
                self.resolver, first.domain, server,
                overrides.get("mx_include") or connection.get("mx_include") or (),
                overrides.get("mx_exclude") or connection.get("mx_exclude") or (),
            )
        if resolution.error is not None:
            message_text, kind = resolution.error
            error = {"temporary": not resolution.permanent, "message": message_text, "type": "dns", "dns": kind}
            yield from self._post(job, [Outcome(None, error)] * len(job.recipients), None)
            return
        sts = None
        if (session_conf.get("tls") or {}).get("mta_sts") and not server and self.mtasts is not None:
            sts, refused = yield self._mta_sts(first.domain, resolution)
            if refused is not None:
                outcome = Outcome(None, {"temporary": True, "message": refused, "type": "tls"}, {"tls": {"mtasts": sts}})
                yield from self._post(job, [outcome] * len(job.recipients), None)
                return
            if sts.get("mode") == "enforce":
                overrides = dict(overrides, tls="require_verify")
        remotemx, remoteip = resolution.hops[0]
        sourceips = (connection.get("sourceip") or {}).get("ipv4") or []
        localip = overrides.get("sourceip") or (sourceips[0] if sourceips else "")
        grouping = self.config.groupings.of(first.domain, remotemx, remoteip)
        for rcpt in job.recipients:
            rcpt.remotemx, rcpt.remoteip, rcpt.localip = remotemx, remoteip, localip
            rcpt.grouping = grouping
        job.context = self._context(job, remotemx, remoteip, localip)
        job.route = _Route(transport, group, connection, session_conf, overrides, resolution, sts, localip,
                           self._epoch, self.clock.seconds())
        yield from self._send(job)

    def _send(self, job):
        """
        The SMTP attempt of a routed C{job}, unless a suspend or a policy's
        limit holds it back.  A generator of Deferreds: L{_attempt} runs it
        within its own (one Deferred per attempt, not one per step), and
        L{_transmit} on its own for a job taken up again.
        """
        context = job.context
        suspend = self.suspends.matching(context)
        grant = self.policies.acquire(context) if suspend is None else None
        if grant is None:
            # Over a policy's limit, the policy has just suspended the key.
            self._park(job, suspend or self.suspends.matching(context))
            return
        self._go_on(job)
        job.grant = grant
        route = job.route
        message = job.message
        overrides = route.overrides
        connection = route.connection
        session_conf = route.session
        try:
            settings = self._settings(route.transport, route.group, context, overrides)
            job.settings = settings
            session = Session(
                overrides.get("helo") or session_conf.get("helo") or self.config.hostname,
                route.localip or None,
                int(overrides.get("port") or connection.get("port") or 25),
                lmtp=session_conf.get("protocol") == "lmtp",
                auth=_auth(session_conf.get("authentication")),
            )
            for rcpt in job.recipients:
                self.index.set_state(rcpt, states.SENDING)
            outcomes = yield from self.deliverer.attempt(
                route.resolution.hops, session, settings, message.sender,
                [r.address for r in job.recipients], self.recent.data(message),
                _mail_params(message), [_rcpt_params(r.params) for r in job.recipients],
            )
        finally:
            self.policies.release(grant)
        if outcomes is None:
            self._no_room(job)
            return
        if route.sts is not None:
            for outcome in outcomes:
                if outcome.connection is not None:
                    outcome.connection.setdefault("tls", {})["mtasts"] = route.sts
        yield from self._post(job, outcomes, settings)

    _transmit = defer.inlineCallbacks(_send)

    @defer.inlineCallbacks
    def _mta_sts(self, domain, resolution):
        """
        The domain's MTA-STS policy applied to C{resolution} (RFC 8461 5):
        (what the attempt reports, the reason delivery must wait or None).
        In enforce mode only MX hosts the policy names stay, and their
        certificates must verify; testing mode only reports.
        """
        policy, error = yield self.mtasts.policy(domain)
        sts = {"mode": policy.mode if policy is not None else "none", "error": error}
        if policy is not None:
            sts["id"] = policy.id
        if policy is None or policy.mode != "enforce":
            return sts, None
        allowed = [hop for hop in resolution.hops if policy.mx_allowed(hop[0])]
        if not allowed:
            sts["error"] = "no MX host matches the policy"
            return sts, "MTA-STS: no MX host of %s matches its policy" % (domain,)
        resolution.hops = allowed
        return sts, None

    def _settings(self, transport, group, context, overrides=None):
        """
        The delivery settings of an attempt.  Without Try() overrides they
        depend only on the transport and on which condition of the delivery
        file matches, so each such pair is resolved once, not per message.
        """
        delivery_file = self.delivery_file
        layer = _try_overrides(overrides) if overrides else None
        if layer:
            return delivery_settings.resolve(delivery_settings.transport_layer(transport, group), delivery_file,
                                             context, layer)
        choice = delivery_file.choice(context) if delivery_file is not None else -1
        key = (id(transport), id(group), id(delivery_file), choice)
        cached = self._resolved.get(key)
        # The objects are kept with their settings, so their ids are not reused meanwhile.
        if cached is not None and cached[0] is transport and cached[1] is group and cached[2] is delivery_file:
            return cached[3]
        settings = delivery_settings.resolve(delivery_settings.transport_layer(transport, group), delivery_file, context)
        if len(self._resolved) >= 1024:
            self._resolved.clear()
        self._resolved[key] = (transport, group, delivery_file, settings)
        return settings

    def _hook_info(self, job, outcomes=None):
        """What the hooks get: the message, its recipients, their retry count, the attempt."""
        job.info.update(message=job.message, recipients=list(job.recipients), outcomes=outcomes,
                        context=job.context, grant=job.grant)
        return job.info

    def _apply_metadata(self, job, decision):
        if decision.metadata:
            for rcpt in job.recipients:
                rcpt.metadata = dict(rcpt.metadata or {}, **decision.metadata)

    def _post(self, job, outcomes, settings):
        """The post-delivery hook, then L{_after}; a generator run within the attempt's."""
        decision = self.hooks.postdelivery(self._hook_info(job, outcomes))
        if isinstance(decision, defer.Deferred):
            decision = yield decision
        self._apply_metadata(job, decision)
        self._after(job, outcomes, decision, settings)

    def _after(self, job, outcomes, decision, settings):
        """Done, bounce or retry for each recipient of an attempt."""
        if settings is None:
            transport, group = self.config.transport(job.recipients[0].transportid)
            settings = self._settings(transport, group, job.context or self._context(job))
        bounces = []
        delays = []
        gone = []
        for rcpt, outcome in zip(job.recipients, outcomes):
            rcpt.work = None
            action = decision.action
            if action == "default":
                if outcome.delivered:
                    action = "done"
                elif (outcome.permanent or rcpt.retry + 1 >= settings.retry_count
                      or settings.expired(job.message.ts, self.clock.seconds())):
                    action = "bounce"
                else:
                    action = "queue"
            mail_log.delivery(
                rcpt.id, job.message.sender, rcpt.address, _LOGGED.get(action, "QUEUE"), dsn.status_of(outcome)[1],
                rcpt.remotemx, rcpt.remoteip, rcpt.retry,
            )
            if action == "done" or action == "delete":
                gone.append(rcpt)
            elif action == "bounce":
                bounces.append((rcpt, outcome, dsn.FAILED))
                gone.append(rcpt)
            else:
                options = decision.options if decision.action == "queue" else {}
                retry = rcpt.retry + (1 if options.get("increment_retry", True) else 0)
                delay = options.get("delay")
                if delay is None:
                    delay = settings.retry_delay(max(retry, 1))
                if settings.notify_after(retry) and decision.action == "default":
                    delays.append((rcpt, outcome, dsn.DELAYED))
                if options.get("transportid"):
                    rcpt.transportid = options["transportid"]
                self._requeue(rcpt, job, outcome, float(delay), retry, hold=bool(options.get("hold")))
        if bounces:
            self._report(job.message, bounces)
        if delays:
            self._report(job.message, delays)
        for rcpt in gone:
            self._remove(rcpt)

    def _requeue(self, rcpt, job, outcome, delay, retry=None, hold=False):
        rcpt.work = None
        if retry is not None:
            rcpt.retry = retry
        rcpt.next_retry = self.clock.seconds() + delay
        state = self.index.set_state(rcpt, states.HOLD if hold else states.DEFER)
        self.journal.record(rcpt)
        # It waits now: its bytes are read from the file when it is tried again.
        self.recent.discard(rcpt.message.uuid)
        if state == states.DEFER:
            self._schedule(rcpt)

    def _remove(self, rcpt):
        """Delivered, bounced or deleted: journal it, forget it, and drop the file after the last one."""
        rcpt.work = None
        self.journal.done(rcpt)
        path = rcpt.message.path
        # Entries left in the active FIFO or the defer heap see this and skip it.
        rcpt.next_retry = -1.0
        if self.index.remove(rcpt):
            self.recent.discard(rcpt.message.uuid)
            if path:
                self.unlinker.unlink(path)

    # -- reports (DSN) ------------------------------------------------------------------

    def _report(self, message, items):
        """Queue a DSN to the sender about C{items} [(rcpt, outcome, action)], when one is wanted."""
        if not message.sender:
            return
        statuses = []
        for rcpt, outcome, action in items:
            params = rcpt.params or {}
            if not dsn.wants(params.get("notify"), action):
                continue
            code, diagnostic, remotemx = dsn.status_of(outcome)
            if action == dsn.FAILED and code.startswith("4"):
                code = "5" + code[1:]
            statuses.append(dsn.Status(rcpt.address, action, code, diagnostic, remotemx, params.get("orcpt")))
        if not statuses:
            return
        try:
            original = self.recent.read(message.uuid, message.path).read_message() if message.path else b""
        except (OSError, spool.SpoolError):
            original = b""
        ret = (message.dsn or {}).get("ret")
        envid = (message.dsn or {}).get("envid")
        data = dsn.build(self.config.hostname, message.sender, statuses, original, envid, ret, message.ts,
                         self.clock.seconds())
        transportid = items[0][0].transportid
        _, group = self.config.transport(transportid)
        transportid = (group.get("dsn") or {}).get("transport") or transportid
        return self.inject("", [message.sender], data, transportid)

    def inject(self, sender, recipients, data, transportid, metadata=None, hold=False, options=None):
        """
        Spool and queue a message made here (a DSN, a script's queue()); a
        Deferred of its uuid.  C{options}: more of each recipient's record
        (delay, quotas, jobid, tenantid, priority).
        """
        uuid = str(_uuid.uuid4())
        envelope = {"transaction": uuid, "received": self.clock.seconds(), "sender": sender, "serverid": "",
                    "senderparams": {}, "dsn": {"ret": None, "envid": None}}
        records = [
            dict({"index": n, "recipient": address.lower(), "transportid": transportid, "metadata": metadata or {},
                  "hold": hold, "delay": 0, "params": {}, "dsn": {"notify": None, "orcpt": None}}, **(options or {}))
            for n, address in enumerate(recipients, 1)
        ]
        spooled = spool.SpoolMessage(uuid, envelope, records, message=data)
        d = self.writer.commit([spooled])
        # Counted as running work until queued, so that when_idle() covers it.
        self._running += 1

        def committed(_):
            spooled.message = None
            self.submit(spooled)
            return uuid

        d.addCallback(committed)
        d.addErrback(lambda f: log.failure("could not queue a message to {recipients}", f, recipients=recipients))
        d.addBoth(lambda result: (self._job_done(None), result)[1])
        return d

    # -- operator actions (halonctl queue update / unload) --------------------------------

    def update(self, predicate, action, value=None, freeze=False):
        """
        Apply C{action} ("delete", "bounce", "active", "defer", "hold",
        "transportid", "metadata") to every recipient C{predicate} accepts:
        (affected, unaffected, freezing).  Recipients in a working state are
        unaffected, or with C{freeze} frozen into UPDATE once their work ends.
        """
        matched = [r for r in self.index.recipients() if predicate is None or predicate(r)]
        # A held-back attempt is routed again: its recipients may have changed.
        self._epoch += 1
        affected = unaffected = freezing = 0
        changed = []
        bounces = {}
        gone = []
        now = self.clock.seconds()
        for rcpt in matched:
            if rcpt.state in states.WORKING:
                if freeze:
                    self.index.freeze(rcpt)
                    freezing += 1
                else:
                    unaffected += 1
                continue
            affected += 1
            if action == "delete":
                gone.append(rcpt)
            elif action == "bounce":
                outcome = Outcome(None, {"temporary": False, "message": "bounced by an operator", "type": "plugin"})
                bounces.setdefault(rcpt.message, []).append((rcpt, outcome, dsn.FAILED))
                gone.append(rcpt)
            elif action == "active":
                rcpt.next_retry = 0.0
                self.index.set_state(rcpt, states.ACTIVE)
                self._active.append(rcpt)
                changed.append(rcpt)
            elif action == "defer":
                rcpt.next_retry = now + float(value)
                self.index.set_state(rcpt, states.DEFER)
                heapq.heappush(self._defer, (rcpt.next_retry, id(rcpt), rcpt))
                changed.append(rcpt)
            elif action == "hold":
                self.index.set_state(rcpt, states.HOLD)
                changed.append(rcpt)
            elif action == "transportid":
                rcpt.transportid = value
                changed.append(rcpt)
            elif action == "metadata":
                rcpt.metadata = dict(rcpt.metadata or {}, **value)
                changed.append(rcpt)
            else:
                raise ValueError("unknown action %r" % (action,))
        if changed:
            self.journal.record_many(changed)
        for message, items in bounces.items():
            self._report(message, items)
        for rcpt in gone:
            self._remove(rcpt)
        if action == "defer":
            self._arm_defer()
        if action == "active" or action in ("transportid",):
            self._kick()
        return affected, unaffected, freezing

    def unload(self, predicate, partial=False, freeze=False):
        """
        Take matching messages out of the queue, leaving their files: the
        paths unloaded and how many recipients are freezing.  Without
        C{partial} every recipient of a message must match.  A message with
        a recipient in a working state stays (with C{freeze}, that recipient
        is frozen into UPDATE for a later unload).  Each file unloaded is
        rewritten to hold only the recipients still queued, with their
        state, so another server that loads it continues where this one was.
        """
        paths = []
        freezing = 0
        for message in list(self.index.messages.values()):
            matches = [predicate is None or predicate(r) for r in message.recipients]
            if not (any(matches) if partial else all(matches)):
                continue
            working = [r for r in message.recipients if r.state in states.WORKING]
            if working:
                if freeze:
                    for rcpt in working:
                        self.index.freeze(rcpt)
                    freezing += len(working)
                continue
            _rewrite(message)
            self.recent.discard(message.uuid)
            for rcpt in list(message.recipients):
                rcpt.next_retry = -1.0
                self.index.remove(rcpt)
            paths.append(message.path)
        return paths, freezing

    # -- service ------------------------------------------------------------------------

    def startService(self):
        service.Service.startService(self)
        self._stopping = False
        if not self._loaded:
            self.load()
        self.writer.start()
        if self.resolver is not None and hasattr(self.resolver, "start"):
            self.resolver.start()
        self._arm_defer()
        self._kick()

    @defer.inlineCallbacks
    def stopService(self):
        service.Service.stopService(self)
        self._stopping = True
        for call in (self._pump_call, self._defer_call):
            if call is not None and call.active():
                call.cancel()
        self._pump_call = self._defer_call = None
        self.suspends.stop()
        self.policies.stop()
        self.pool.close_all()
        if self.resolver is not None and hasattr(self.resolver, "stop"):
            self.resolver.stop()
        yield self.writer.stop()
        self.journal.close()
        self.unlinker.flush()


def _ids():
    counter = iter(range(1, 1 << 62))
    return lambda: next(counter)


def _unlink(path):
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _rewrite(message):
    """Rewrite C{message}'s spool file with only its queued recipients and their state (for unload)."""
    spooled = spool.read(message.path)
    data = spooled.read_message()
    by_n = {r["index"]: r for r in spooled.recipients}
    records = []
    for rcpt in message.recipients:
        record = dict(by_n.get(rcpt.n) or {"index": rcpt.n, "recipient": rcpt.address})
        record.update(
            transportid=rcpt.transportid,
            metadata=rcpt.metadata or {},
            hold=rcpt.state in states.FROZEN,
            retry=rcpt.retry,
            delay=max(0.0, rcpt.next_retry - message.ts) if rcpt.state == states.DEFER else 0,
        )
        records.append(record)
    rewritten = spool.SpoolMessage(spooled.uuid, spooled.envelope, records, message=data)
    temporary = message.path + ".unload"
    with open(temporary, "wb") as f:
        f.write(rewritten.to_bytes())
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temporary, spool.FILE_MODE)
    os.replace(temporary, message.path)


def _try_overrides(options):
    layer = {}
    if options.get("tls"):
        tls = options["tls"]
        layer["tls"] = {"mode": tls} if isinstance(tls, str) else dict(tls)
    for key in ("pooling", "timeout", "retry"):
        if options.get(key):
            layer[key] = options[key]
    return layer


def _auth(conf):
    if not conf or not conf.get("username"):
        return None
    return (conf["username"], conf.get("password") or "")


def _mail_params(message):
    params = []
    dsn_params = message.dsn or {}
    if dsn_params.get("ret"):
        params.append("RET=%s" % (dsn_params["ret"],))
    if dsn_params.get("envid"):
        params.append("ENVID=%s" % (dsn_params["envid"],))
    return " ".join(params).encode("utf-8", "surrogateescape")


def _rcpt_params(dsn_params):
    """NOTIFY and ORCPT of a recipient's DSN parameters (L{Recipient.params})."""
    if not dsn_params:
        return b""
    params = []
    if dsn_params.get("notify"):
        params.append("NOTIFY=%s" % (",".join(dsn_params["notify"]),))
    if dsn_params.get("orcpt"):
        params.append("ORCPT=%s" % (dsn_params["orcpt"],))
    return " ".join(params).encode("utf-8", "surrogateescape")
