"""The asynchronous publisher against a real broker, and against none."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from streams.admin import ensure_topics
from streams.publisher import AsyncPublisher
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import free_port
from tests.integration.streams.workers import read_at_least
from verdict.embedded import EmbeddedBroker
from verdict.settings import StackSettings


async def _read_all(settings: KafkaSettings, topic: str, expected: int) -> list[bytes]:
    return await read_at_least(settings, topic, expected, timeout_s=20, decode=bytes)


def test_every_enqueued_event_is_delivered(kafka_settings: KafkaSettings, topic_name: str) -> None:
    ensure_topics(kafka_settings, [topic_name])
    metrics = Metrics(CollectorRegistry())

    async def scenario() -> list[bytes]:
        publisher = AsyncPublisher(kafka_settings.bootstrap_servers, metrics)
        await publisher.start()
        for i in range(5_000):
            publisher(topic_name, f"c{i % 13}".encode(), f"event-{i}".encode())
        await publisher.stop(drain_timeout_s=20)
        return await _read_all(kafka_settings, topic_name, 5_000)

    values = asyncio.run(scenario())
    assert sorted(values) == sorted(f"event-{i}".encode() for i in range(5_000))
    published = metrics.registry.get_sample_value(
        "verdict_events_published_total", {"topic": topic_name}
    )
    assert published == 5_000


def test_without_a_broker_events_wait_and_overflow_is_counted_not_blocking() -> None:
    metrics = Metrics(CollectorRegistry())

    async def scenario() -> int:
        publisher = AsyncPublisher([f"127.0.0.1:{free_port()}"], metrics, max_buffered=100)
        await publisher.start()
        for i in range(250):  # a plain call: it returns at once, broker or no broker
            publisher("decisions", b"k", str(i).encode())
        await asyncio.sleep(0.2)  # the sender keeps trying; nothing is lost from the buffer
        buffered = publisher.buffered
        await publisher.stop(drain_timeout_s=0.1)
        return buffered

    buffered = asyncio.run(scenario())
    assert buffered == 100
    dropped = metrics.registry.get_sample_value(
        "verdict_publish_dropped_total", {"topic": "decisions"}
    )
    assert dropped == 150


def test_events_buffered_while_the_broker_is_down_arrive_when_it_starts(tmp_path: Path) -> None:
    port = free_port()
    settings = KafkaSettings(url=f"kafka://127.0.0.1:{port}")
    metrics = Metrics(CollectorRegistry())

    async def scenario() -> list[bytes]:
        publisher = AsyncPublisher(settings.bootstrap_servers, metrics)
        await publisher.start()
        for i in range(300):
            publisher("decisions", b"k", f"e{i}".encode())
        await asyncio.sleep(0.3)
        assert publisher.buffered == 300
        broker = EmbeddedBroker(settings, StackSettings(home=tmp_path))
        await asyncio.to_thread(broker.start)
        try:
            await asyncio.to_thread(ensure_topics, settings, ["decisions"])
            deadline = time.monotonic() + 20
            while publisher.buffered and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await publisher.stop()
            return await _read_all(settings, "decisions", 300)
        finally:
            await asyncio.to_thread(broker.stop)

    values = asyncio.run(scenario())
    assert sorted(values) == sorted(f"e{i}".encode() for i in range(300))
