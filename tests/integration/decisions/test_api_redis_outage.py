"""The inline API (and its batcher) against a real Redis that stops mid-run and comes back.

Redis here is an embedded server of the test's own (never the machine's shared one), started,
stopped and started again on the same port through the embedded stack's code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from decisions.api import ApiServices, create_app
from decisions.batching import DecisionBatcher
from decisions.engine import DecisionResult
from events.metrics import Metrics
from events.parsing import parse_transaction
from events.records import Transaction
from state.memory_store import InMemoryFeatureStore
from state.redis_store import RedisFeatureStore, SentFeatures
from state.settings import RedisSettings
from tests.integration.kafka_fixtures import free_port
from verdict.embedded import EmbeddedRedis
from verdict.settings import Settings, StackSettings
from verdict.wiring import build_engine


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    settings = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0")
    server = EmbeddedRedis(settings, StackSettings(home=tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _tx(i: int) -> dict[str, Any]:
    return {
        "tx_id": f"t{i}",
        "ts": 1_772_445_600 + i * 60,
        "customer_id": f"c{i % 5}",
        "amount": 40.0 + i,
        "terminal_id": "t1",
    }


def test_decisions_go_on_through_an_outage_and_recover_by_themselves(
    own_redis: EmbeddedRedis,
) -> None:
    settings = Settings(redis=own_redis.redis)
    metrics = Metrics(CollectorRegistry())
    parts = build_engine(settings, metrics)
    sent: list[tuple[str, bytes, bytes]] = []
    services = ApiServices(
        parts.engine, parts.store, lambda t, k, v: sent.append((t, k, v)), metrics, dict
    )

    async def scenario() -> dict[str, list[Any]]:
        client = TestClient(TestServer(create_app(services, settings.api)))
        await client.start_server()
        phases: dict[str, list[Any]] = {"before": [], "during": [], "after": []}
        try:
            for i in range(10):
                response = await client.post("/v1/decisions", data=orjson.dumps(_tx(i)))
                phases["before"].append((response.status, await response.json()))
            await asyncio.to_thread(own_redis.stop)
            for i in range(10, 40):
                response = await client.post("/v1/decisions", data=orjson.dumps(_tx(i)))
                phases["during"].append((response.status, await response.json()))
            view = await client.get("/v1/customers/c1/features")
            phases["during"].append((view.status, await view.json()))
            await asyncio.to_thread(own_redis.start)
            # the breaker's probe finds Redis back within its interval: wait for that, bounded
            deadline = time.monotonic() + 10
            while parts.engine.breaker is not None and parts.engine.breaker.is_open:
                assert time.monotonic() < deadline, "Redis is back but decisions stay degraded"
                await asyncio.sleep(0.05)
            for i in range(40, 50):
                response = await client.post("/v1/decisions", data=orjson.dumps(_tx(i)))
                phases["after"].append((response.status, await response.json()))
        finally:
            await client.close()
        return phases

    phases = asyncio.run(scenario())
    assert all(status == 200 for phase in phases.values() for status, _ in phase)
    assert not any(body["degraded"] for _, body in phases["before"])
    during = phases["during"][:-1]
    assert all(body["degraded"] for _, body in during)
    assert all(any(r["code"].startswith("degraded") for r in body["reasons"]) for _, body in during)
    _, view = phases["during"][-1]
    assert view["degraded"] is True
    assert not any(body["degraded"] for _, body in phases["after"])  # back by themselves
    assert phases["after"][-1][1]["features"]["cust_count_30d"] > 0


def test_batches_in_two_steps_decide_as_the_store_counts_through_an_outage(
    own_redis: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inline API's batcher, sending each batch and deciding it once Redis answers."""
    parts = build_engine(Settings(redis=own_redis.redis), Metrics(CollectorRegistry()))
    txs = [parse_transaction(orjson.dumps(_tx(i))) for i in range(72)]
    store = parts.store
    assert isinstance(store, RedisFeatureStore)
    sent: list[int] = []
    send_chunks = store.send_chunks

    def counted(batch: Sequence[Transaction]) -> SentFeatures:
        sent.append(len(batch))
        return send_chunks(batch)

    monkeypatch.setattr(store, "send_chunks", counted)

    async def burst(batcher: DecisionBatcher[DecisionResult], part: slice) -> list[DecisionResult]:
        return await asyncio.gather(*(batcher.decide(tx) for tx in txs[part]))

    async def scenario() -> dict[str, list[DecisionResult]]:
        batcher = DecisionBatcher(parts.engine, max_batch=16, overlap_from=8)
        phases = {"before": await burst(batcher, slice(0, 24))}
        await asyncio.to_thread(own_redis.stop)
        phases["during"] = await burst(batcher, slice(24, 48))
        await asyncio.to_thread(own_redis.start)
        breaker = parts.engine.breaker
        assert breaker is not None and await asyncio.to_thread(breaker.wait_closed, 10.0)
        phases["after"] = await burst(batcher, slice(48, 72))
        return phases

    phases = asyncio.run(scenario())
    assert sent[:2] == [16, 8]  # the first burst: two batches, each sent before it was read
    expected = InMemoryFeatureStore().update_and_get_many(txs[:24])
    assert [r.decision.features for r in phases["before"]] == expected
    assert not any(r.decision.degraded for r in phases["before"] + phases["after"])
    assert all(r.decision.degraded for r in phases["during"])
    assert [r.decision.tx_id for phase in phases.values() for r in phase] == [t.tx_id for t in txs]
