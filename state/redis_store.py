"""The feature store in Redis: one script per entity, one round trip per transaction.

A transaction is one pipelined write (state/redis_commands.py has the keys): ``EVALSHA``
customer, terminal and device (each script idempotent on its own dedupe record) and
``GET`` then ``SET {x:<tx_id>} NX``, which also hands back the first delivery's own features
when the transaction is a repeat. A batch is all of that for every transaction, in order, on one
connection: written in chunks without waiting, so that Python packs the next chunk and reads
the previous one's answers while Redis works (two processes, two cores, one pipeline).

The scripts are sent by SHA-1; when Redis answers ``NOSCRIPT`` (first use, a restart, a
``SCRIPT FLUSH``) they are loaded and the unanswered transactions sent again, which is safe
because every command is idempotent. Every Redis failure is one
:class:`~state.store.FeatureStoreUnavailable`, within the configured timeouts. Labels and
snapshots are built and read by :mod:`state.redis_labels`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson
import redis
from redis.exceptions import NoScriptError, ResponseError

from events.metrics import Metrics
from events.records import CustomerProfile, Label, Transaction
from state.features import (
    CUSTOMER_PART,
    DEVICE_PART,
    EMPTY_DEVICE,
    EMPTY_TERMINAL,
    TERMINAL_PART,
    CustomerPart,
    DevicePart,
    TerminalPart,
    live_view,
    vector,
)
from state.inputs import Calendar, PreparedTx, prepare
from state.redis_commands import (
    TAGS,
    Commands,
    bucket_key,
    entity_key,
    index_key,
    pack,
)
from state.redis_labels import IndexMemory, LabelScripts, record_commands, snapshot_from
from state.redis_wire import (
    Conversation,
    SentFeatures,
    Steps,
    chunks_only,
    client_from_settings,
    conversation,
    error_kind,
    round_trip,
    unavailable,
)
from state.scripts import load_scripts
from state.settings import RedisSettings, StateSettings
from state.store import (
    DUPLICATE,
    LATE,
    TOO_LATE,
    Entity,
    FeatureStoreUnavailable,
)
from state.windows import Retention

if TYPE_CHECKING:
    from state.redis_steps import StepPipeline

_PARTS: Final = {"customer": CUSTOMER_PART, "terminal": TERMINAL_PART, "device": DEVICE_PART}
A = TypeVar("A")
R = TypeVar("R")
#: Transactions written per chunk of a batch before the previous chunk's answers are read.
CHUNK: Final = 100

__all__ = ["RedisFeatureStore", "SentFeatures", "bucket_key", "entity_key", "index_key"]


class _ScriptsMissingError(Exception):
    """Redis answered NOSCRIPT (restarted, or its scripts flushed)."""


class RedisFeatureStore:
    """A :class:`~state.store.FeatureStore` on Redis.

    Parameters
    ----------
    redis_settings
        URL and timeouts; the client never retries, so a dead Redis costs one timeout.
    settings
        Retention, margin, calendar (defaults when omitted).
    metrics
        Latency, errors, late and duplicate transactions, ignored labels (optional).
    client
        A client to use instead of building one from ``redis_settings``.

    A store that is the only writer of its database (a backtest's feature stage) may set
    :attr:`indexes` to a bound: it then remembers the index of the transactions it decided, as
    Redis holds it, and labels of those skip the round trip that reads it.
    """

    name: Final = "redis"

    def __init__(
        self,
        redis_settings: RedisSettings,
        settings: StateSettings | None = None,
        metrics: Metrics | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        self.settings = settings or StateSettings()
        self.metrics = metrics
        self.client = client if client is not None else client_from_settings(redis_settings)
        self.retention = Retention.from_settings(self.settings)
        self.calendar = Calendar(self.settings)
        self.scripts = load_scripts(self.settings)
        shas = {name: script.sha for name, script in self.scripts.items()}
        self.commands = Commands(shas, self.retention.snapshot_s)
        self._memory = IndexMemory()
        self.labels = LabelScripts(
            self.commands,
            self.settings.label_horizon_s,
            self._memory,
            lambda commands: self._run(commands),  # noqa: PLW0108 (late-bound, as the store's)
            self._ignored,
        )

    @property
    def indexes(self) -> int:
        """How many transactions' indexes to remember (0: none, read from Redis each time)."""
        return self._memory.most

    @indexes.setter
    def indexes(self, most: int) -> None:
        self._memory.most = most

    def pipeline(self) -> StepPipeline:
        """Steps pipelined on one connection (:mod:`state.redis_steps`): only for the one
        writer of the database, which asks nothing else of Redis without draining it."""
        from state.redis_steps import StepPipeline

        return StepPipeline(self)

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        """Record one transaction; return its features (one round trip)."""
        started = time.perf_counter()
        out = self._guarded(self._update_all, [prepare(tx, self.calendar)])
        self._observe("update", started)
        return out[0]

    def update_and_get_many(self, txs: Sequence[Transaction]) -> list[dict[str, float]]:
        """Record a batch in order, in one pipeline; return each one's features."""
        return [features for chunk in self.update_and_get_chunks(txs) for features in chunk]

    def update_and_get_chunks(self, txs: Sequence[Transaction]) -> Iterator[list[dict[str, float]]]:
        """:meth:`update_and_get_many` a chunk at a time, in order, for a caller that works on
        each chunk while Redis runs the next one (the next chunk is sent before one is
        yielded). Raises :class:`~state.store.FeatureStoreUnavailable` mid-way if Redis goes;
        the chunks already yielded are recorded (a retry of the batch is idempotent)."""
        yield from chunks_only(self._steps(txs, announce=False))

    def send_chunks(self, txs: Sequence[Transaction]) -> SentFeatures:
        """Write the first chunk of ``txs`` now and return at once: the caller waits for
        :meth:`SentFeatures.fileno` to be readable (an event loop serving other requests
        meanwhile), then iterates for the chunks, as :meth:`update_and_get_chunks`.

        Raises
        ------
        FeatureStoreUnavailable
            When the first chunk cannot be sent.
        """
        timeout_s = float(self.client.connection_pool.connection_kwargs.get("socket_timeout") or 0)
        steps = self._steps(txs, announce=True)
        first = next(steps, None)
        if isinstance(first, int):
            return SentFeatures(steps, first, timeout_s)
        rest = steps if first is None else itertools.chain([first], steps)  # read already
        return SentFeatures(rest, None, timeout_s)

    def _steps(self, txs: Sequence[Transaction], *, announce: bool) -> Steps:
        """The chunks of :meth:`_update`, timed and their failure counted."""
        if not txs:
            return
        started = time.perf_counter()
        prepared = [prepare(tx, self.calendar) for tx in txs]
        try:
            yield from self._update(prepared, announce=announce)
        except FeatureStoreUnavailable as error:
            self._count_error(error)
            raise
        self._observe("update_many", started)

    def get(self, entity: Entity, entity_id: str) -> dict[str, float]:
        """The live view of one entity (its script's read-only operation)."""
        if entity not in TAGS:
            raise ValueError(f"unknown entity {entity!r}: customer, terminal or device")
        started = time.perf_counter()
        reply = self._run([self.commands.script(entity, entity_id, 0, [b"v"])])[0]
        self._observe("get", started)
        return live_view(entity, _PARTS[entity].unpack(reply[1]))

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember home country and consent; an older profile (by ``ts``) is ignored."""
        ts = math.floor(profile.ts) if profile.ts is not None else 0
        consent = b"1" if profile.marketing_consent else b"0"
        args = [b"p", profile.home_country.encode(), consent, b"%d" % ts]
        self._run([self.commands.script("customer", profile.customer_id, 0, args)])

    def learn_label(self, label: Label) -> dict[str, float] | None:
        """Apply a label (two round trips: the index, then the entities); the snapshot if news."""
        return next(self.learn_labels([label]))

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        """Apply labels in order, in two round trips for each ``CHUNK`` of them (their indexes,
        unless all are remembered, then every entity's script, which Redis runs in the order
        sent); each one's snapshot if news. A chunk is sent only when the previous one's
        answers have been taken, so a Redis that fails mid-way leaves at most one chunk of
        labels in doubt."""
        for start in range(0, len(labels), CHUNK):
            yield from self._learn_chunk(labels[start : start + CHUNK])

    def _learn_chunk(self, labels: Sequence[Label]) -> list[dict[str, float] | None]:
        started = time.perf_counter()
        commands, plan = self.labels.commands_for(labels)
        out = self.labels.outcomes(labels, plan, self._run(commands) if commands else [])
        self._observe("label", started)
        return out

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        """The features first returned for ``tx_id`` (two round trips), or ``None``."""
        index = self._index(tx_id)
        if index is None:
            return None
        records = self._run(record_commands(tx_id, index))
        if any(record is None for record in records):
            return None
        return snapshot_from(index, records)

    def _index(self, tx_id: str) -> list[Any] | None:
        raw = self._run([pack(b"GET", index_key(tx_id))])[0]
        return None if raw is None else orjson.loads(raw)

    def _update(self, prepared: list[PreparedTx], *, announce: bool = False) -> Steps:
        """Stream the batch in chunks, one sent ahead of the one answered; on NOSCRIPT load
        the scripts and send again from the first chunk not answered. With ``announce``, the
        connection's file descriptor is yielded once, as soon as the first chunk is sent."""
        done, reloaded_at = 0, -1
        while done < len(prepared):
            try:
                with conversation(self.client) as talk:
                    pending: deque[tuple[list[PreparedTx], int]] = deque()
                    for start in range(done, len(prepared), CHUNK):
                        chunk = prepared[start : start + CHUNK]
                        packed = [self.commands.update(p) for p in chunk]
                        talk.send(b"".join(payload for payload, _ in packed))
                        pending.append((chunk, sum(count for _, count in packed)))
                        if announce and (fileno := talk.fileno()) is not None:
                            announce = False
                            yield fileno
                        if len(pending) > 1:
                            answered = self._answers(talk, *pending.popleft())
                            done += len(answered)
                            yield answered
                    while pending:
                        answered = self._answers(talk, *pending.popleft())
                        done += len(answered)
                        yield answered
            except _ScriptsMissingError:
                if reloaded_at == done:  # loaded, and missing again at once: give up
                    raise FeatureStoreUnavailable("Redis keeps losing the scripts") from None
                reloaded_at = done
                self.load_scripts()

    def _update_all(self, prepared: list[PreparedTx]) -> list[dict[str, float]]:
        return [f for chunk in chunks_only(self._update(prepared)) for f in chunk]

    def _answers(
        self, talk: Conversation, chunk: list[PreparedTx], count: int
    ) -> list[dict[str, float]]:
        return self.features_of(chunk, talk.read(count))

    def features_of(self, chunk: list[PreparedTx], replies: list[Any]) -> list[dict[str, float]]:
        """The features of ``chunk`` from the replies to its update commands."""
        errors = [reply for reply in replies if isinstance(reply, ResponseError)]
        if any(isinstance(error, NoScriptError) for error in errors):
            raise _ScriptsMissingError
        if errors:
            raise unavailable(errors[0])
        it = iter(replies)
        return [self._answer(p, it) for p in chunk]

    def _answer(self, p: PreparedTx, replies: Any) -> dict[str, float]:
        status, raw = next(replies)
        customer: CustomerPart = CUSTOMER_PART.unpack(raw)
        self._count_status("customer", status)
        terminal: TerminalPart = EMPTY_TERMINAL
        if p.terminal_id is not None:
            terminal_status, raw = next(replies)
            terminal = TERMINAL_PART.unpack(raw)
            self._count_status("terminal", terminal_status)
        device: DevicePart = EMPTY_DEVICE
        if p.device_id is not None:
            device_status, raw = next(replies)
            device = DEVICE_PART.unpack(raw)
            self._count_status("device", device_status)
        first = next(replies)  # the index as the first delivery left it (GET)
        next(replies)  # SET NX: OK the first time, nil after
        tx_features = p.features
        if status == DUPLICATE:
            if self.metrics is not None:
                self.metrics.duplicate_events.inc()
            if first is not None:
                tx_features = orjson.loads(first)[4]
        memory = self._memory
        if memory.most and p.tx_id not in memory:  # as Redis holds it: now, or the first's
            written = [p.customer_id, p.terminal_id, p.device_id, p.ts, p.features]
            memory.add(p.tx_id, written if first is None else orjson.loads(first))
        return vector(tx_features, customer, terminal, device)

    def _count_status(self, entity: str, status: int) -> None:
        if self.metrics is None or not status:
            return
        if status == TOO_LATE:
            self.metrics.late_events.labels(entity=entity).inc()
        elif status == LATE:
            self.metrics.out_of_order_events.labels(entity=entity).inc()

    def _run(self, commands: list[bytes]) -> list[Any]:
        """One round trip of a few commands (views, labels, snapshots, profiles)."""

        def run(commands: list[bytes]) -> list[Any]:
            replies = round_trip(self.client, commands)
            if any(isinstance(reply, NoScriptError) for reply in replies):
                self.load_scripts()
                replies = round_trip(self.client, commands)  # every script call is idempotent
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise unavailable(reply)
            return replies

        return self._guarded(run, commands)

    def _guarded(self, call: Callable[[A], R], arg: A) -> R:
        """``call(arg)``, counting a failure in the errors metric before it propagates."""
        try:
            return call(arg)
        except FeatureStoreUnavailable as error:
            self._count_error(error)
            raise

    def _count_error(self, error: FeatureStoreUnavailable) -> None:
        if self.metrics is not None:
            cause = error.__cause__ if error.__cause__ is not None else error
            kind = error_kind(cause)
            self.metrics.feature_store_errors.labels(store=self.name, kind=kind).inc()

    def load_scripts(self) -> None:
        """Load the entity scripts into Redis (a store does it by itself on NOSCRIPT)."""
        loads = [pack(b"SCRIPT", b"LOAD", s.source.encode()) for s in self.scripts.values()]
        for reply in round_trip(self.client, loads):
            if isinstance(reply, ResponseError):
                raise unavailable(reply)

    def _ignored(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.labels_ignored.labels(reason=reason).inc()

    def _observe(self, op: str, started: float) -> None:
        if self.metrics is not None:
            elapsed = time.perf_counter() - started
            self.metrics.feature_store_latency.labels(store=self.name, op=op).observe(elapsed)
