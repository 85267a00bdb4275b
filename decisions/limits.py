"""Limits of the inline API: the request rate (a token bucket) and the errors for limits broken.

The rate limit protects the engine (Redis, the models, the event loop) from a flood, whoever
sends it: one bucket for the whole server, refilled at ``max_requests_per_s`` and holding at
most ``burst_requests``. A request that finds the bucket empty is answered ``429`` at once, with
``Retry-After``, and costs the server almost nothing. The bucket reads a monotonic clock, which
tests replace.

>>> clock = [0.0]
>>> bucket = TokenBucket(rate_per_s=2.0, burst=2, clock=lambda: clock[0])
>>> [bucket.take() for _ in range(3)]
[0.0, 0.0, 0.5]
>>> clock[0] = 0.5
>>> bucket.take()
0.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from events.errors import VerdictError


class RateLimitedError(VerdictError):
    """More requests than the configured rate: come back after ``retry_after_s``."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> str:
        """The ``Retry-After`` header: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after_s": round(self.retry_after_s, 3)}


class RequestTimeoutError(VerdictError):
    """A client that did not send its request body within the configured time."""

    http_status = 408
    code = "request_timeout"


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up; one token per request.

    Parameters
    ----------
    rate_per_s
        Tokens added a second (the steady request rate allowed); must be positive.
    burst
        Tokens the bucket holds at most (requests allowed at once after a quiet spell).
    clock
        Monotonic seconds (``time.monotonic`` unless a test passes its own).
    """

    __slots__ = ("_burst", "_clock", "_rate", "_stamp", "_tokens")

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate_per_s > 0 and burst >= 1")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def take(self) -> float:
        """Take one token: ``0.0`` when granted, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
