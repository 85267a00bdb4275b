"""Hostile messages on every input topic of a running topology (real broker, real Redis).

Garbage (the fixed corpus and random bytes) is published between good messages on
``transactions``, ``labels``, ``offer-responses`` and ``customers``. Afterwards: every good
message was processed, every bad one is in ``dead-letters`` exactly once with its reason, its
source and its bytes, the last messages of each topic were processed (no agent is stuck), and
nothing was logged as an error (no step crashed).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from decisions.caps import RedisCapStore
from decisions.engine import DecisionEngine
from decisions.policy_file import PolicyHolder, load_policy
from events import topics
from events.metrics import Metrics
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.app import Topology
from streams.pipeline import StreamSteps
from streams.publisher import AsyncPublisher
from streams.settings import KafkaSettings, StreamSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.streams.workers import read_topic
from tests.unit.security.api_harness import Calm
from tests.unit.security.hostile import corpus, good_event, is_valid
from tests.unit.security.test_hostile_streams import ID_FIELD, INPUTS, Recorder

RANDOM_PER_TOPIC = 15


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    process, settings = start_test_broker(tmp_path_factory.mktemp("hostile-broker"))
    ensure_topics(settings, topics.ALL_TOPICS)
    try:
        yield settings
    finally:
        process.stop()


def _stream(topic: str, rnd: random.Random) -> tuple[list[bytes | None], list[str]]:
    """Good and bad messages of ``topic``, alternating, ending with a good one; the good ids."""
    bad: list[bytes | None] = list(corpus(topic))
    bad += [rnd.randbytes(rnd.randrange(1, 200)) for _ in range(RANDOM_PER_TOPIC)]
    bad = [value for value in bad if not is_valid(topic, value)]
    values: list[bytes | None] = []
    good: list[str] = []
    for i, hostile in enumerate([*bad, None]):
        event = good_event(topic, i)
        good.append(str(event[ID_FIELD[topic]]))
        values.append(orjson.dumps(event))
        if i < len(bad):
            values.append(hostile)
    return values, good


async def _publish(kafka: KafkaSettings, streams: dict[str, list[bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, max_request_size=2**20)
    await producer.start()
    try:
        for topic, values in streams.items():
            for value in values:  # one key: one partition, so the order is kept
                await producer.send(topic, value=value, key=b"c1")
        await producer.flush()
    finally:
        await producer.stop()


def _processed(topic: str, recorder: Recorder, decided: set[str]) -> set[str]:
    if topic == topics.TRANSACTIONS:
        return decided
    if topic == topics.LABELS:
        return set(recorder.labels)
    if topic == topics.OFFER_RESPONSES:
        return set(recorder.responses)
    return set(recorder.profiles)


def test_garbage_on_every_input_topic_is_dead_lettered_and_the_rest_goes_on(
    broker: KafkaSettings,
    redis_settings: RedisSettings,
    redis_client: redis.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    rnd = random.Random(10)
    streams: dict[str, list[bytes | None]] = {}
    good: dict[str, list[str]] = {}
    for topic in INPUTS:
        streams[topic], good[topic] = _stream(topic, rnd)
    bad_total = sum(len(streams[t]) - len(good[t]) for t in INPUTS)

    metrics = Metrics(CollectorRegistry())
    store = RedisFeatureStore(redis_settings, metrics=metrics)
    engine = DecisionEngine(PolicyHolder(load_policy()), store, Calm(), RedisCapStore(redis_client))
    recorder = Recorder()
    stream = StreamSettings(
        app_id=unique_topic("hostile"), data_dir=str(tmp_path / "w"), batch_within_s=0.01
    )

    async def scenario() -> set[str]:
        publisher = AsyncPublisher(broker.bootstrap_servers, metrics)
        await publisher.start()
        steps = StreamSteps(engine, recorder, recorder, b"test-key", metrics)
        topology = Topology(broker, stream, steps, publisher, metrics)
        await topology.app.start()
        try:
            await _publish(broker, streams)
            wanted = set(good[topics.TRANSACTIONS])
            found = await asyncio.to_thread(
                read_topic, broker, topics.DECISIONS, lambda f: wanted <= {d["tx_id"] for d in f}
            )
            decided = {d["tx_id"] for d in found}
            deadline = time.monotonic() + 60  # then the assertions below say what is missing
            while time.monotonic() < deadline and not all(
                set(good[t]) <= _processed(t, recorder, decided) for t in INPUTS
            ):
                await asyncio.sleep(0.05)
            return decided
        finally:
            await topology.app.stop()
            await publisher.stop()

    decided = asyncio.run(scenario())
    for topic in INPUTS:  # every good message, the last ones included: no agent is stuck
        assert set(good[topic]) <= _processed(topic, recorder, decided), topic
    letters = read_topic(broker, topics.DEAD_LETTERS, lambda f: len(f) >= bad_total, 60)
    assert len(letters) == bad_total
    for topic in INPUTS:
        mine = [letter for letter in letters if letter["source"]["topic"] == topic]
        sent = streams[topic][1::2]  # every other message is a bad one
        assert [letter["source"]["offset"] for letter in mine] == sorted(
            letter["source"]["offset"] for letter in mine
        )
        got = [
            None if lt["value_b64"] is None else base64.b64decode(lt["value_b64"]) for lt in mine
        ]
        assert got == sent, topic
        assert all(lt["reason"] in ("invalid_event", "malformed_payload") for lt in mine)
        assert all(lt["problems"] and lt["error"] for lt in mine)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
