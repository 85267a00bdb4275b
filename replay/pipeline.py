"""``verdict backtest`` on two cores: the feature stage in a process of its own.

A backtest's work falls in two halves of about the same cost: reading the files and keeping
the features (rolling windows, fraud counts, the snapshots labels are learnt on), and deciding
and learning (scores, policy, triggers, the models, the output). The :func:`feature_stage`
process reads, merges and schedules the stream (:mod:`replay.schedule`) and does the feature
store's part of every step; the backtest process applies the same steps with an engine whose
feature store replays what the stage's store answered (:mod:`replay.replayed`). The two
halves run at once, and the decisions are those of one process, byte for byte.

The stage also runs the store's side of the label learner: a
:class:`~models.labels.LabelLearner` of the same settings, which teaches no model here, told
of the same labels and decisions, so that every question the backtest's learner asks the store
(the snapshots of labels, early labels taken when their transaction is decided, the chargeback
horizon) was asked in the same order in the stage. A question the stage did not ask is a bug,
and stops the run (:class:`~replay.replayed.PipelineDivergedError`) rather than decide on wrong
numbers.

The models all run in the backtest process, the anomaly model included (it learns from the
features alone, so it could run in the stage, and did until 2026-12-05): with the snapshots of
labels no longer built and sent again, the stage had become the slower half, and the anomaly
model's ~13% of its time is better spent beside the deciding.

On Redis the stage reads up to :data:`LOOKAHEAD` steps ahead and sends them before it reads
the answers to the step in hand (:mod:`state.redis_steps`, one connection, which Redis runs in
order), so Redis has the next steps queued instead of waiting for the stage. A step goes ahead
only when doing the ones before it asks Redis nothing, on another connection, that it could
change: not past a profile, labels naming a transaction the store does not know (the learner
then asks whether it exists yet), or a batch an early label waits for (it is applied then).

Not with simulated analysts (``--feedback``): their verdicts change the features and depend
on the decisions, which the stage would run ahead of. Those backtests run in one process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final, Literal

import redis

from events.errors import DependencyUnavailableError, VerdictError
from events.outputs import restore
from events.records import Label, Transaction
from models.base import Features
from models.labels import LabelLearner, label_learner
from replay.collector import Collector
from replay.replayed import KEEP_MOST, Answer, RecordingStore, ReplayedFeatures
from replay.schedule import (
    BacktestFiles,
    Decide,
    Learn,
    Profile,
    Skip,
    Step,
    events_in,
    read_streams,
    schedule,
)
from replay.sources import BadLine
from verdict.settings import Settings

#: Steps the stage reads ahead of the one it does (and sends ahead, on a pipelined store).
LOOKAHEAD: Final = 8
#: The stage's Redis timeout (s): only a Redis that is gone takes this long.
STAGE_SOCKET_TIMEOUT_S: Final = 30.0

#: A feature store that failed (as the engine reads them; a file that cannot be read is not).
STORE_ERRORS: Final = (DependencyUnavailableError, redis.RedisError, ConnectionError, TimeoutError)
#: Events (transactions and labels) the stage gathers into one message.
SHIP_EVERY: Final = 2000
#: Messages the stage may have made and the backtest not yet read (each ~1 MB).
AHEAD: Final = 32
#: One step as shipped: what it is, its events (transactions and labels as the fields the
#: stage validated, taken as they are by the backtest: a third of the cost of parsing their
#: JSON again, and a fifth of unpickling the records), and the answers its store part gave.
_Shipped = tuple[int, Any, list[Answer]]
_DECIDE, _LEARN, _PROFILE, _SKIP = range(4)
#: One message: shipped steps, or the stage's end or failure.
_Message = list[_Shipped] | tuple[str, str]
_END: Final = ("end", "")


class FeatureStageError(VerdictError):
    """The feature stage failed (its error is in the message) or stopped without a word."""

    code = "feature_stage_failed"


@dataclass(frozen=True)
class StageJob:
    """What the feature stage needs: the settings, the store, the files and the batching."""

    settings: Settings
    state: Literal["redis", "memory"]
    files: BacktestFiles
    span_s: float
    batch_size: int


def feature_stage(job: StageJob, conn: Connection) -> None:
    """The stage process: schedule the stream, do each step's store part, send the steps."""
    try:
        _stage(job, conn)
    except BaseException as error:  # told to the backtest, which raises it
        kind = "dependency" if isinstance(error, STORE_ERRORS) else "error"
        with contextlib.suppress(OSError):  # the backtest stopped first: nobody listens
            conn.send_bytes(pickle.dumps((kind, f"{type(error).__name__}: {error}")))
    finally:
        conn.close()


class _Untaught:
    """The model the stage's label learner teaches: none (the models learn in the backtest)."""

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        """Nothing."""

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        """Nothing."""


def _stage(job: StageJob, conn: Connection) -> None:
    store = RecordingStore(_store(job))
    learner = label_learner(_Untaught(), store, job.settings.models, None)  # type: ignore[arg-type]
    out: list[_Shipped] = []
    size = 0
    sender = _Sender(conn)
    skipped: list[_Shipped] = []  # bad lines read with the next step: told after this one

    def skip(bad: BadLine) -> None:
        skipped.append((_SKIP, bad, []))

    items = read_streams(job.files, job.settings.events.default_currency, skip)
    steps = schedule(items, span_s=job.span_s, batch_size=job.batch_size)
    window: deque[_Read] = deque()  # the step to do now, and those read ahead of it
    with Collector() as collector:  # the automatic one pauses longer as the store grows
        while True:
            while len(window) <= LOOKAHEAD and (step := next(steps, None)) is not None:
                window.append(_Read(step, skipped.copy()))
                skipped.clear()
            if not window:
                break
            _send_ahead(window, store, learner)
            now = window.popleft()
            out += now.skipped
            size += _store_part(now.step, store, learner, out, now.sent)
            collector.tick(events_in(now.step))
            if size >= SHIP_EVERY:
                sender.send(out)
                out, size = [], 0
    store.close()
    out += skipped
    if out:
        sender.send(out)
    sender.send(_END)
    sender.close()


@dataclass
class _Read:
    """A step read from the stream: the bad lines read with it, and what was sent of it."""

    step: Step
    skipped: list[_Shipped]
    sent: Callable[[], list[dict[str, float]]] | None = None
    out: bool = False  # sent to the store
    known: bool = False  # labels whose transactions the store knew when sent


def _send_ahead(window: deque[_Read], store: RecordingStore, learner: LabelLearner) -> None:
    """Send the step to do now, then (pipelined) the steps read after it, in order, as long
    as doing the ones before cannot change their answers."""
    for i, read in enumerate(window):
        if i > 0 and not (store.pipelined and _may_send_after(window[i - 1], learner)):
            return
        if not read.out:
            read.out = True
            if isinstance(read.step, Decide):  # the next steps are read while Redis runs it
                read.sent = store.send_many(read.step.batch)
            elif isinstance(read.step, Learn):
                read.known = store.send_labels(read.step.labels)


def _may_send_after(read: _Read, learner: LabelLearner) -> bool:
    """Whether the steps after ``read`` may go to Redis before it is done: only when doing it
    asks nothing on another connection whose answer a later step could change. A batch does
    not, unless an early label waits for one of its transactions (it is applied then); labels
    do not when all their transactions are known (an unknown one is looked up, and a later
    step may decide it); a profile goes on another connection."""
    if isinstance(read.step, Decide):
        return not learner.waits_for(tx.tx_id for tx in read.step.batch)
    if isinstance(read.step, Learn):
        return read.known
    return False


def _store_part(
    step: Step,
    store: RecordingStore,
    learner: LabelLearner,
    out: list[_Shipped],
    sent: Callable[[], list[dict[str, float]]] | None,
) -> int:
    """Do the store's part of ``step`` and add it to ``out`` with its answers (``sent``: a
    Decide step's features, asked for by :meth:`RecordingStore.send_many` before the next step
    was read); the transactions and labels it held."""
    if isinstance(step, Decide):
        assert sent is not None, "a batch's features are asked for before the next step is read"
        sent()  # recorded with the step's answers
        for tx in step.batch:  # as EngineFeedback.on_decisions tells the learner
            learner.on_decision(tx.tx_id, tx.ts)
        if learner.feed == "chargebacks":
            learner.advance(step.batch[-1].ts)
        out.append((_DECIDE, [tx.__dict__ for tx in step.batch], store.take()))
        return len(step.batch)
    if isinstance(step, Learn):
        learner.on_labels(step.labels)
        out.append((_LEARN, [label.__dict__ for label in step.labels], store.take()))
        return len(step.labels)
    if isinstance(step, Profile):
        store.put_customer(step.profile)
        out.append((_PROFILE, step.profile, []))
    return 0


class _Sender:
    """Sends the stage's messages from a thread of its own, up to :data:`AHEAD` of them
    waiting: the stage runs on while the backtest is busy with a slow stretch (the two halves
    cost about the same on average, not message by message)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stage-sender", daemon=True)
        self._thread.start()

    def send(self, message: _Message) -> None:
        """Queue one message (waits while :data:`AHEAD` are queued)."""
        if self._failed is not None:
            raise self._failed
        self._queue.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        """Wait until everything queued was sent."""
        self._queue.put(None)
        self._thread.join()
        if self._failed is not None:
            raise self._failed

    def _run(self) -> None:
        while (body := self._queue.get()) is not None:
            try:
                self._conn.send_bytes(body)
            except OSError as error:  # the backtest stopped: the stage stops at its next send
                self._failed = error
                return


def _store(job: StageJob) -> Any:
    settings = job.settings
    if job.state == "memory":
        from state.memory_store import InMemoryFeatureStore

        return InMemoryFeatureStore(settings.state)
    from state.redis_store import RedisFeatureStore

    # steps go out whole, ahead of the answers to the one before (state.redis_steps): Redis
    # may be busy with that one for longer than an inline round trip may take
    timeout_s = max(settings.redis.socket_timeout_s, STAGE_SOCKET_TIMEOUT_S)
    store = RedisFeatureStore(
        settings.redis.model_copy(update={"socket_timeout_s": timeout_s}), settings.state
    )
    store.indexes = KEEP_MOST  # the only writer of its database: labels skip reading them
    return store


class Pipeline:
    """The feature stage in its process, as steps for :meth:`Backtest.run_steps
    <replay.backtest.Backtest.run_steps>`; use it as a context manager (it stops the stage).

    Parameters
    ----------
    job
        What the stage does.
    features
        The backtest engine's store: each step's answers are loaded into it before the step.
    """

    def __init__(self, job: StageJob, features: ReplayedFeatures) -> None:
        self.features = features
        context = multiprocessing.get_context("spawn")  # a clean process, no inherited threads
        self._conn, child = context.Pipe(duplex=False)
        self._process = context.Process(
            target=feature_stage, args=(job, child), name="verdict-feature-stage", daemon=True
        )
        self._process.start()
        child.close()
        self._ended = False

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def steps(self) -> Iterator[Step]:
        """The stage's steps in order; each step's answers are loaded as it is handed out,
        and checked all asked for when the next is asked for."""
        while True:
            message = self._receive()
            if isinstance(message, tuple):
                ending, text = message
                self._ended = True
                if ending == "end":
                    return
                if ending == "dependency":
                    raise DependencyUnavailableError(f"feature store: {text}")
                raise FeatureStageError(f"the feature stage failed: {text}")
            for kind, events, answers in message:
                self.features.load(answers)
                yield self._step(kind, events)
                self.features.done()

    def _step(self, kind: int, events: Any) -> Step:
        if kind == _DECIDE:
            return Decide([restore(Transaction, fields) for fields in events])
        if kind == _LEARN:
            return Learn([restore(Label, fields) for fields in events])
        return Profile(events) if kind == _PROFILE else Skip(events)

    def _receive(self) -> _Message:
        try:
            message: _Message = pickle.loads(self._conn.recv_bytes())
        except EOFError:
            self._process.join(timeout=5)
            raise FeatureStageError(
                f"the feature stage stopped without a word (exit code {self._process.exitcode})"
            ) from None
        return message

    def close(self) -> None:
        """Stop the stage (at once when the backtest stopped early) and wait for it."""
        self._conn.close()
        if not self._ended:
            self._process.terminate()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
