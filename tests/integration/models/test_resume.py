"""A restarted worker resumes the newest model published by the same code, and only that."""

from __future__ import annotations

import orjson
import redis
from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from models.registry import ModelRegistry, Publisher
from state.settings import RedisSettings
from verdict.settings import Settings
from verdict.wiring import SUITE_ROLE, build_engine, new_suite


def test_the_newest_version_of_this_code_is_resumed_and_others_are_not(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    settings = Settings(redis=redis_settings)
    registry = ModelRegistry(redis_client, settings.models.registry_prefix)
    version = Publisher(registry, SUITE_ROLE, new_suite(settings.models)).publish()

    resumed = build_engine(settings, Metrics(CollectorRegistry()))
    assert resumed.model_publisher is not None
    assert resumed.model_publisher.version == version
    assert resumed.model_version() == f"suite:v{version}+0"

    key = registry.key(SUITE_ROLE, f"v{version}")
    meta = orjson.loads(redis_client.hget(key, "meta"))  # type: ignore[arg-type]
    redis_client.hset(key, "meta", orjson.dumps({**meta, "code": "older-release"}))
    fresh = build_engine(settings, Metrics(CollectorRegistry()))
    assert fresh.model_publisher is not None
    assert fresh.model_publisher.version is None  # untrained: a snapshot of other code is skipped
