"""
The states a queued recipient can be in, as halonctl names them.

    queue:    ACTIVE (due, waiting for pickup)   DEFER (waiting for its next retry)
    working:  SENDING (in a delivery attempt)     UNKNOWN (in pre-delivery or DNS)
    freeze:   HOLD (never picked up)              UPDATE (frozen for an operator's update)

Working states belong to the delivery machinery: an operator's update cannot
touch a recipient in them, it can only ask for it to be frozen into UPDATE
once the work is over (see L{halon.queue.index.QueueIndex.freeze}).
States are small integers so that a million records stay small and grouping
by state is a tuple of ints.
"""

ACTIVE, DEFER, HOLD, UPDATE, SENDING, UNKNOWN = range(6)

NAMES = ("ACTIVE", "DEFER", "HOLD", "UPDATE", "SENDING", "UNKNOWN")
BY_NAME = {name: number for number, name in enumerate(NAMES)}

QUEUED = frozenset((ACTIVE, DEFER))
WORKING = frozenset((SENDING, UNKNOWN))
FROZEN = frozenset((HOLD, UPDATE))


def parse(name):
    """The state called C{name} (any case), or ValueError naming the choices."""
    try:
        return BY_NAME[name.strip().upper()]
    except KeyError:
        raise ValueError("unknown state %r (one of %s)" % (name, ", ".join(NAMES)))
