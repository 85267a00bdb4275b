"""A batch sent to Redis and read later (``send_chunks``): what the inline API's loop relies on."""

from __future__ import annotations

import select
import socket
import time

import pytest
import redis
from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from events.records import Transaction
from state.memory_store import InMemoryFeatureStore
from state.redis_store import CHUNK, RedisFeatureStore
from state.settings import RedisSettings
from state.store import FeatureStoreUnavailable

T0 = 1_772_362_800


def txs(count: int, start: int = 0) -> list[Transaction]:
    """``count`` transactions of four customers at two terminals, a minute apart."""
    return [
        Transaction(
            tx_id=f"t{n}",
            ts=T0 + 60 * n,
            customer_id=f"c{n % 4}",
            amount=10.0 + n,
            terminal_id=f"T{n % 2}",
        )
        for n in range(start, start + count)
    ]


def readable_within(fileno: int, seconds: float) -> bool:
    return bool(select.select([fileno], [], [], seconds)[0])


def test_a_sent_batch_becomes_readable_and_reads_as_the_blocking_call(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    batch = txs(CHUNK + 30)  # two chunks: the second is sent while the first is read
    store = RedisFeatureStore(redis_settings)
    sent = store.send_chunks(batch)
    fileno = sent.fileno()
    assert fileno is not None and sent.timeout_s == redis_settings.socket_timeout_s
    assert readable_within(fileno, 2.0)
    chunks = list(sent)
    assert [len(chunk) for chunk in chunks] == [CHUNK, 30]
    expected = InMemoryFeatureStore().update_and_get_many(batch)
    assert [f for chunk in chunks for f in chunk] == expected
    assert store.update_and_get_many(batch) == expected  # recorded once: repeats change nothing


def test_a_sent_batch_given_up_leaves_no_half_read_connection(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    store = RedisFeatureStore(redis_settings)
    first = txs(3)
    sent = store.send_chunks(first)
    assert sent.fileno() is not None
    sent.close()  # the answers are never read
    later = store.update_and_get(txs(1, start=3)[0])  # c3's first; on a pooled connection
    assert later["cust_count_1d"] == 1.0 and later["amount"] == 13.0
    assert store.update_and_get_many(first) == InMemoryFeatureStore().update_and_get_many(first)


def test_nothing_to_send_is_nothing_to_wait_for(redis_settings: RedisSettings) -> None:
    sent = RedisFeatureStore(redis_settings).send_chunks([])
    assert sent.fileno() is None and list(sent) == []


def test_sending_to_a_redis_that_is_down_raises_at_once_and_is_counted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = Metrics(CollectorRegistry())
    settings = RedisSettings(url=f"redis://127.0.0.1:{port}/0", connect_timeout_s=0.2)
    with pytest.raises(FeatureStoreUnavailable, match="connection"):
        RedisFeatureStore(settings, metrics=metrics).send_chunks(txs(2))
    errors = metrics.registry.get_sample_value(
        "verdict_feature_store_errors_total", {"store": "redis", "kind": "connection"}
    )
    assert errors == 1.0


def test_a_redis_that_stops_answering_is_not_readable_and_its_read_times_out(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    settings = redis_settings.model_copy(update={"socket_timeout_s": 0.1})
    store = RedisFeatureStore(settings)
    store.update_and_get(txs(1)[0])  # a connection in the pool, before Redis stops answering
    redis_client.execute_command("CLIENT", "PAUSE", 400, "ALL")  # every client waits 0.4 s
    paused = time.monotonic()
    sent = store.send_chunks(txs(2, start=1))
    fileno = sent.fileno()
    assert fileno is not None and sent.timeout_s == pytest.approx(0.1)
    assert not readable_within(fileno, 0.05)
    with pytest.raises(FeatureStoreUnavailable, match="timeout"):
        list(sent)
    assert time.monotonic() - paused < 0.4  # it gave up before Redis answered
    time.sleep(max(0.0, paused + 0.45 - time.monotonic()))  # the pause over for what follows
    assert store.update_and_get(txs(1, start=3)[0])["amount"] == 13.0
