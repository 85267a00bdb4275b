"""Inline requests that arrive together are decided together, and the loop never waits on Redis.

:class:`DecisionBatcher` gathers the requests that became ready in the same turn of the loop
(and those that arrived while the previous batch was in flight) and decides them with one
batch of the engine: one Redis round trip and one model call for all of them, in arrival
order. A request that finds nothing to wait for is decided on the next turn of the loop, so an
idle server adds no latency.

A batch is decided in two steps when the engine can (``start_many``, see
:mod:`decisions.inflight`): its requests are sent to Redis, the loop serves other requests
until the answer's socket is readable, then the batch is finished. One batch is in flight at
a time, so a customer's transactions still reach the feature store in arrival order.

>>> import asyncio
>>> class Engine:
...     def decide_many(self, txs):
...         return [f"decided {tx} with {len(txs) - 1} others" for tx in txs]
>>> async def three():
...     batcher = DecisionBatcher(Engine())
...     return await asyncio.gather(*(batcher.decide(tx) for tx in ("a", "b", "c")))
>>> asyncio.run(three())
['decided a with 2 others', 'decided b with 2 others', 'decided c with 2 others']
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

#: The smallest batch decided in two steps; a smaller one blocks the loop for its round trip
#: (about 0.1 ms of Redis for one transaction: less than what the loop would start meanwhile,
#: which the batch would then wait for).
OVERLAP_FROM: Final = 8
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class BatchDecider(Protocol[R_co]):
    """What the batcher needs of the engine (``start_many`` too, when it has it)."""

    def decide_many(self, txs: Sequence[Any]) -> Sequence[R_co]:
        """One result per transaction, in order."""
        ...


class Flight(Protocol[R_co]):
    """A batch sent, not yet read (:class:`~decisions.inflight.InFlight`)."""

    timeout_s: float

    def fileno(self) -> int | None:
        """Readable when the answer is in; ``None``: nothing to wait for."""
        ...

    def finish(self) -> Sequence[R_co]:
        """One result per transaction, in order."""
        ...

    def cancel(self) -> None:
        """Give up on the batch."""
        ...


class DecisionBatcher(Generic[R]):
    """Coalesces concurrent :meth:`decide` calls into batches of at most ``max_batch``.

    Parameters
    ----------
    engine
        Decides a batch in order (``DecisionEngine``): in two steps with ``start_many``, else
        at once with ``decide_many``.
    max_batch
        The largest batch; more waiting requests go into the next one.
    after
        Told of each batch's results before its callers are answered (the feedback); what it
        raises is logged, never passed to the callers.
    """

    def __init__(
        self,
        engine: BatchDecider[R],
        max_batch: int = 64,
        after: Callable[[Sequence[R]], None] | None = None,
        overlap_from: int = OVERLAP_FROM,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._engine = engine
        self._start: Callable[[Sequence[Any]], Flight[R]] | None = getattr(
            engine, "start_many", None
        )
        self.max_batch = max_batch
        self.overlap_from = overlap_from
        self._after = after
        self._waiting: list[tuple[Any, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.decided = 0

    async def decide(self, tx: Any) -> R:
        """The result for ``tx``, decided with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((tx, future))
        if self._runner is None:
            self._runner = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Decide what waits, a batch at a time, until nothing does."""
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                live = [(tx, future) for tx, future in batch if not future.cancelled()]
                if live:
                    await self._decide_batch(live)
        finally:
            self._runner = None

    async def _decide_batch(self, live: list[tuple[Any, asyncio.Future[R]]]) -> None:
        txs = [tx for tx, _ in live]
        try:
            if self._start is None or len(txs) < self.overlap_from:
                results = self._engine.decide_many(txs)
            else:
                results = await self._fly(self._start(txs))
        except Exception as error:  # every caller gets the error, as a lone decide would
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.decided += len(live)
        if self._after is not None:
            try:
                self._after(results)
            except Exception:
                log.exception(
                    "%d inline decisions answered; what follows them failed", len(results)
                )
        for (_, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _fly(self, flight: Flight[R]) -> Sequence[R]:
        """Wait (without blocking the loop) for the batch's answer, then finish it."""
        fileno = flight.fileno()
        if fileno is None:
            return flight.finish()
        try:
            await _readable(fileno, flight.timeout_s)
        except BaseException:  # cancelled (shutting down): its connections are dropped
            flight.cancel()
            raise
        return flight.finish()  # after a timeout, the read itself times out


async def _readable(fileno: int, timeout_s: float) -> None:
    """Until ``fileno`` is readable, or ``timeout_s`` has passed (0: no limit)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fileno, wake)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s or None):
                await ready
    finally:
        loop.remove_reader(fileno)
