"""The inline API on a loopback port with in-memory stores, for the security unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from decisions.api import ApiServices, ApiSettings, create_app
from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import Scores
from events.metrics import Metrics
from state.memory_store import InMemoryFeatureStore

TX: Final = {"tx_id": "t1", "ts": "2026-03-02T10:00:00Z", "customer_id": "c42", "amount": 25.0}


class Calm:
    """Models that find nothing (the API is under test, not the models)."""

    def score(self, features: Mapping[str, float]) -> Scores:
        return Scores(fraud=0.01, anomaly=0.1, model_version="test-v1")


@dataclass
class Served:
    """A client of the served API, its port and its metrics."""

    client: TestClient[web.Request, web.Application]
    port: int
    metrics: Metrics

    def sample(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A metric's value (0 when it was never recorded)."""
        return self.metrics.registry.get_sample_value(name, dict(labels or {})) or 0.0


@asynccontextmanager
async def served(settings: ApiSettings) -> AsyncIterator[Served]:
    """The API with ``settings`` on a free loopback port until the block ends."""
    store = InMemoryFeatureStore()
    engine = DecisionEngine(PolicyHolder(load_policy()), store, Calm(), InMemoryCapStore())
    metrics = Metrics(CollectorRegistry())
    ready = {"redis": True, "broker": True}
    services = ApiServices(engine, store, lambda t, k, v: None, metrics, lambda: ready)
    server = TestServer(create_app(services, settings), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    try:
        assert server.port is not None
        yield Served(client, server.port, metrics)
    finally:
        await client.close()
