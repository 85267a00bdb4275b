"""The stage's record and the backtest's replay of it: a label's snapshot sent as a mark."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from events.records import Label, Transaction
from replay.replayed import (
    DecidedFeatures,
    PipelineDivergedError,
    RecordingStore,
    ReplayedFeatures,
)
from state.memory_store import InMemoryFeatureStore

T0 = 1_522_540_800.0
DAY = 86_400.0


def tx(i: int, ts: float) -> Transaction:
    return Transaction(tx_id=f"t{i}", ts=ts, customer_id="c1", amount=10.0 + i, terminal_id="term1")


def label(i: int, ts: float, is_fraud: bool = False) -> Label:
    return Label(tx_id=f"t{i}", ts=ts, is_fraud=is_fraud, source="chargeback")


def test_a_label_of_a_kept_decision_is_sent_as_a_mark_and_replayed_as_its_features() -> None:
    store = InMemoryFeatureStore()
    recording, replayed = RecordingStore(store), ReplayedFeatures()
    txs = [tx(1, T0), tx(2, T0 + 60), tx(3, T0 + 120)]
    decided = recording.send_many(txs)()
    learnt = list(recording.learn_labels([label(1, T0 + DAY, True), label(9, T0 + DAY)]))
    again = recording.learn_label(label(1, T0 + DAY + 1, True))  # a repeat: not news
    corrected = recording.learn_label(label(1, T0 + DAY + 2))  # news: the store builds it
    answers = recording.take()
    assert answers[1] == ("labels", 2, [True, None])  # the mark, not 37 features again
    assert answers[2:] == [("label", "t1", None), ("label", "t1", decided[0])]
    assert learnt == [decided[0], None] and again is None and corrected == decided[0]
    assert InMemoryFeatureStore().learn_label(label(1, T0)) is None  # unknown there

    replayed.load(answers)
    assert replayed.update_and_get_many(txs) == decided
    assert list(replayed.learn_labels([label(1, T0 + DAY, True), label(9, T0 + DAY)])) == [
        decided[0],
        None,
    ]
    assert replayed.learn_label(label(1, T0 + DAY + 1, True)) is None
    assert replayed.learn_label(label(1, T0 + DAY + 2)) == decided[0]
    replayed.done()


def test_a_label_after_the_kept_window_gets_the_stores_own_snapshot() -> None:
    store = InMemoryFeatureStore()
    recording, replayed = RecordingStore(store), ReplayedFeatures()
    old, recent = tx(1, T0), tx(2, T0 + 11 * DAY)  # ten days of features are kept
    (first,) = recording.send_many([old])()
    recording.send_many([recent])()
    snapshot = recording.learn_label(label(1, T0 + 12 * DAY))
    answers = recording.take()
    assert snapshot == first and snapshot is not first  # built again by the store
    assert answers[-1] == ("label", "t1", first)  # sent whole
    replayed.load(answers)
    replayed.update_and_get_many([old]), replayed.update_and_get_many([recent])
    assert replayed.learn_label(label(1, T0 + 12 * DAY)) == first
    replayed.done()


class SnapshotStore:
    """A store without ``apply_label`` (as Redis): its snapshots are compared with the kept."""

    def __init__(self, snapshots: dict[str, dict[str, float]]) -> None:
        self.snapshots = snapshots

    def update_and_get_many(self, txs: Sequence[Transaction]) -> list[dict[str, float]]:
        return [{"amount": tx.amount} for tx in txs]

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        return (self.snapshots.get(label.tx_id) for label in labels)


def test_a_stores_snapshot_is_marked_only_when_it_equals_the_kept_features() -> None:
    store = SnapshotStore({"t1": {"amount": 11.0}, "t2": {"amount": 999.0}})
    recording = RecordingStore(store)
    recording.send_many([tx(1, T0), tx(2, T0)])()
    list(recording.learn_labels([label(1, T0 + 1), label(2, T0 + 1)]))
    assert recording.take()[-1] == ("labels", 2, [True, {"amount": 999.0}])


def test_a_mark_the_backtest_cannot_resolve_stops_the_run() -> None:
    replayed = ReplayedFeatures()
    replayed.load([("label", "t1", True)])
    with pytest.raises(PipelineDivergedError, match="kept the features of t1"):
        replayed.learn_label(label(1, T0))


def test_decided_features_are_bounded_by_count_and_event_time_and_kept_once() -> None:
    kept = DecidedFeatures(keep_s=100.0, most=3)
    kept.keep([("a", 0.0), ("b", 1.0), ("c", 2.0), ("d", 3.0)], [{"x": i} for i in range(4)])
    assert len(kept) == 3 and kept.peek("a") is None  # the oldest went beyond three
    kept.keep([("b", 50.0)], [{"x": 9.0}])  # decided again: its first features stay
    assert kept.peek("b") == {"x": 1}
    kept.keep([("e", 103.5)], [{"x": 5.0}])  # b, c and d are now more than 100 s behind
    assert [kept.take(k) for k in "bcde"] == [None, None, None, {"x": 5.0}]
    assert len(kept) == 0
