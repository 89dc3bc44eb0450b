"""How much work one agent action may make the world do.

The world's limits (:data:`~subliminal_gym.core.world.MAX_NODES` nodes, 32 MiB) bound its size, but
not what one action does with it: on a full tree a single ``setfacl -R`` took 0.3 s, and a command
line may repeat it hundreds of times. The envs meter every action: the world's operations spend
*work units* (one per node looked up, listed, walked, created or removed, plus one per 64 KiB of
data read or written) from a :class:`WorkMeter`, and an action that spends :data:`MAX_ACTION_WORK`
is stopped with :class:`WorkLimitExceeded`, which the interfaces turn into a message for the
agent. Units are counted, never timed, so a stopped action stops at the same point on every machine
and episodes stay deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["MAX_ACTION_WORK", "UNMETERED", "WorkLimitExceeded", "WorkMeter", "metered"]

#: Work units one action (a tool call, a command line) may spend: a unit costs about 2 us on the 2-core
#: dev machine, so at most about 30 ms of world operations, and over 70 times what any scripted
#: expert's action spends (206 units at most over 330 episodes of each env).
MAX_ACTION_WORK = 15_000

#: Units per byte of file data read or written (one per 64 KiB).
BYTES_PER_UNIT = 65_536


class WorkLimitExceeded(Exception):
    """An action spent its work budget; ``str(error)`` is the message shown to the agent."""


class WorkMeter:
    """Work units an action may still spend.

    Args:
        limit: units available (``math.inf``: unmetered).
    """

    def __init__(self, limit: float = MAX_ACTION_WORK) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, units: int) -> None:
        """Take ``units``.

        Raises:
            WorkLimitExceeded: the budget is spent (it stays spent: every later call raises too).
        """
        self.left -= units
        if self.left < 0:
            raise WorkLimitExceeded(
                f"stopped: this action did too much work for the sandbox (over {self.limit:,.0f} file-system "
                "operations; work on fewer files at a time)"
            )


#: The meter of a world no action is running on (builders, checkers, tests): never runs out.
UNMETERED = WorkMeter(math.inf)


@contextmanager
def metered(world: _Metered, limit: float = MAX_ACTION_WORK) -> Iterator[WorkMeter]:
    """Give ``world`` a fresh meter of ``limit`` units for the duration of one action."""
    meter = WorkMeter(limit)
    previous, world.meter = world.meter, meter
    try:
        yield meter
    finally:
        world.meter = previous


class _Metered(Protocol):
    meter: WorkMeter
