"""A circuit breaker: a dependency that failed is not called again until it answers a probe.

The decision engine is synchronous and runs on the event loop it shares with the API. A Redis
that is shutting down, restarting or loading its data set does not refuse connections at once:
each call waits for its timeout, and every request queued behind it waits too (one batch paid
three timeouts, about a second, in the chaos benchmark). Once a call fails, the breaker opens:
the engine decides without that dependency at once (degraded, said in the reasons), and a
thread in the background probes it (``PING``) until it answers; then the breaker closes and
normal decisions resume by themselves. The event loop never waits on a dead dependency after
the first failure, and logs say "down" and "back" once each instead of once per request.

>>> import time
>>> calls = []
>>> breaker = CircuitBreaker("redis", probe=lambda: calls.append("ping"), interval_s=0.01)
>>> breaker.is_open
False
>>> breaker.trip(ConnectionError("refused"))
>>> breaker.is_open  # until the probe answers
True
>>> breaker.wait_closed(timeout_s=2.0), breaker.is_open, calls[:1]
(True, False, ['ping'])
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Open after a failure, closed again when ``probe`` succeeds (probed in a thread).

    Parameters
    ----------
    name
        The dependency, for logs and metric labels (``redis``).
    probe
        Returns when the dependency answers, raises when it does not (``client.ping``). It
        runs in the breaker's thread, never on the caller's.
    interval_s
        Time between probes while open.
    trips
        Counts the times the breaker opened (``verdict_dependency_trips_total``).
    open_gauge
        1 while open, 0 while closed (``verdict_dependency_circuit_open``).
    """

    def __init__(
        self,
        name: str,
        probe: Callable[[], object],
        *,
        interval_s: float = 0.2,
        trips: Counter | None = None,
        open_gauge: Gauge | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        self.name = name
        self._probe = probe
        self._interval_s = interval_s
        self._trips = trips.labels(dependency=name) if trips is not None else None
        self._gauge = open_gauge.labels(dependency=name) if open_gauge is not None else None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._closed.set()
        self.opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        """Whether calls to the dependency are skipped now."""
        return not self._closed.is_set()

    def trip(self, error: BaseException) -> None:
        """A call failed: open (once) and start probing in the background."""
        with self._lock:
            if not self._closed.is_set():
                return
            self._closed.clear()
            self.opened_at = time.monotonic()
        log.warning("%s is down (%s): deciding without it until it answers again", self.name, error)
        if self._trips is not None:
            self._trips.inc()
        if self._gauge is not None:
            self._gauge.set(1)
        threading.Thread(
            target=self._probe_until_back, name=f"probe-{self.name}", daemon=True
        ).start()

    def wait_closed(self, timeout_s: float) -> bool:
        """Block until the breaker is closed (tests and shutdown); whether it is."""
        return self._closed.wait(timeout_s)

    def _probe_until_back(self) -> None:
        while True:
            time.sleep(self._interval_s)
            try:
                self._probe()
            except Exception:  # still down (any failure of the probe means the same)
                continue
            break
        down_s = time.monotonic() - (self.opened_at or time.monotonic())
        with self._lock:
            self._closed.set()
            self.opened_at = None
        if self._gauge is not None:
            self._gauge.set(0)
        log.warning("%s answers again after %.1f s: normal decisions resume", self.name, down_s)
