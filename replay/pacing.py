"""Event time to wall time: publish at the recorded pace times a factor, or as fast as possible.

>>> pacer = Pacer(speed=10.0, now=lambda: 100.0)
>>> pacer.wait_for(1_000.0)  # the first event anchors the clock
0.0
>>> pacer.wait_for(1_050.0)  # 50 s of event time at 10x is 5 s of wall time
5.0
>>> Pacer(speed=None).wait_for(5e9)
0.0
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """How long to wait before publishing an event of time ``ts``.

    Parameters
    ----------
    speed
        Event-time seconds per wall second (``10`` replays a day in 2.4 hours); ``None`` means
        as fast as possible.
    now
        The wall clock (monotonic seconds); injectable for tests.
    """

    def __init__(self, speed: float | None, now: Callable[[], float] = time.monotonic) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.speed = speed
        self._now = now
        self._anchor: tuple[float, float] | None = None

    def wait_for(self, ts: float) -> float:
        """Seconds to sleep before the event at ``ts`` is due (0 when due or late)."""
        if self.speed is None:
            return 0.0
        if self._anchor is None:
            self._anchor = (ts, self._now())
            return 0.0
        first_ts, started = self._anchor
        due = started + (ts - first_ts) / self.speed
        return max(0.0, due - self._now())
