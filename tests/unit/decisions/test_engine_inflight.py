"""A batch in two steps (``start_many`` then ``finish``) decides as ``decide_many`` does."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

from decisions.breaker import CircuitBreaker
from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine
from decisions.policy_file import PolicyHolder, load_policy
from events.errors import DependencyUnavailableError
from events.records import Transaction
from state.memory_store import InMemoryFeatureStore
from state.store import FeatureStoreUnavailable
from tests.unit.decisions.test_engine_batch import ByAmount, CountedLists, _comparable, _story


class Sent:
    """Features computed when read, a chunk of two at a time (as Redis streams them)."""

    timeout_s = 0.25

    def __init__(self, store: InMemoryFeatureStore, txs: Sequence[Transaction]) -> None:
        self._store, self._txs = store, txs
        self.closed = False

    def fileno(self) -> int:
        return 7

    def __iter__(self) -> Iterator[list[dict[str, float]]]:
        for start in range(0, len(self._txs), 2):
            yield [self._store.update_and_get(t) for t in self._txs[start : start + 2]]

    def close(self) -> None:
        self.closed = True


class Sending(InMemoryFeatureStore):
    """A store that sends a batch now and answers it when read; or refuses to send."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.sent: list[Sent] = []

    def send_chunks(self, txs: Sequence[Transaction]) -> Sent:
        if self.refuse:
            raise FeatureStoreUnavailable("Redis connection: refused")
        self.sent.append(Sent(self, txs))
        return self.sent[-1]


def _engine(
    store: InMemoryFeatureStore, lists: CountedLists, breaker: CircuitBreaker | None = None
) -> DecisionEngine:
    policy = PolicyHolder(load_policy())
    return DecisionEngine(policy, store, ByAmount(), InMemoryCapStore(), lists, breaker=breaker)


def test_a_batch_is_sent_at_start_read_at_finish_and_decided_as_decide_many() -> None:
    lists, store = CountedLists(), Sending()
    lists.add("blocked_customers", ["c2"])
    flight = _engine(store, lists).start_many(_story())
    assert len(store.sent) == 1 and (lists.asked, lists.read) == (1, 0)
    assert flight.fileno() == 7 and flight.timeout_s == 0.25
    assert store.get("customer", "c1")["cust_count_1d"] == 0.0  # nothing read, nothing recorded
    results = flight.finish()
    expected = _engine(InMemoryFeatureStore(), CountedLists()).decide_many(_story())
    assert lists.read == 1
    assert [r.decision.outcome for r in results if r.decision.customer_id == "c2"] == ["decline"]
    assert _comparable([r for r in results if r.decision.customer_id != "c2"]) == _comparable(
        [r for r in expected if r.decision.customer_id != "c2"]
    )
    with pytest.raises(RuntimeError, match="finished"):
        flight.finish()
    flight.cancel()  # after finish: nothing to give up
    assert not store.sent[0].closed


def test_a_batch_given_up_closes_its_features_and_reads_its_lists() -> None:
    lists, store = CountedLists(), Sending()
    flight = _engine(store, lists).start_many(_story())
    flight.cancel()
    assert store.sent[0].closed and lists.read == 1
    flight.cancel()
    assert lists.read == 1
    with pytest.raises(RuntimeError, match="cancelled"):
        flight.finish()


def test_features_that_cannot_be_sent_degrade_the_batch_or_stop_the_stream_path() -> None:
    lists = CountedLists()
    engine = _engine(Sending(refuse=True), lists)
    flight = engine.start_many(_story())  # the failure waits for finish, as a read's would
    assert flight.fileno() is None
    results = flight.finish()
    assert [r.decision.degraded for r in results] == [True] * len(_story())
    assert lists.read == 1
    with pytest.raises(DependencyUnavailableError, match="refused"):
        engine.start_many(_story(), require_features=True).finish()
    assert lists.read == 2


def test_with_the_breaker_open_a_batch_is_decided_at_start() -> None:
    lists, store, back = CountedLists(), Sending(), threading.Event()

    def probe() -> None:
        if not back.is_set():
            raise FeatureStoreUnavailable("Redis connection: still gone")

    breaker = CircuitBreaker("redis", probe, interval_s=0.01)
    breaker.trip(FeatureStoreUnavailable("Redis connection: gone"))
    try:
        flight = _engine(store, lists, breaker).start_many(_story())
        assert flight.fileno() is None and store.sent == [] and lists.asked == 0
        assert all(r.decision.degraded for r in flight.finish())
        with pytest.raises(DependencyUnavailableError, match="down"):
            _engine(store, lists, breaker).start_many(_story(), require_features=True)
    finally:
        back.set()
    assert breaker.wait_closed(5.0)
