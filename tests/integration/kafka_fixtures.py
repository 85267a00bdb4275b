"""A real Kafka-protocol broker for the integration tests.

A fresh embedded Tansu broker is started for the test session on a free loopback port, with a
stack home of its own under pytest's temporary folder, through the same code as
``verdict stack up`` (:class:`~verdict.embedded.EmbeddedBroker`); it is stopped at the end. It
never touches a developer's stack on 9092. Tansu keeps everything in memory, so each session
starts empty; tests name their topics with :func:`unique_topic` so they never see each other's
messages.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.settings import KafkaSettings
from verdict.embedded import EmbeddedBroker
from verdict.settings import StackSettings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique_topic(prefix: str = "test") -> str:
    """A topic name no other test uses: ``<prefix>-<random hex>`` (legal Kafka characters)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", prefix).strip("-.")[:180] or "test"
    return f"{clean}-{uuid.uuid4().hex[:12]}"


def start_test_broker(home: Path) -> tuple[EmbeddedBroker, KafkaSettings]:
    """Start an embedded broker on a free port with its pid file and log under ``home``."""
    settings = KafkaSettings(url=f"kafka://127.0.0.1:{free_port()}")
    broker = EmbeddedBroker(settings, StackSettings(home=home, start_timeout_s=20.0))
    broker.start()
    return broker, settings


@pytest.fixture(scope="session")
def kafka_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    """Settings that point at a fresh embedded broker, up for the whole session."""
    broker, settings = start_test_broker(tmp_path_factory.mktemp("kafka-stack"))
    try:
        yield settings
    finally:
        broker.stop()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name of this test's own (the broker creates it on first use)."""
    return unique_topic(request.node.name)
