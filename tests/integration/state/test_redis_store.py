"""What only the Redis store has: timeouts, script reloads, Cluster slots, expiry, memory."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from events.metrics import Metrics
from events.records import CustomerProfile, Label, Transaction
from state.redis_commands import pack
from state.redis_store import RedisFeatureStore, bucket_key, entity_key, index_key
from state.settings import RedisSettings, StateSettings
from state.store import FeatureStoreUnavailable
from state.windows import Retention

T0 = 1_772_362_800
D = 86_400


def tx(n: int, at: float, customer: str = "c1", **fields: object) -> Transaction:
    return Transaction(tx_id=f"t{n}", ts=T0 + at, customer_id=customer, amount=12.5, **fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


PROFILE = CustomerProfile(customer_id="c1", home_country="FR")
LABEL = Label(tx_id="t1", is_fraud=True, ts=T0, source="analyst")
CALLS: list[tuple[str, Callable[[RedisFeatureStore], object]]] = [
    ("update_and_get", lambda s: s.update_and_get(tx(1, 0))),
    ("update_and_get_many", lambda s: s.update_and_get_many([tx(1, 0), tx(2, 1)])),
    ("get", lambda s: s.get("customer", "c1")),
    ("snapshot", lambda s: s.snapshot("t1")),
    ("put_customer", lambda s: s.put_customer(PROFILE)),
    ("learn_label", lambda s: s.learn_label(LABEL)),
]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_redis_down_fails_fast_with_one_typed_error(
    name: str, call: Callable[[RedisFeatureStore], object], metrics: Metrics
) -> None:
    settings = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2)
    store = RedisFeatureStore(settings, metrics=metrics)
    started = time.perf_counter()
    with pytest.raises(FeatureStoreUnavailable) as caught:
        call(store)
    assert time.perf_counter() - started < 0.2 + 0.3
    assert caught.value.http_status == 503 and "Redis" in str(caught.value)
    errors = metrics.registry.get_sample_value(
        "verdict_feature_store_errors_total", {"store": "redis", "kind": "connection"}
    )
    assert errors == 1.0


def test_a_hung_redis_fails_within_the_command_timeout(silent_server: int) -> None:
    settings = RedisSettings(url=f"redis://127.0.0.1:{silent_server}/0", socket_timeout_s=0.15)
    store = RedisFeatureStore(settings)
    started = time.perf_counter()
    with pytest.raises(FeatureStoreUnavailable, match="timeout"):
        store.update_and_get(tx(1, 0))
    assert 0.1 < time.perf_counter() - started < 0.15 + 0.3


def test_scripts_are_loaded_when_redis_does_not_know_them(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    """A script variant never loaded (its own margin) meets NOSCRIPT first, as after a restart.

    No SCRIPT FLUSH: the script cache is server-wide, and the Redis may be shared.
    """
    margin = 3600 + int(time.time() * 1000) % 86_400  # a SHA this server has not seen
    settings = StateSettings(late_margin_s=margin)
    store = RedisFeatureStore(redis_settings, settings)
    shas = [script.sha.decode() for script in store.scripts.values()]
    assert redis_client.script_exists(*shas) == [False, False, False]
    assert store.update_and_get(tx(1, 0, terminal_id="T"))["cust_count_1d"] == 1.0
    assert redis_client.script_exists(*shas) == [True, True, True]
    fresh = RedisFeatureStore(redis_settings, StateSettings(late_margin_s=margin + 1))
    assert fresh.update_and_get_many([tx(2, 60), tx(3, 120)])[1]["cust_count_1d"] == 3.0
    assert fresh.get("customer", "c1")["cust_count_1d"] == 3.0


def test_each_script_touches_one_cluster_slot() -> None:
    for entity, entity_id in (("customer", "c:42"), ("terminal", "T9"), ("device", "d-1")):
        key = entity_key(entity, entity_id)  # type: ignore[arg-type]
        keys = [key, key + b":r", key + b":h", bucket_key(entity, entity_id, 20_000)]  # type: ignore[arg-type]
        assert len({key_slot(k) for k in keys}) == 1, keys
    assert index_key("tx-1").startswith(b"{x:tx-1}")


def test_keys_expire_idle_entities_and_old_snapshots(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    settings = StateSettings(idle_expiry_s=100 * D)
    RedisFeatureStore(redis_settings, settings).update_and_get(
        tx(1, 0, terminal_id="T", device_id="D")
    )
    retention = Retention.from_settings(settings).snapshot_s
    day = T0 // D
    for key in (b"{c:c1}", b"{t:T}", b"{t:T}:r", b"{t:T}:h", b"{d:D}"):
        assert 99 * D < redis_client.ttl(key) <= 101 * D, key
    for key in (b"{c:c1}:s:%d" % day, b"{t:T}:s:%d" % day, b"{d:D}:s:%d" % day, b"{x:t1}"):
        assert retention - 60 < redis_client.ttl(key) <= retention, key


def test_customer_state_stays_under_2_kib_at_4_a_day(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    """31 days at 4 a day (a salary and transfers in), 12 terminals, 2 devices, 2 countries."""
    store = RedisFeatureStore(redis_settings)
    store.put_customer(CustomerProfile(customer_id="c1", home_country="FR"))
    txs = []
    for n in range(4 * 40):
        credit = n % 25 == 0
        txs.append(
            Transaction(
                tx_id=f"m{n}",
                ts=T0 + n * D / 4,
                customer_id="c1",
                amount=2500.0 if credit else 10.0 + n % 97,
                direction="credit" if credit else "debit",
                terminal_id=None if credit else f"T{n % 12}",
                device_id=f"D{n % 2}" if n % 3 == 0 else None,
                country="FR" if n % 10 else "ES",
            )
        )
    store.update_and_get_many(txs)
    assert (redis_client.memory_usage(b"{c:c1}") or 0) < 2048


def test_both_stores_agree_on_a_noisy_stream(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    """Late arrivals, repeats, labels, profiles: identical features and views."""
    from state.memory_store import InMemoryFeatureStore
    from tests.unit.state.streams import realistic

    txs = realistic(seed=5, customers=20, days=40, late_share=0.1, max_late_s=3 * D,
                    repeat_share=0.05, terminals=8)  # fmt: skip
    memory, red = InMemoryFeatureStore(), RedisFeatureStore(redis_settings)
    for s in (memory, red):
        s.put_customer(CustomerProfile(customer_id="c001", home_country="FR", ts=T0))
    for start in range(0, len(txs), 97):
        batch = txs[start : start + 97]
        assert red.update_and_get_many(batch) == memory.update_and_get_many(batch)
        probe = batch[0]
        verdict = Label(
            tx_id=probe.tx_id, is_fraud=start % 2 == 0, ts=probe.ts + D, source="analyst"
        )
        assert red.learn_label(verdict) == memory.learn_label(verdict)
    for kind, ids in (
        ("customer", {t.customer_id for t in txs}),
        ("terminal", {t.terminal_id for t in txs}),
    ):
        for entity_id in ids:
            if entity_id is not None:
                assert red.get(kind, entity_id) == memory.get(kind, entity_id)  # type: ignore[arg-type]


def test_a_store_that_remembers_indexes_reads_only_the_forgotten_ones(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    """A backtest's stage is the only writer of its database: labels of the transactions it
    remembers skip reading their index, and are applied as the others are."""
    store = RedisFeatureStore(redis_settings)
    store.indexes = 2
    store.update_and_get_many([tx(1, 0), tx(2, 60, terminal_id="T1"), tx(3, 120)])
    store.update_and_get(tx(2, 60, terminal_id="T1"))  # a repeat: remembered once
    sent: list[bytes] = []
    run = store._run

    def counted(commands: list[bytes]) -> list[Any]:
        sent.extend(commands)
        return run(commands)

    store._run = counted  # type: ignore[method-assign]
    labels = [Label(tx_id=f"t{n}", ts=T0 + D, is_fraud=n == 2, source="chargeback")
              for n in (1, 2, 3, 9)]  # fmt: skip
    learnt = list(store.learn_labels(labels))
    read = [command for command in sent if command.startswith(b"*2\r\n$3\r\nGET")]
    assert read == [pack(b"GET", index_key("t1")), pack(b"GET", index_key("t9"))]
    assert [x is not None for x in learnt] == [True, True, True, False]  # t9: never seen
    assert learnt[1] is not None and learnt[1]["term_count_1d"] == 1.0
    again = [Label(tx_id=label.tx_id, ts=label.ts + 1, is_fraud=not label.is_fraud,
                   source="chargeback") for label in labels]  # fmt: skip
    assert list(store.learn_labels(again)) == learnt  # corrections: news again, same features
    assert list(store.learn_labels(again)) == [None] * 4  # repeats
