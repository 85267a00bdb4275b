"""Label feeds: explicit labels and chargebacks only; labels without a snapshot are counted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
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
    learner = LabelLearner(model, Store(), "explicit", metrics=metrics, max_early=0)
    assert learner.on_label(label("t1", True, 7))
    assert learner.on_label(label("t2", False, 7))
    assert not learner.on_label(label("t9", True, 7))  # expired
    assert not learner.on_label(label("nope", False, 7))  # unknown
    assert model.learnt == [(1.0, True), (2.0, False)]
    assert dict(learner.counts) == {"fraud": 1, "legitimate": 1, "ignored": 2}
    ignored = metrics.model_labels.labels(role="fraud", outcome="ignored")
    assert ignored._value.get() == 2
    assert learner.learnt == 2


class RepeatingStore(Store):
    """A store whose snapshots are known but whose labels were applied already (repeats)."""

    def learn_label(self, label: Label) -> dict[str, float] | None:
        return None


def test_a_label_before_its_decision_waits_and_is_learnt_when_it_is_taken() -> None:
    model, store = Recorder(), Store()
    learner = LabelLearner(model, store, "explicit", max_early=2)
    assert learner.on_label(label("t20", True, 1))  # t20 is not decided yet
    assert model.learnt == [] and learner.counts["early"] == 1
    learner.on_decision("t5", T0)  # another transaction: nothing happens
    assert model.learnt == []
    store.snapshots["t20"] = {"amount": 20.0}  # the decision takes its snapshot...
    learner.on_decision("t20", T0)  # ...and the label is learnt with it
    assert model.learnt == [(20.0, True)]
    assert learner.learnt == 1


def test_early_labels_are_bounded_the_oldest_given_up_first() -> None:
    model, store = Recorder(), Store()
    learner = LabelLearner(model, store, "explicit", max_early=2)
    for tx in ("x1", "x2", "x3"):
        learner.on_label(label(tx, False, 1))
    assert learner.counts["ignored"] == 1  # x1 gave way to x3
    store.snapshots |= {"x1": {"amount": 1.0}, "x3": {"amount": 3.0}}
    learner.on_decision("x1", T0)
    learner.on_decision("x3", T0)
    assert model.learnt == [(3.0, False)]


def test_a_repeated_label_is_ignored_not_kept_waiting() -> None:
    learner = LabelLearner(Recorder(), RepeatingStore(), "explicit")
    assert not learner.on_label(label("t1", True, 7))  # its transaction is known
    assert dict(learner.counts) == {"ignored": 1}


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


class BatchRecorder(Recorder):
    """Records each ``learn_many`` call as one group."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[int] = []

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        assert ys is not None
        self.groups.append(len(xs))
        for x, y in zip(xs, ys, strict=True):
            self.learn_one(x, y)


def test_labels_taken_together_are_learnt_in_one_call_in_their_order() -> None:
    model = BatchRecorder()
    learner = LabelLearner(model, Store(), "explicit", max_early=0)
    kept = learner.on_labels([label("t3", True, 7), label("nope", False, 7), label("t1", False, 7)])
    assert kept == [True, False, True]
    assert model.learnt == [(3.0, True), (1.0, False)]
    assert model.groups == [2]
    assert dict(learner.counts) == {"fraud": 1, "legitimate": 1, "ignored": 1}
    assert learner.on_labels([label("t2", False, 7)]) == [True]
    assert model.groups == [2]  # one label: learn_one
    assert model.learnt[-1] == (2.0, False)


class FailingStore(Store):
    """A store that goes down at t5."""

    def learn_label(self, label: Label) -> dict[str, float] | None:
        if label.tx_id == "t5":
            raise ConnectionError("store down")
        return super().learn_label(label)


def test_what_a_batch_took_before_the_store_failed_is_learnt() -> None:
    model = BatchRecorder()
    learner = LabelLearner(model, FailingStore(), "explicit", max_early=0)
    with pytest.raises(ConnectionError):
        learner.on_labels([label("t1", True, 7), label("t2", False, 7), label("t5", False, 7)])
    assert model.learnt == [(1.0, True), (2.0, False)]  # their store updates are not redone
    assert learner.learnt == 2
    assert learner.on_label(label("t3", False, 7))  # and single labels learn at once again
    assert model.learnt[-1] == (3.0, False)


class ChunkFailingStore(Store):
    """A store that applies a group two labels at a time and goes down at its third."""

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        for n, one in enumerate(labels):
            if n == 2:
                raise ConnectionError("store down mid-group")
            yield self.learn_label(one)


def test_what_a_group_took_before_the_store_failed_mid_way_is_learnt() -> None:
    model = BatchRecorder()
    learner = LabelLearner(model, ChunkFailingStore(), "explicit", max_early=0)
    with pytest.raises(ConnectionError, match="mid-group"):
        learner.on_labels([label("t1", True, 7), label("t2", False, 7), label("t3", True, 7)])
    assert model.learnt == [(1.0, True), (2.0, False)]  # taken before the failure: learnt
    assert learner.learnt == 2
