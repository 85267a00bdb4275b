"""Fixtures of the stream tests: a fresh broker per test, with the contract's topics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from events import topics
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import start_test_broker


@pytest.fixture
def fresh_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    """A broker of this test's own (the topic names are fixed, so tests cannot share one)."""
    process, settings = start_test_broker(tmp_path_factory.mktemp("broker"))
    ensure_topics(settings, topics.ALL_TOPICS)
    try:
        yield settings
    finally:
        process.stop()
