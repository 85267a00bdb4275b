"""Properties of the in-memory store: order of arrival, repeats, and the naive recomputation.

The same properties run against Redis (with fewer examples) in tests/integration/state.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.records import Transaction
from state.memory_store import InMemoryFeatureStore
from tests.unit.state.reference import BUCKETED, Reference, differences
from tests.unit.state.streams import transactions

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def state_of(store: InMemoryFeatureStore) -> dict[str, object]:
    """Everything the store remembers about its entities, order-independent."""
    return {
        **{f"c/{k}": v.canonical() for k, v in store.customers.items()},
        **{f"t/{k}": v.canonical() for k, v in store.terminals.items()},
        **{f"d/{k}": v.canonical() for k, v in store.devices.items()},
    }


def views(store: InMemoryFeatureStore) -> dict[str, dict[str, float]]:
    out = {f"c/{k}": store.get("customer", k) for k in store.customers}
    out.update({f"t/{k}": store.get("terminal", k) for k in store.terminals})
    out.update({f"d/{k}": store.get("device", k) for k in store.devices})
    return out


@FAST
@given(txs=transactions(), order=st.randoms(use_true_random=False))
def test_arrival_order_inside_the_horizon_leaves_the_final_state_unchanged(
    txs: list[Transaction], order: st.SearchStrategy[object]
) -> None:
    in_order, shuffled = InMemoryFeatureStore(), InMemoryFeatureStore()
    in_order.update_and_get_many(txs)
    mixed = list(txs)
    order.shuffle(mixed)  # type: ignore[attr-defined]
    shuffled.update_and_get_many(mixed)
    assert state_of(shuffled) == state_of(in_order)
    assert views(shuffled) == views(in_order)


@FAST
@given(
    txs=transactions(),
    picks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=20),
)
def test_repeating_any_transaction_changes_nothing(
    txs: list[Transaction], picks: list[int]
) -> None:
    store = InMemoryFeatureStore()
    first = {tx.tx_id: store.update_and_get(tx) for tx in txs}
    before, seen = state_of(store), views(store)
    for pick in picks:
        tx = txs[pick % len(txs)]
        assert store.update_and_get(tx) == first[tx.tx_id]
        assert store.snapshot(tx.tx_id) == first[tx.tx_id]
    assert store.update_and_get_many([txs[p % len(txs)] for p in picks]) == [
        first[txs[p % len(txs)].tx_id] for p in picks
    ]
    assert state_of(store) == before
    assert views(store) == seen


@FAST
@given(txs=transactions(span_s=40 * 86_400, max_size=50))
def test_in_order_features_equal_a_naive_recomputation(txs: list[Transaction]) -> None:
    store, reference = InMemoryFeatureStore(), Reference()
    for tx in txs:
        expected, got = reference.update_and_get(tx), store.update_and_get(tx)
        assert set(got) == set(expected)
        assert differences(expected, got, skip=BUCKETED) == {}
        for name in BUCKETED:  # buckets may only misplace events of the bucket cut by the edge
            assert abs(got[name] - expected[name]) <= got["term_count_30d"] * 0.5
