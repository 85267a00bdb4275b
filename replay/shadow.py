"""A shadow policy for ``verdict backtest --shadow POLICY``: a second policy deciding beside the
first, on the same features and model scores, whose outcomes are compared with the first's."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.lists import ListStore
from decisions.policy_file import PolicyHolder
from decisions.reasons import DEGRADED_ANOMALY_MODEL, DEGRADED_FRAUD_MODEL
from decisions.sources import Scores
from events.outputs import Decision
from events.records import Label, Transaction


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
