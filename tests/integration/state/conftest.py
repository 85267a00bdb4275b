"""Both feature stores behind one fixture: every conformance case runs on each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from state.memory_store import InMemoryFeatureStore
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings, StateSettings
from state.store import FeatureStore

MakeStore = Callable[..., FeatureStore]


@pytest.fixture(params=["memory", "redis", "redis_remembering_indexes"])
def make_store(
    request: pytest.FixtureRequest, redis_settings: RedisSettings, redis_client: redis.Redis
) -> MakeStore:
    """A factory of fresh stores of one kind (Redis: database 15, emptied for each test; also
    as a backtest's stage runs it, remembering the indexes it wrote instead of reading them)."""

    def make(settings: StateSettings | None = None, metrics: Metrics | None = None) -> FeatureStore:
        if request.param == "memory":
            return InMemoryFeatureStore(settings, metrics)
        store = RedisFeatureStore(redis_settings, settings, metrics)
        if request.param == "redis_remembering_indexes":
            store.indexes = 3  # few, so that labels of older transactions read theirs
        return store

    return make


@pytest.fixture
def store(make_store: MakeStore) -> FeatureStore:
    """A fresh store with default settings."""
    return make_store()


@pytest.fixture
def metrics() -> Metrics:
    """Metrics on a registry of their own."""
    return Metrics(CollectorRegistry())
