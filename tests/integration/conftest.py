"""Integration tests run against a real Redis and a real Kafka-protocol broker, never mocks."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.integration.redis_fixtures", "tests.integration.kafka_fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test."""
    for item in items:
        item.add_marker(pytest.mark.integration)
