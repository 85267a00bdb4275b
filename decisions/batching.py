"""Inline requests that arrive together are decided together.

The decision engine is synchronous: deciding one transaction blocks the event loop for its
feature-store and list round trips. Under concurrent load, :class:`DecisionBatcher` gathers
the requests that became ready in the same turn of the loop (and those that arrived while the
previous batch was being decided) and decides them with one
:meth:`~decisions.engine.DecisionEngine.decide_many`: one Redis round trip and one model call
for all of them, in arrival order. A request that finds nothing to wait for is decided on the
next turn of the loop, so an idle server adds no latency.

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
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class BatchDecider(Protocol[R_co]):
    """What the batcher needs of the engine."""

    def decide_many(self, txs: Sequence[Any]) -> Sequence[R_co]:
        """One result per transaction, in order."""
        ...


class DecisionBatcher(Generic[R]):
    """Coalesces concurrent :meth:`decide` calls into batches of at most ``max_batch``.

    Parameters
    ----------
    engine
        Decides a batch in order (``DecisionEngine``).
    max_batch
        The largest batch; more waiting requests go into the next one.
    """

    def __init__(self, engine: BatchDecider[R], max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._engine = engine
        self.max_batch = max_batch
        self._waiting: list[tuple[Any, asyncio.Future[R]]] = []
        self._scheduled = False
        self.batches = 0
        self.decided = 0

    async def decide(self, tx: Any) -> R:
        """The result for ``tx``, decided with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((tx, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run)
        return await future

    def _run(self) -> None:
        batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        if self._waiting:  # more than one batch's worth: the rest on the next turn
            asyncio.get_running_loop().call_soon(self._run)
        else:
            self._scheduled = False
        live = [(tx, future) for tx, future in batch if not future.cancelled()]
        if not live:
            return
        try:
            results = self._engine.decide_many([tx for tx, _ in live])
        except Exception as error:  # every caller gets the error, as a lone decide would
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.decided += len(live)
        for (_, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)
