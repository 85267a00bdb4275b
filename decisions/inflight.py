"""A batch in flight: sent to the feature store and the lists, its answers not yet read.

:meth:`DecisionEngine.start_many <decisions.engine.DecisionEngine.start_many>` writes a
batch's requests and returns at once; :meth:`InFlight.finish` reads the answers and decides.
Between the two, an event loop waits for :meth:`InFlight.fileno` to become readable and serves
other requests meanwhile, instead of blocking on the Redis round trip (the inline API does,
through :mod:`decisions.batching`).

>>> flight = InFlight(lambda: ["decided"])
>>> flight.fileno() is None, flight.finish()
(True, ['decided'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from decisions.engine import DecisionResult


class SentChunks(Protocol):
    """A batch's features sent to the store, not yet read (``RedisFeatureStore.send_chunks``)."""

    timeout_s: float

    def fileno(self) -> int | None:
        """Readable once the first answer is in; ``None``: nothing to wait for."""
        ...

    def __iter__(self) -> Iterator[list[dict[str, float]]]:
        """The features, a chunk at a time, in order (blocking until each is in)."""
        ...

    def close(self) -> None:
        """Give up on what is unread."""
        ...


class InFlight:
    """A batch of :meth:`DecisionEngine.start_many`: sent, to be finished exactly once.

    :meth:`finish` gives the decisions (reading blocks until the store answers, unless the
    caller waited for :meth:`fileno` first); :meth:`cancel` gives up on a batch that will not
    be finished, so that its connections are not left half-read.
    """

    __slots__ = ("_finish", "_listed", "_sent")

    def __init__(
        self,
        finish: Callable[[], list[DecisionResult]],
        sent: SentChunks | None = None,
        listed: Callable[[], object] | None = None,
    ) -> None:
        self._finish: Callable[[], list[DecisionResult]] | None = finish
        self._sent = sent
        self._listed = listed

    def fileno(self) -> int | None:
        """Readable once the store's first answer is in; ``None``: nothing to wait for."""
        return None if self._sent is None else self._sent.fileno()

    @property
    def timeout_s(self) -> float:
        """The longest the store takes to answer before it counts as down."""
        return 0.0 if self._sent is None else self._sent.timeout_s

    def finish(self) -> list[DecisionResult]:
        """The decisions, in order; as :meth:`DecisionEngine.decide_many` gives them."""
        finish, self._finish = self._finish, None
        if finish is None:
            raise RuntimeError("this batch was finished or cancelled already")
        return finish()

    def cancel(self) -> None:
        """Give up on the batch (nothing is decided; its transactions may be recorded)."""
        if self._finish is None:
            return
        self._finish = None
        if self._sent is not None:
            self._sent.close()
        if self._listed is not None:
            self._listed()
