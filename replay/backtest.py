"""``verdict backtest``: the decision engine on a recorded stream, in the process, on event time.

Transactions, labels and customer profiles are merged in event-time order: a profile counts
from its ``ts`` (from the start when it has none), a label from its ``ts`` (the moment it
became known), and a label at the same time as a transaction comes after it. The models thus
learn exactly what they would have known at each moment. Consecutive transactions with nothing
between them are decided in one batch (``decide_many``, the stream path); nothing is reordered,
so batches decide as one by one would. One decision per transaction is written, in the order
the transactions were read (their file order).

The engine is the one ``verdict serve`` runs, built by :mod:`verdict.wiring` and passed in:
this module only drives it. Two simulations can run beside it:

- :class:`Analysts` (``--feedback K``): a risk team that investigates ``K`` alerts a day, the
  most suspicious first, and gives their true label one hour after the decision;
- :class:`Shadow` (``--shadow POLICY``): a second policy deciding on the same features and
  scores, whose outcomes are compared with the first one's.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol, TypeVar

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.lists import ListStore
from decisions.policy_file import PolicyHolder
from decisions.reasons import DEGRADED_ANOMALY_MODEL, DEGRADED_FRAUD_MODEL
from decisions.sources import Scores
from events.errors import EventValidationError, VerdictError
from events.outputs import Decision
from events.parsing import parse_event
from events.records import DEFAULT_CURRENCY, CustomerProfile, Event, Label, Transaction
from replay.quality import DAY_S, Ledger, Truth
from replay.sources import BadLine, StreamRecord, merge_by_time, read_records

TRANSACTIONS: Final = "transactions"
LABELS: Final = "labels"
CUSTOMERS: Final = "customers"
#: How long after a decision an analyst's verdict on it is known (``--feedback``).
ANALYST_DELAY_S: Final = 3600.0

E = TypeVar("E", bound=Event)
_to_json = Decision.__pydantic_serializer__.to_json  # bytes, as model_dump_json() encoded


class Decider(Protocol):
    """The decision engine (:class:`~decisions.engine.DecisionEngine`)."""

    def decide_many(
        self, txs: Sequence[Transaction], *, require_features: bool = False
    ) -> list[DecisionResult]:
        """Decisions on ``txs``, in order."""
        ...


class Learner(Protocol):
    """The learning side (:class:`~decisions.feedback.EngineFeedback`)."""

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        """Decisions just taken."""
        ...

    def on_label(self, label: Label) -> None:
        """A label became known."""
        ...


class ProfileSink(Protocol):
    """Where customer profiles go (the feature store)."""

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember a customer's profile."""
        ...


class BadInputError(VerdictError):
    """A line of a stream file that does not satisfy its contract (with ``--strict``)."""

    http_status = 422
    code = "bad_input"


@dataclass(frozen=True)
class BacktestFiles:
    """The stream files of one backtest (JSONL or CSV, each in event-time order)."""

    transactions: Path
    labels: Path | None = None
    customers: Path | None = None


@dataclass(frozen=True)
class BacktestSummary:
    """What a run did and how long it took."""

    decisions: int
    labels: int
    customers: int
    analyst_labels: int
    analyst_frauds: int
    bad_lines: int
    seconds: float

    @property
    def rate(self) -> float:
        """Transactions decided per second."""
        return self.decisions / self.seconds if self.seconds > 0 else 0.0


class Analysts:
    """A risk team investigating ``per_day`` alerts a day, the most suspicious first.

    Whether an alert will be among its day's ``K`` most suspicious depends on alerts still to
    come, which depend on what the models learn from these very investigations; so the team
    works to a bar, as a real one does: an alert (a decision that is not ``approve``) is
    investigated when its ``fraud_score`` is at least the ``K``-th highest of the previous
    day's alerts, while the day's ``K`` investigations last (no bar on the first day). Its true
    label (``source`` ``analyst``) is known ``delay_s`` after the decision; the other
    transactions wait for the labels file.

    Parameters
    ----------
    per_day
        Investigations a day (``K``).
    truth
        Where the analysts find the truth (the labels file's).
    delay_s
        Time from the decision to the analyst's label.
    """

    def __init__(self, per_day: int, truth: Truth, delay_s: float = ANALYST_DELAY_S) -> None:
        if per_day < 1:
            raise ValueError("analysts investigate at least one alert a day")
        self.per_day = per_day
        self.truth = truth
        self.delay_s = delay_s
        self.labels = 0
        self.frauds = 0
        self._day: int | None = None
        self._left = per_day
        self._bar = -math.inf
        self._top: list[float] = []  # the day's highest alert scores (a min-heap of K)
        self._due: list[tuple[float, int, Label]] = []
        self._order = itertools.count()

    def review(self, decisions: Iterable[Decision]) -> None:
        """Queue the investigations of these decisions' alerts."""
        for decision in decisions:
            if decision.outcome == "approve":
                continue
            day = math.floor(decision.ts / DAY_S)
            if day != self._day:
                self._bar = self._top[0] if len(self._top) == self.per_day else -math.inf
                self._day, self._left, self._top = day, self.per_day, []
            score = decision.fraud_score
            if len(self._top) < self.per_day:
                heapq.heappush(self._top, score)
            elif score > self._top[0]:
                heapq.heapreplace(self._top, score)
            if self._left and score >= self._bar:
                self._left -= 1
                self._investigate(decision)

    def _investigate(self, decision: Decision) -> None:
        fraud = self.truth.is_fraud(decision.tx_id)
        label = Label(
            tx_id=decision.tx_id,
            is_fraud=fraud,
            ts=decision.ts + self.delay_s,
            source="analyst",
            customer_id=decision.customer_id,
        )
        heapq.heappush(self._due, (label.ts, next(self._order), label))
        self.labels += 1
        self.frauds += fraud

    @property
    def next_due(self) -> float:
        """When the next queued verdict is known (infinity when none is queued)."""
        return self._due[0][0] if self._due else math.inf

    def due(self, before: float = math.inf) -> Iterator[Label]:
        """The verdicts known strictly before ``before``, in time order."""
        while self._due and self._due[0][0] < before:
            yield heapq.heappop(self._due)[2]


class _Recorded:
    """The first engine's features and scores, served to the shadow engine in its order."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, dict[str, float]]] = deque()
        self._scores: dict[int, Scores] = {}

    def hold(self, results: Sequence[DecisionResult]) -> None:
        for result in results:
            d = result.decision
            missing = {reason.code for reason in d.reasons} if d.degraded else set()
            self._queue.append((d.tx_id, d.features))
            self._scores[id(d.features)] = Scores(
                fraud=None if DEGRADED_FRAUD_MODEL in missing else d.fraud_score,
                anomaly=None if DEGRADED_ANOMALY_MODEL in missing else d.anomaly_score,
                model_version=d.model_version,
            )

    def clear(self) -> None:
        self._queue.clear()
        self._scores.clear()

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        tx_id, features = self._queue.popleft()
        if tx_id != tx.tx_id:
            raise RuntimeError(f"shadow out of step: {tx.tx_id} asked, {tx_id} recorded")
        return features

    def score(self, features: Mapping[str, float]) -> Scores:
        return self._scores[id(features)]


class Shadow:
    """A second policy deciding beside the first, on the same features and model scores.

    It is the same :class:`~decisions.engine.DecisionEngine` code, fed the features and scores
    of the first engine's decisions (the models neither learn twice nor drift apart), with
    marketing caps of its own in memory and the ``lists`` given. Its reasons name no features
    behind a score (attributions are not passed on); outcomes and triggers are exact.
    """

    def __init__(self, policy: PolicyHolder, lists: ListStore | None = None) -> None:
        self._recorded = _Recorded()
        self.engine = DecisionEngine(
            policy, self._recorded, self._recorded, InMemoryCapStore(), lists
        )

    def decide(
        self, txs: Sequence[Transaction], results: Sequence[DecisionResult]
    ) -> list[Decision]:
        """The shadow policy's decisions on ``txs``, given the first engine's ``results``."""
        self._recorded.hold(results)
        try:
            return [r.decision for r in self.engine.decide_many(txs, require_features=True)]
        finally:
            self._recorded.clear()

    def on_label(self, label: Label) -> None:
        """A confirmed fraud starts the shadow's own marketing quiet period."""
        if label.is_fraud and label.customer_id is not None:
            self.engine.note_fraud(label.customer_id, label.ts, label.tx_id)


class Backtest:
    """Drives an engine through stream files on event time; see the module docstring.

    Parameters
    ----------
    engine
        Decides (``decide_many``); a feature store that is down stops the run.
    learner
        Learns from decisions and labels.
    profiles
        Takes customer profiles.
    ledger
        Collects one row per decision for the quality report.
    analysts
        Simulated analysts (``--feedback``), or ``None``.
    shadow
        A shadow policy (``--shadow``), or ``None``.
    batch_size
        Most transactions decided in one call.
    default_currency
        For transactions that name none.
    strict
        Stop at the first bad line (:class:`BadInputError`) instead of skipping it.
    on_bad
        Told of each bad line skipped.
    on_progress
        Told the number of decisions so far, every ``progress_every`` or so.
    """

    def __init__(
        self,
        engine: Decider,
        learner: Learner,
        profiles: ProfileSink,
        ledger: Ledger,
        *,
        analysts: Analysts | None = None,
        shadow: Shadow | None = None,
        batch_size: int = 500,
        default_currency: str = DEFAULT_CURRENCY,
        strict: bool = False,
        on_bad: Callable[[BadLine], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        progress_every: int = 10_000,
    ) -> None:
        self.engine = engine
        self.learner = learner
        self.profiles = profiles
        self.ledger = ledger
        self.analysts = analysts
        self.shadow = shadow
        self.batch_size = batch_size
        self.default_currency = default_currency
        self.strict = strict
        self.on_bad = on_bad
        self.on_progress = on_progress
        self.progress_every = progress_every
        self._paths: dict[str, Path] = {}
        self._bad = 0

    def run(self, files: BacktestFiles, out: BinaryIO) -> BacktestSummary:
        """Decide every transaction of ``files``, writing one decision line each to ``out``."""
        started = time.perf_counter()
        self._bad = 0
        decided = labels = customers = reported = 0
        analysts, batch = self.analysts, list[Transaction]()

        def flush() -> None:
            nonlocal decided, reported
            if batch:
                self._decide(batch, out)
                decided += len(batch)
                batch.clear()
                if self.on_progress is not None and decided - reported >= self.progress_every:
                    self.on_progress(reported := decided)

        for record in merge_by_time(self._streams(files)):
            if analysts is not None and analysts.next_due < record.ts:
                flush()
                for verdict in analysts.due(record.ts):
                    self._label(verdict)
            if record.topic == TRANSACTIONS:
                tx = self._parse(Transaction, record)
                if tx is None:
                    continue
                if batch and (
                    len(batch) >= self.batch_size
                    or (analysts is not None and tx.ts >= batch[0].ts + analysts.delay_s)
                ):
                    flush()
                batch.append(tx)
                continue
            flush()
            if record.topic == LABELS:
                label = self._parse(Label, record)
                if label is not None:
                    self._label(label)
                    labels += 1
            else:
                profile = self._parse(CustomerProfile, record)
                if profile is not None:
                    self.profiles.put_customer(profile)
                    customers += 1
        flush()
        if analysts is not None:
            for verdict in analysts.due():
                self._label(verdict)
        if self.on_progress is not None:
            self.on_progress(decided)
        return BacktestSummary(
            decisions=decided,
            labels=labels,
            customers=customers,
            analyst_labels=0 if analysts is None else analysts.labels,
            analyst_frauds=0 if analysts is None else analysts.frauds,
            bad_lines=self._bad,
            seconds=time.perf_counter() - started,
        )

    def _decide(self, batch: list[Transaction], out: BinaryIO) -> None:
        results = self.engine.decide_many(batch, require_features=True)
        shadow = self.shadow.decide(batch, results) if self.shadow is not None else None
        add = self.ledger.add
        lines: list[bytes] = []
        for index, result in enumerate(results):
            decision = result.decision
            lines.append(_to_json(decision))
            add(decision, None if shadow is None else shadow[index])
        lines.append(b"")
        out.write(b"\n".join(lines))
        self.learner.on_decisions(results)
        if self.analysts is not None:
            self.analysts.review(result.decision for result in results)

    def _label(self, label: Label) -> None:
        self.learner.on_label(label)
        if self.shadow is not None:
            self.shadow.on_label(label)

    def _streams(self, files: BacktestFiles) -> list[Iterator[StreamRecord]]:
        self._paths = {TRANSACTIONS: files.transactions}
        streams: list[Iterator[StreamRecord]] = []
        if files.customers is not None:  # all profiles, by time (a file of them is small)
            self._paths[CUSTOMERS] = files.customers
            profiles = self._read(files.customers, CUSTOMERS)
            streams.append(iter(sorted(profiles, key=lambda record: record.ts)))
        streams.append(self._read(files.transactions, TRANSACTIONS))
        if files.labels is not None:
            self._paths[LABELS] = files.labels
            streams.append(self._read(files.labels, LABELS))
        return streams

    def _read(self, path: Path, topic: str) -> Iterator[StreamRecord]:
        # validate=False: each line is parsed once, into its record, by _parse
        return read_records(path, topic, validate=False, on_bad=self._skip)

    def _parse(self, record_type: type[E], record: StreamRecord) -> E | None:
        try:
            return parse_event(record_type, record.value, default_currency=self.default_currency)
        except EventValidationError as error:
            line = int(record.origin.rpartition(":")[2])
            self._skip(BadLine(self._paths[record.topic], line, str(error)))
            return None

    def _skip(self, bad: BadLine) -> None:
        if self.strict:
            raise BadInputError(str(bad))
        self._bad += 1
        if self.on_bad is not None:
            self.on_bad(bad)
