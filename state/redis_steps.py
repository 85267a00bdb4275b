"""Steps on one Redis connection, each sent before the answers to the one before are read.

A backtest's feature stage asks the store for one step after another: the features of a batch
of transactions, then the snapshots of some labels, then the next batch. Asked one at a time,
Redis waits while the stage reads an answer and prepares the next step, and the stage waits
while Redis runs the step: on the handbook's stream the stage spent three quarters of its time
waiting for replies while Redis was busy less than two thirds of the time. In a
:class:`StepPipeline` the stage sends step ``n + 1`` before it reads the answers to step ``n``,
so Redis has the next step queued when it finishes one. One connection runs its commands in
the order they were sent, so the steps apply in order, as if each had waited for the one
before, and the answers are the same.

A step whose commands depend on an earlier step's answers (a label of a transaction whose
index is not remembered yet, see :attr:`~state.redis_store.RedisFeatureStore.indexes`) first
reads every answer outstanding, and so must anything else asked of the store
(:meth:`StepPipeline.drain`), since that goes on another connection.

Only the one writer of a database may do this: a backtest's stage, which starts from an empty
one. A Redis that fails mid-way fails the run (:class:`~state.store.FeatureStoreUnavailable`):
a backtest is run again, not resumed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import redis
from redis.exceptions import NoScriptError, ResponseError

from events.records import Label, Transaction
from state.inputs import prepare
from state.redis_wire import Conversation, unavailable
from state.store import FeatureStoreUnavailable

if TYPE_CHECKING:
    from state.redis_store import RedisFeatureStore

T = TypeVar("T")


class SentStep(Generic[T]):
    """A step's commands, sent; :meth:`result` gives its answers (reading first those of the
    steps sent before it)."""

    __slots__ = ("_count", "_parse", "_pipeline", "_result")

    def __init__(self, pipeline: StepPipeline, count: int, parse: Callable[[list[Any]], T]) -> None:
        self._pipeline = pipeline
        self._count = count
        self._parse = parse
        self._result: tuple[T] | None = None

    def result(self) -> T:
        """The step's answers (read once, kept)."""
        while self._result is None:
            self._pipeline.read_next()
        return self._result[0]

    def take(self, replies: list[Any]) -> None:
        """Parse this step's replies (the pipeline reads them, in order)."""
        self._result = (self._parse(replies),)


class StepPipeline:
    """The store's steps on one connection of its pool, pipelined; :meth:`close` it.

    Parameters
    ----------
    store
        The Redis feature store whose commands, scripts and replies the steps use.
    """

    def __init__(self, store: RedisFeatureStore) -> None:
        self._store = store
        self._pool = store.client.connection_pool
        try:
            store.load_scripts()  # a reply of NOSCRIPT in the pipeline would fail the run
            self._connection: Any = self._pool.get_connection()
        except (redis.RedisError, OSError) as error:
            raise unavailable(error) from error
        self._talk = Conversation(self._connection)
        self._unread: deque[SentStep[Any]] = deque()

    def send_transactions(self, txs: Sequence[Transaction]) -> SentStep[list[dict[str, float]]]:
        """Send a batch's updates; its features, in order, when read."""
        store = self._store
        prepared = [prepare(tx, store.calendar) for tx in txs]
        packed = [store.commands.update(p) for p in prepared]
        return self._send(
            [payload for payload, _ in packed],
            sum(count for _, count in packed),
            lambda replies: store.features_of(prepared, replies),
        )

    def send_labels(self, labels: Sequence[Label]) -> SentStep[list[dict[str, float] | None]]:
        """Send the scripts that apply ``labels`` (after reading everything outstanding when
        an index must be read first); each label's snapshot if news, when read."""
        scripts = self._store.labels
        if not scripts.remembers(labels):
            self.drain()  # its transaction may be in a step not read yet
        commands, plan = scripts.commands_for(labels)
        return self._send(
            commands, len(commands), lambda replies: scripts.outcomes(labels, plan, replies)
        )

    def drain(self) -> None:
        """Read every answer outstanding (before asking the store anything else)."""
        while self._unread:
            self.read_next()

    def read_next(self) -> None:
        """Read the answers to the oldest step not read yet."""
        if not self._unread:
            raise FeatureStoreUnavailable("the connection failed before these answers came")
        step = self._unread.popleft()
        try:
            replies = self._talk.read(step._count)
        except (redis.RedisError, OSError) as error:
            self._drop()
            raise unavailable(error) from error
        if any(isinstance(reply, NoScriptError) for reply in replies):
            self._drop()
            raise FeatureStoreUnavailable(
                "Redis lost the scripts mid-run (restarted, or SCRIPT FLUSH): its state with them"
            )
        for reply in replies:
            if isinstance(reply, ResponseError):
                self._drop()
                raise unavailable(reply)
        step.take(replies)

    def close(self) -> None:
        """Read what is outstanding and give the connection back."""
        if self._connection is None:
            return
        try:
            self.drain()
        finally:
            if self._connection is not None:
                self._pool.release(self._connection)
                self._connection = None

    def _send(
        self, commands: list[bytes], count: int, parse: Callable[[list[Any]], T]
    ) -> SentStep[T]:
        step = SentStep(self, count, parse)
        if commands:
            try:
                self._talk.send(b"".join(commands))
            except (redis.RedisError, OSError) as error:
                self._drop()
                raise unavailable(error) from error
            self._unread.append(step)
        else:
            step.take([])
        return step

    def _drop(self) -> None:
        """Give up on the connection (it may hold replies unread)."""
        if self._connection is not None:
            self._connection.disconnect()
            self._pool.release(self._connection)
            self._connection = None
        self._unread.clear()
