"""Teaching the fraud model from labels that arrive late, from the decision's own features.

A label names a transaction decided hours or weeks ago. The model must learn from the features
the decision saw, not today's: the feature store keeps that snapshot (``learn_label`` returns
it). Two feeds are supported:

- ``explicit``: a label arrives for every transaction (fraud or not), and each is learnt;
- ``chargebacks``: only frauds are reported. Every decided transaction waits
  ``label_horizon_s`` (event time) and is learnt then: as fraud if a fraud label came in the
  meantime, else as legitimate (or as an analyst's "not fraud" label said). Frauds wait for
  the horizon too, so that each period is learnt with both its classes: learning a period's
  frauds days before its legitimate transactions teaches the model that whatever marks recent
  transactions (calendar features, drifting counts) means fraud, and costs much of its
  precision (``benchmarks/results/models.md``). A label for a transaction whose horizon has
  passed (a late chargeback) is learnt when it arrives.

A label that comes before its transaction's decision (a replay at full speed, a worker catching
up on its transactions while labels flow) waits, counted as ``early``, and is learnt when the
decision is taken; at most ``max_early`` wait, the oldest given up first. A label whose
snapshot is gone (unknown transaction, expired, a repeat) is counted in
``verdict_model_labels_total{outcome="ignored"}`` and dropped: never an error.

>>> from events.records import Label
>>> class Store:
...     def learn_label(self, label):
...         return {"amount": 900.0} if label.tx_id == "t1" else None
...     def snapshot(self, tx_id):
...         return {"amount": 900.0} if tx_id == "t1" else None
>>> from models.fraud import FraudModel
>>> learner = LabelLearner(FraudModel(), Store())
>>> learner.on_label(Label(tx_id="t1", is_fraud=True, ts=1772362800.0, source="chargeback"))
True
>>> learner.on_label(Label(tx_id="t2", is_fraud=False, ts=1772362800.0, source="analyst"))
True
>>> dict(learner.counts)  # t2 is not decided yet: its label waits
{'fraud': 1, 'early': 1}
>>> learner.on_decision("t2", 1772362000.0)  # decided: still no snapshot here, so dropped
>>> dict(learner.counts)
{'fraud': 1, 'early': 1, 'ignored': 1}
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

from events.metrics import Children, Metrics
from events.records import Label
from models.base import Features, OnlineModel
from models.settings import ModelSettings

LabelFeed = Literal["explicit", "chargebacks"]


class SnapshotSource(Protocol):
    """What the learner needs of the feature store (both stores of ``state`` fit)."""

    def learn_label(self, label: Label) -> dict[str, float] | None:
        """Apply the label; the decision's feature snapshot, or ``None`` when it is gone."""
        ...

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        """The decision's feature snapshot, or ``None`` when it is gone."""
        ...


class LabelLearner:
    """Feeds labels to a supervised model, from the feature snapshots of the decisions.

    Parameters
    ----------
    model
        The supervised model taught (the fraud model).
    store
        Where the decisions' feature snapshots are kept.
    feed
        ``explicit`` or ``chargebacks`` (see the module docstring).
    label_horizon_s
        Under ``chargebacks``: how long (event time) a transaction waits for a fraud label
        before it is learnt as legitimate. Must not exceed the store's snapshot retention.
    metrics
        Where labels learnt and ignored are counted (optional).
    role
        The ``role`` label of the metric.
    max_early
        Labels kept waiting for their transaction's decision, at most (0: none wait).
    """

    def __init__(
        self,
        model: OnlineModel,
        store: SnapshotSource,
        feed: LabelFeed = "explicit",
        label_horizon_s: float = 30 * 86400.0,
        metrics: Metrics | None = None,
        role: str = "fraud",
        max_early: int = 50_000,
    ) -> None:
        if feed not in ("explicit", "chargebacks"):
            raise ValueError(f"unknown label feed {feed!r}: explicit or chargebacks")
        self.model = model
        self.store = store
        self.feed = feed
        self.label_horizon_s = label_horizon_s
        self.metrics = metrics
        self.role = role
        self.counts: Counter[str] = Counter()
        self._by_outcome = Children(metrics.model_labels) if metrics is not None else None
        self.learnt = 0  # labels learnt in all (the registry publishes every N of them)
        self._pending: deque[tuple[float, str]] = deque()
        self._waiting: set[str] = set()  # the transactions of _pending
        self._held: dict[str, tuple[dict[str, float], bool]] = {}  # labels waiting with them
        self.max_early = max_early
        self._early: OrderedDict[str, Label] = OrderedDict()  # labels before their decision
        self._batch: list[tuple[Features, bool]] | None = None  # on_labels: learnt at its end

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        if self._by_outcome is not None:
            self._by_outcome(role=self.role, outcome=outcome).inc()

    def _learn(self, features: Features, is_fraud: bool, outcome: str) -> None:
        if self._batch is not None:
            self._batch.append((features, is_fraud))
        else:
            self.model.learn_one(features, is_fraud)
        self.learnt += 1
        self._count(outcome)

    def on_decision(self, tx_id: str, ts: float) -> None:
        """A transaction was decided (``chargebacks``: it now waits for the horizon); a label
        that came before it is taken now."""
        if self.feed == "chargebacks" and tx_id not in self._waiting:
            self._pending.append((ts, tx_id))
            self._waiting.add(tx_id)
        if self._early:
            early = self._early.pop(tx_id, None)
            if early is not None:
                self._take(early, may_wait=False)

    def waits_for(self, tx_ids: Iterable[str]) -> bool:
        """Whether a label that came early waits for one of ``tx_ids`` (their decision takes
        it, asking the store)."""
        early = self._early
        return bool(early) and any(tx_id in early for tx_id in tx_ids)

    def on_label(self, label: Label) -> bool:
        """Take one label; whether it was kept (``False``: no snapshot, ignored).

        ``explicit``: learnt at once. ``chargebacks``: held until its transaction's horizon,
        or learnt at once when that has passed. Without a snapshot it waits for the decision
        (see the module docstring).
        """
        return self._take(label, may_wait=True)

    def on_labels(self, labels: Sequence[Label]) -> list[bool]:
        """:meth:`on_label` of each, in order, with the model taught once at the end
        (``learn_many``: one compiled pass instead of one call a label). The model learns the
        same examples in the same order; nothing reads it in between. Whatever was taken is
        learnt even when a label raises (a store that is down), so a retry loses nothing."""
        self._batch = []
        try:
            many = getattr(self.store, "learn_labels", None)
            if many is None:
                return [self._take(label, may_wait=True) for label in labels]
            kept: list[bool] = []
            # the store's part for all of them first (one pipeline on Redis): a snapshot's
            # features do not depend on the horizons that advance meanwhile
            for label, features in zip(labels, many(labels), strict=True):
                if self.feed == "chargebacks":
                    self.advance(label.ts)
                kept.append(self._settle(label, features, may_wait=True))
            return kept
        finally:
            batch, self._batch = self._batch, None
            if len(batch) == 1:
                self.model.learn_one(*batch[0])
            elif batch:
                self.model.learn_many([x for x, _ in batch], [y for _, y in batch])

    def _take(self, label: Label, may_wait: bool) -> bool:
        if self.feed == "chargebacks":
            self.advance(label.ts)
        return self._settle(label, self.store.learn_label(label), may_wait)

    def _settle(self, label: Label, features: dict[str, float] | None, may_wait: bool) -> bool:
        """A label the store took (``features``: the snapshot it returned): learn, hold or let
        it wait for its decision."""
        if features is None:  # early when its transaction is not known at all (yet)
            if may_wait and self.max_early > 0 and self.store.snapshot(label.tx_id) is None:
                self._early[label.tx_id] = label
                self._count("early")
                while len(self._early) > self.max_early:
                    self._early.popitem(last=False)
                    self._count("ignored")
                return True
            self._count("ignored")
            return False
        if label.tx_id in self._waiting:
            self._held[label.tx_id] = (features, label.is_fraud)
            return True
        self._learn(features, label.is_fraud, "fraud" if label.is_fraud else "legitimate")
        return True

    def advance(self, now: float) -> int:
        """``chargebacks``: learn every transaction decided before ``now`` minus the horizon,
        with its label if one came, else as legitimate; how many were learnt. Call it as
        event time moves."""
        learnt = 0
        limit = now - self.label_horizon_s
        pending, held = self._pending, self._held
        while pending and pending[0][0] <= limit:
            _, tx_id = pending.popleft()
            self._waiting.discard(tx_id)
            found = held.pop(tx_id, None)
            if found is not None:
                features, is_fraud = found
                self._learn(features, is_fraud, "fraud" if is_fraud else "legitimate")
                learnt += 1
                continue
            snapshot = self.store.snapshot(tx_id)
            if snapshot is None:
                self._count("ignored")
                continue
            self._learn(snapshot, False, "legitimate_after_horizon")
            learnt += 1
        return learnt

    @property
    def waiting(self) -> int:
        """Transactions waiting for their horizon (``chargebacks``)."""
        return len(self._pending)


def label_learner(
    model: OnlineModel, store: SnapshotSource, models: ModelSettings, metrics: Metrics | None
) -> LabelLearner:
    """The learner of labels the settings describe, teaching ``model`` (one place for both
    of a two-process backtest's learners, which must take the same decisions)."""
    return LabelLearner(
        model,
        store,
        feed=models.label_feed,
        label_horizon_s=models.label_horizon_s,
        metrics=metrics,
    )
