"""Two workers in one consumer group split the partitions and decide as one worker does.

The same stream is decided twice on fresh brokers and an emptied Redis: by one worker, then by
two in one group (the second a scorer, as ``verdict serve --workers 2`` starts it). The models
are frozen (no labels, and an anomaly model that learnt a fixed warm-up and learns nothing
more): a model that keeps learning sees the stream in another order with two workers, so
its scores may differ, and what is under test is the stream path. Per ``tx_id`` the outcome,
the scores, the reasons and the customer's and transaction's features must be the same;
terminal and device features at decision time depend on how the partitions interleave (one
worker or two, each decision sees the other customers' transactions processed so far), so
their final state in Redis is what must be the same. For the same reason each customer has
a device of its own here: a rule on devices shared between customers (``shared_device``)
reads cross-partition state at decision time, and may decide differently on another
interleaving, with one worker as with two.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry

from decisions.api import ApiSettings
from events import topics
from events.metrics import Metrics
from models.anomaly import AnomalyModel
from models.base import Features, FloatArray
from replay.producer import replay_files
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from state.store import Entity
from streams.admin import ensure_topics
from streams.settings import StreamSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.streams.workers import (
    free_port,
    read_topic,
    recompute,
    synthetic_stream,
    write_lines,
)
from verdict.serve import run_worker
from verdict.settings import Settings
from verdict.wiring import EngineParts, build_engine

N = 3_000
#: What may differ between two runs of the same stream.
VOLATILE = {"latency_ms", "model_version", "_ts_ms"}


class FrozenAnomaly(AnomalyModel):
    """An anomaly model that stops learning once :attr:`frozen` is set."""

    frozen = False

    def surprises(self, xs: Sequence[Features], learn: bool) -> tuple[FloatArray, FloatArray]:
        return super().surprises(xs, learn=learn and not self.frozen)


class FrozenModels:
    """Builds engines whose anomaly model learnt ``warm_up`` and then nothing more."""

    def __init__(self, warm_up: list[dict[str, float]]) -> None:
        self.warm_up = warm_up

    def __call__(self, settings: Settings, metrics: Metrics, *, learner: bool) -> EngineParts:
        parts = build_engine(settings, metrics, learner=learner)
        models = settings.models
        anomaly = FrozenAnomaly(
            n_trees=models.anomaly_trees,
            height=models.anomaly_height,
            window_size=models.anomaly_window,
            seed=models.anomaly_seed,
        )
        anomaly.learn_many(self.warm_up)
        anomaly.frozen = True
        parts.suite.anomaly = anomaly  # also the fallback of a scorer's live model
        return parts


def _console_status(port: int) -> int:
    """The HTTP status of ``/console`` on a worker's API."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _decide(
    folder: Path, redis_settings: RedisSettings, path: Path, build: FrozenModels, workers: int
) -> tuple[list[dict[str, Any]], list[float], dict[tuple[Entity, str], dict[str, float]]]:
    """Decide the stream with ``workers`` workers in one group: the decisions, how many each
    worker decided, and the final state of every terminal and device."""
    broker, kafka = start_test_broker(folder / f"broker-{workers}")
    client = redis.Redis.from_url(redis_settings.url)
    client.flushdb()
    try:
        ensure_topics(kafka, topics.ALL_TOPICS)
        app_id = unique_topic("scale")

        def settings(index: int) -> Settings:
            stream = StreamSettings(
                app_id=app_id,
                data_dir=str(folder / f"w{workers}-{index}"),
                batch_size=200,
                batch_within_s=0.01,
                learner=index == 0,
            )
            api = ApiSettings(console=index == 0)  # one console is enough (see ApiSettings)
            return Settings(kafka=kafka, redis=redis_settings, stream=stream, api=api)

        registries = [CollectorRegistry() for _ in range(workers)]

        def decided() -> list[float]:
            return [
                r.get_sample_value("verdict_events_published_total", {"topic": "decisions"}) or 0.0
                for r in registries
            ]

        ports = [free_port() for _ in registries]

        async def scenario() -> None:
            stop = asyncio.Event()
            running = [
                asyncio.create_task(
                    run_worker(settings(i), port=ports[i], registry=r, stop=stop, build=build)
                )
                for i, r in enumerate(registries)
            ]
            try:
                await asyncio.to_thread(replay_files, [path], kafka.bootstrap_servers)
                deadline = time.monotonic() + 90
                while sum(decided()) < N and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                consoles = [await asyncio.to_thread(_console_status, port) for port in ports]
                assert consoles == [200] + [404] * (workers - 1), consoles
            finally:
                stop.set()
                await asyncio.gather(*running)

        asyncio.run(scenario())
        decisions = read_topic(kafka, topics.DECISIONS)
        store = RedisFeatureStore(redis_settings)
        entities: tuple[tuple[Entity, str], ...] = (
            ("terminal", "terminal_id"),
            ("device", "device_id"),
        )
        state = {
            (entity, name): store.get(entity, name)
            for entity, field in entities
            for name in _ids(path, field)
        }
    finally:
        client.flushdb()
        client.close()
        broker.stop()
    return decisions, decided(), state


def _ids(path: Path, field: str) -> set[str]:
    return {
        str(tx[field]) for tx in map(orjson.loads, path.read_bytes().splitlines()) if tx.get(field)
    }


def _comparable(decision: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in decision.items() if k not in VOLATILE}
    out["features"] = {
        k: v for k, v in decision["features"].items() if not k.startswith(("term_", "device_"))
    }
    return out


def test_two_workers_in_a_group_decide_as_one(
    tmp_path: Path, redis_settings: RedisSettings
) -> None:
    txs, lines = synthetic_stream(N, customers=200, terminals=60, devices=None, seed=3)
    path = write_lines(tmp_path / "transactions.jsonl", lines)
    reference = recompute(txs)
    warm_up = [reference.snapshot(tx["tx_id"]) or {} for tx in txs[:300]]
    build = FrozenModels(warm_up)

    one, (alone,), one_state = _decide(tmp_path, redis_settings, path, build, workers=1)
    two, split, two_state = _decide(tmp_path, redis_settings, path, build, workers=2)

    assert alone == N
    assert sum(split) == N and min(split) > 0, f"the partitions were not split: {split}"
    by_tx_one = {d["tx_id"]: _comparable(d) for d in one}
    by_tx_two = {d["tx_id"]: _comparable(d) for d in two}
    assert len(one) == len(two) == len(by_tx_one) == N
    assert set(by_tx_one) == set(by_tx_two) == {tx["tx_id"] for tx in txs}
    differing = [tx_id for tx_id in by_tx_one if by_tx_one[tx_id] != by_tx_two[tx_id]]
    assert not differing, (by_tx_one[differing[0]], by_tx_two[differing[0]])
    assert one_state == two_state
    for (entity, name), features in one_state.items():
        want = reference.get(entity, name)
        assert features == pytest.approx(want, rel=1e-9, abs=1e-9), (entity, name)
