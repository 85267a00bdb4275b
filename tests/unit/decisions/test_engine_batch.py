"""A batch decides exactly as the same transactions one by one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import pytest

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.lists import Answer, InMemoryListStore
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import Scores
from events.errors import DependencyUnavailableError
from events.records import CustomerProfile, Transaction
from state.memory_store import InMemoryFeatureStore
from state.store import FeatureStoreUnavailable
from tests.unit.decisions.harness import DAY, HOUR, T0, World, bench, salary, tx


class ByAmount:
    def score(self, features: Mapping[str, float]) -> Scores:
        return Scores(fraud=min(1.0, features["amount"] / 2000), anomaly=0.1, model_version="v")


def _story() -> list[Transaction]:
    return [
        salary("s1", T0),
        tx("a", T0 + HOUR, amount=30.0),
        tx("b", T0 + 2 * HOUR, amount=1900.0, country="JP"),
        tx("c", T0 + 2 * HOUR + 60, amount=900.0, customer_id="c2"),
        tx("a", T0 + HOUR, amount=30.0),  # a repeat inside the batch
        salary("s2", T0 + 3 * DAY),
    ]


def _engine(store: InMemoryFeatureStore) -> DecisionEngine:
    store.put_customer(CustomerProfile(customer_id="c1", home_country="FR", ts=T0 - DAY))
    return DecisionEngine(PolicyHolder(load_policy()), store, ByAmount(), InMemoryCapStore())


def _comparable(results: list[DecisionResult]) -> list[dict[str, object]]:
    return [r.decision.model_dump(exclude={"latency_ms"}) for r in results]


def test_a_batch_on_the_feature_store_equals_one_by_one() -> None:
    one = _engine(InMemoryFeatureStore())
    many = _engine(InMemoryFeatureStore())
    singles = [one.decide(t) for t in _story()]
    batch = many.decide_many(_story())
    assert _comparable(singles) == _comparable(batch)
    assert [[t.trigger_id for t in r.triggers] for r in singles] == [
        [t.trigger_id for t in r.triggers] for r in batch
    ]


def test_a_batch_without_a_batch_method_or_with_the_store_down() -> None:
    world = World()
    scripted = bench(world=world)
    results = scripted.engine.decide_many(_story())
    assert [r.decision.tx_id for r in results] == [t.tx_id for t in _story()]
    world.features_down = True
    degraded = scripted.engine.decide_many(_story())
    assert all(r.decision.degraded for r in degraded)


def test_a_batch_looks_up_the_lists_once_and_decides_as_one_by_one() -> None:
    lists = InMemoryListStore()
    lists.add("blocked_customers", ["c2"])
    calls: list[int] = []
    original = lists.ask_many

    def counted(batch: Sequence[Sequence[tuple[str, str]]]) -> Answer:
        calls.append(len(batch))
        return original(batch)

    lists.ask_many = counted  # type: ignore[method-assign]
    engine = DecisionEngine(
        PolicyHolder(load_policy()), InMemoryFeatureStore(), ByAmount(), InMemoryCapStore(), lists
    )
    results = engine.decide_many(_story())
    assert calls == [len(_story())]
    assert [r.decision.outcome for r in results if r.decision.customer_id == "c2"] == ["decline"]
    assert "blocked_customer" in [r.code for r in results[3].decision.reasons]


class Chunked(InMemoryFeatureStore):
    """A store that streams its answers two at a time and can fail after ``fail_after``."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.fail_after = fail_after

    def update_and_get_chunks(self, txs: Sequence[Transaction]) -> Iterator[list[dict[str, float]]]:
        for start in range(0, len(txs), 2):
            if self.fail_after is not None and start >= self.fail_after:
                raise FeatureStoreUnavailable("Redis connection: gone")
            yield [self.update_and_get(t) for t in txs[start : start + 2]]


def test_a_streamed_batch_decides_as_one_by_one_and_degrades_only_what_is_left() -> None:
    one = _engine(InMemoryFeatureStore())
    singles = [one.decide(t) for t in _story()]
    assert _comparable(_engine(Chunked()).decide_many(_story())) == _comparable(singles)

    broken = _engine(Chunked(fail_after=4)).decide_many(_story())
    assert [r.decision.tx_id for r in broken] == [t.tx_id for t in _story()]
    assert _comparable(broken[:4]) == _comparable(singles[:4])
    assert [r.decision.degraded for r in broken] == [False] * 4 + [True] * 2
    with pytest.raises(DependencyUnavailableError, match="feature store"):
        _engine(Chunked(fail_after=4)).decide_many(_story(), require_features=True)


class CountedLists(InMemoryListStore):
    """Lists whose answers say how often they were read, and can fail when read."""

    def __init__(self, fail_on_read: bool = False) -> None:
        super().__init__()
        self.asked = 0
        self.read = 0
        self.fail_on_read = fail_on_read

    def ask_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> Answer:
        self.asked += 1
        found = self.hits_many(batch)

        def answer() -> list[frozenset[str]]:
            self.read += 1
            if self.fail_on_read:
                raise FeatureStoreUnavailable("Redis timeout: lists")
            return found

        return answer


@pytest.mark.parametrize("fail_after", [None, 0, 4])
def test_the_list_lookup_is_read_once_whatever_the_features_do(fail_after: int | None) -> None:
    lists = CountedLists()
    lists.add("blocked_customers", ["c2"])
    engine = DecisionEngine(
        PolicyHolder(load_policy()), Chunked(fail_after), ByAmount(), InMemoryCapStore(), lists
    )
    results = engine.decide_many(_story())
    assert (lists.asked, lists.read) == (1, 1)  # its connection goes back to the pool
    assert [r.decision.outcome for r in results if r.decision.customer_id == "c2"] == ["decline"]


@pytest.mark.parametrize("fail_after", [0, 4])
def test_the_list_lookup_is_read_when_the_stream_path_gives_up(fail_after: int) -> None:
    lists = CountedLists()
    engine = DecisionEngine(
        PolicyHolder(load_policy()), Chunked(fail_after), ByAmount(), InMemoryCapStore(), lists
    )
    with pytest.raises(DependencyUnavailableError):
        engine.decide_many(_story(), require_features=True)
    assert (lists.asked, lists.read) == (1, 1)


def test_lists_that_fail_when_read_degrade_only_the_list_rules() -> None:
    lists = CountedLists(fail_on_read=True)
    engine = DecisionEngine(
        PolicyHolder(load_policy()), InMemoryFeatureStore(), ByAmount(), InMemoryCapStore(), lists
    )
    results = engine.decide_many(_story())
    assert lists.read == 1
    assert all(r.decision.degraded for r in results)
    assert all("lists" in " ".join(x.detail for x in r.decision.reasons) for r in results)
