"""Label feeds: explicit labels and chargebacks only; labels without a snapshot are counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from events.records import Label
from models.base import Features, OnlineModel
from models.labels import LabelLearner

DAY = 86400.0
T0 = 1_772_362_800.0


class Recorder(OnlineModel):
    supervised = True

    def __init__(self) -> None:
        self.learnt: list[tuple[float, bool]] = []

    def score_one(self, x: Features) -> float:
        return 0.5

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        self.learnt.append((x["amount"], bool(y)))


class Store:
    """Snapshots of transactions t0..t9 (amount = number); t9's has expired."""

    def __init__(self) -> None:
        self.snapshots = {f"t{i}": {"amount": float(i)} for i in range(9)}

    def learn_label(self, label: Label) -> dict[str, float] | None:
        return self.snapshots.get(label.tx_id)

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        return self.snapshots.get(tx_id)


def label(tx: str, fraud: bool, days: float) -> Label:
    return Label(tx_id=tx, is_fraud=fraud, ts=T0 + days * DAY, source="chargeback")


def test_explicit_labels_are_learnt_and_missing_snapshots_counted() -> None:
    metrics = Metrics(CollectorRegistry())
    model = Recorder()
    learner = LabelLearner(model, Store(), "explicit", metrics=metrics)
    assert learner.on_label(label("t1", True, 7))
    assert learner.on_label(label("t2", False, 7))
    assert not learner.on_label(label("t9", True, 7))  # expired
    assert not learner.on_label(label("nope", False, 7))  # unknown
    assert model.learnt == [(1.0, True), (2.0, False)]
    assert dict(learner.counts) == {"fraud": 1, "legitimate": 1, "ignored": 2}
    ignored = metrics.model_labels.labels(role="fraud", outcome="ignored")
    assert ignored._value.get() == 2
    assert learner.learnt == 2


def test_chargebacks_learn_each_transaction_at_its_horizon() -> None:
    model = Recorder()
    learner = LabelLearner(model, Store(), "chargebacks", label_horizon_s=10 * DAY)
    for i in range(10):
        learner.on_decision(f"t{i}", T0 + i * DAY)
    assert learner.on_label(label("t3", True, 8))  # a chargeback: held with its period
    assert model.learnt == []
    assert learner.advance(T0 + 9 * DAY) == 0  # nobody waited 10 days yet
    assert learner.advance(T0 + 12.5 * DAY) == 3  # t0, t1, t2 waited 10 days in silence
    assert model.learnt == [(0.0, False), (1.0, False), (2.0, False)]
    assert learner.advance(T0 + 13.5 * DAY) == 1  # t3, with its chargeback
    assert model.learnt[-1] == (3.0, True)
    learner.advance(T0 + 30 * DAY)
    assert learner.counts["legitimate_after_horizon"] == 8  # t0-t8 but t3
    assert learner.counts["fraud"] == 1
    assert learner.counts["ignored"] == 1  # t9's snapshot expired
    assert learner.waiting == 0


def test_a_late_chargeback_is_learnt_when_it_arrives() -> None:
    model = Recorder()
    learner = LabelLearner(model, Store(), "chargebacks", label_horizon_s=5 * DAY)
    learner.on_decision("t4", T0)
    learner.on_decision("t5", T0)
    assert learner.on_label(label("t5", False, 1))  # an analyst cleared it: held
    assert learner.on_label(label("t4", True, 9))  # after t4's horizon: learnt at once
    assert model.learnt == [(4.0, False), (5.0, False), (4.0, True)]
