"""A worker that dies mid-stream and is restarted: nothing lost, nothing counted twice.

``verdict serve`` runs as a process of its own on a fresh broker and the test Redis. A stream
of 20,000 transactions (8,000 for SIGTERM), some published twice (an upstream retry), is
replayed; the worker is stopped when some but not all decisions are out (SIGKILL: a crash;
SIGTERM: a graceful stop), then started again in the same consumer group. At the end every
transaction has a decision, decisions collapse by ``tx_id`` to exactly the stream's
transactions, and every feature in Redis equals an exact recomputation of the stream in memory.
After a graceful stop no transaction is even delivered twice: what was decided was committed.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from replay.producer import replay_files
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import unique_topic
from tests.integration.streams.workers import (
    ServeProcess,
    assert_state_equals,
    decisions_for,
    read_topic,
    recompute,
    synthetic_stream,
    wait_until,
    write_lines,
)

#: Transactions of the stream, by how the worker is stopped (a crash gets the larger stream).
SIZES = {signal.SIGKILL: 20_000, signal.SIGTERM: 8_000}


@pytest.mark.parametrize("signum", list(SIZES), ids=["sigkill", "sigterm"])
def test_a_worker_stopped_mid_stream_and_restarted_loses_and_doubles_nothing(
    fresh_broker: KafkaSettings,
    redis_settings: RedisSettings,
    redis_client: redis.Redis,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    n = SIZES[signum]
    txs, lines = synthetic_stream(n, repeats=0.02, seed=int(signum))
    path = write_lines(tmp_path / "transactions.jsonl", lines)
    app_id = unique_topic("recovery")
    workers = [
        ServeProcess(
            fresh_broker, redis_settings.url, app_id, tmp_path / "w", tmp_path / f"{i}.log"
        )
        for i in (1, 2)
    ]
    try:
        first = workers[0].start()
        replay_files([path], fresh_broker.bootstrap_servers, validate=False)
        wait_until(lambda: first.published("decisions") >= n // 5, 120, "the first decisions")
        first.signal(signum)
        assert first.wait() in (0, -signal.SIGKILL), first.log()
        before = {d["tx_id"] for d in read_topic(fresh_broker, "decisions")}
        assert 0 < len(before) < n, "the worker was to be stopped mid-stream"

        second = workers[1].start()
        restarted = time.monotonic()
        wait_until(lambda: second.published("decisions") > 0, 120, "a decision after restart")
        print(
            f"\n{signum.name}: {len(before)} of {n} decided before the stop; first decision "
            f"{time.monotonic() - restarted:.1f} s after the restart"
        )
        decisions = decisions_for(fresh_broker, {tx["tx_id"] for tx in txs})
    finally:
        for worker in workers:
            worker.stop()

    by_tx = Counter(d["tx_id"] for d in decisions)
    assert set(by_tx) == {tx["tx_id"] for tx in txs}
    first_features: dict[str, dict[str, float]] = {}
    for d in decisions:  # a redelivered transaction is decided on the features of its first time
        assert first_features.setdefault(d["tx_id"], d["features"]) == d["features"]
    if signum == signal.SIGTERM:  # a graceful stop commits what it decided: no redelivery
        published = Counter(line.split(b'"tx_id":"', 1)[1].split(b'"', 1)[0] for line in lines)
        assert all(by_tx[tx_id.decode()] <= n for tx_id, n in published.items())

    store = RedisFeatureStore(redis_settings)
    compared = assert_state_equals(store, recompute(txs), txs)
    assert compared > 500
