"""The order and repeat properties, against Redis (fewer examples than the in-memory run)."""

from __future__ import annotations

import itertools
import random

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.records import Transaction
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from tests.unit.state.streams import transactions

FEW = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_runs = itertools.count()


def renamed(txs: list[Transaction], prefix: str) -> list[Transaction]:
    """The same transactions on entities (and tx ids) of their own."""

    def name(value: str | None) -> str | None:
        return None if value is None else f"{prefix}{value}"

    return [
        tx.model_copy(
            update={
                "tx_id": f"{prefix}{tx.tx_id}",
                "customer_id": f"{prefix}{tx.customer_id}",
                "terminal_id": name(tx.terminal_id),
                "device_id": name(tx.device_id),
            }
        )
        for tx in txs
    ]


def views(store: RedisFeatureStore, txs: list[Transaction], prefix: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for tx in txs:
        for kind, key in (("customer", tx.customer_id), ("terminal", tx.terminal_id),
                          ("device", tx.device_id)):  # fmt: skip
            if key is not None:
                out[f"{kind}/{key.removeprefix(prefix)}"] = store.get(kind, key)  # type: ignore[arg-type]
    return out


@FEW
@given(txs=transactions(max_size=30), seed=st.integers(0, 2**16))
def test_arrival_order_leaves_the_final_state_unchanged(
    txs: list[Transaction], seed: int, redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    redis_client.flushdb()  # each example on an empty database 15
    store = RedisFeatureStore(redis_settings)
    run = next(_runs)
    ordered, mixed = f"o{run}-", f"m{run}-"
    store.update_and_get_many(renamed(txs, ordered))
    shuffled = renamed(txs, mixed)
    random.Random(seed).shuffle(shuffled)
    for tx in shuffled:
        store.update_and_get(tx)
    assert views(store, renamed(txs, mixed), mixed) == views(store, renamed(txs, ordered), ordered)
    last = max(tx.ts for tx in txs)
    probes = [
        Transaction(tx_id="probe", ts=last + 60, customer_id=tx.customer_id, amount=1.0,
                    terminal_id=tx.terminal_id, device_id=tx.device_id, country=tx.country)
        for tx in txs[:3]
    ]  # fmt: skip
    for probe in probes:
        assert store.update_and_get(renamed([probe], ordered)[0]) == store.update_and_get(
            renamed([probe], mixed)[0]
        )


@FEW
@given(txs=transactions(max_size=30), picks=st.lists(st.integers(0, 1000), min_size=1, max_size=10))
def test_repeating_a_transaction_changes_no_byte(
    txs: list[Transaction],
    picks: list[int],
    redis_settings: RedisSettings,
    redis_client: redis.Redis,
) -> None:
    redis_client.flushdb()  # each example on an empty database 15
    store = RedisFeatureStore(redis_settings)
    first = store.update_and_get_many(txs)
    before, expiry = everything(redis_client), expiries(redis_client)
    repeats = [txs[p % len(txs)] for p in picks]
    assert store.update_and_get_many(repeats) == [first[p % len(txs)] for p in picks]
    assert everything(redis_client) == before
    after = expiries(redis_client)
    assert all(0 < after[key] <= expiry[key] for key in expiry)  # no expiry pushed back


def everything(client: redis.Redis) -> dict[bytes, object]:
    """Every key's value (hashes as dicts: their internal order may move)."""
    return {
        key: client.hgetall(key) if client.type(key) == b"hash" else client.get(key)
        for key in client.scan_iter()
    }


def expiries(client: redis.Redis) -> dict[bytes, int]:
    return {key: client.pttl(key) for key in client.scan_iter()}
