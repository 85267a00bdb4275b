"""The data side of ``verdict bench stream``: the simulated stream, the warm start, the paced
records and what the topics say afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.parsing import parse_transaction
from models.registry import ModelRegistry
from replay.simulator.config import SimulationConfig
from replay.simulator.run import LABELS_FILE, TRANSACTIONS_FILE, simulate
from replay.sources import StreamRecord
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from streams.settings import KafkaSettings
from verdict.settings import Settings
from verdict.wiring import SUITE_ROLE, new_suite

#: Transactions per simulated customer and day (the handbook's process, measured).
PER_CUSTOMER_DAY = 1.88


@dataclass(frozen=True)
class StreamData:
    """The simulated transactions, split by use: warm start, throughput run, paced runs (at the
    goal's rate, then at a rate the worker sustains)."""

    warm: list[bytes]
    throughput: list[bytes]
    paced: list[bytes]
    sustained: list[bytes]
    frauds: frozenset[str]


def simulated(folder: Path, warm: int, throughput: int, paced: int, sustained: int) -> StreamData:
    """Simulate enough of a bank (the handbook's process) and split its transactions."""
    needed = warm + throughput + paced + sustained
    customers = max(500, needed // 100)
    days = int(needed / (customers * PER_CUSTOMER_DAY) * 1.15) + 2
    config = SimulationConfig(customers=customers, terminals=2 * customers, days=days, seed=7)
    simulate(config, folder, progress=False)
    lines = (folder / TRANSACTIONS_FILE).read_bytes().splitlines()
    if len(lines) < needed:
        raise RuntimeError(f"the simulation made {len(lines)} transactions, {needed} needed")
    frauds = frozenset(
        label["tx_id"]
        for label in map(orjson.loads, (folder / LABELS_FILE).read_bytes().splitlines())
        if label["is_fraud"]
    )
    return StreamData(
        warm=lines[:warm],
        throughput=lines[warm : warm + throughput],
        paced=lines[warm + throughput : warm + throughput + paced],
        sustained=lines[warm + throughput + paced : needed],
        frauds=frauds,
    )


def warm_start(settings: Settings, redis_settings: RedisSettings, data: StreamData) -> int:
    """Load the warm-up transactions into the feature store and publish a model trained on
    them (with their labels) to the registry, as a worker that has run for a while finds.
    The model version published."""
    store = RedisFeatureStore(redis_settings, settings.state)
    suite = new_suite(settings.models)
    for start in range(0, len(data.warm), 500):
        txs = [parse_transaction(line) for line in data.warm[start : start + 500]]
        features = store.update_and_get_many(txs)
        suite.decide_many(features)
        suite.learn_many(features, [tx.tx_id in data.frauds for tx in txs])
    client = redis.Redis.from_url(redis_settings.url)
    try:
        registry = ModelRegistry(client, settings.models.registry_prefix)
        return registry.publish(SUITE_ROLE, suite, labels=len(data.warm))
    finally:
        client.close()


def paced_records(lines: list[bytes], rate: float, tick_s: float = 0.005) -> Iterator[StreamRecord]:
    """``lines`` as records due ``rate`` a second (in ticks of ``tick_s``): replayed at speed 1,
    they arrive at ``rate`` transactions a second whatever their event times."""
    per_tick = max(1, round(rate * tick_s))
    for i, line in enumerate(lines):
        key = orjson.loads(line)["customer_id"].encode()
        yield StreamRecord((i // per_tick) * tick_s, "transactions", key, line, "bench")


@dataclass(frozen=True)
class Stamped:
    """Broker timestamps (ms) of a topic's messages, by ``tx_id``, and per message."""

    by_tx: dict[str, int]
    times: list[int]


def read_stamps(kafka: KafkaSettings, topic: str, keep: frozenset[str] | None = None) -> Stamped:
    """The timestamp of every message of ``topic`` (the first one of each ``tx_id``)."""
    return asyncio.run(_read_stamps(kafka, topic, keep))


async def _read_stamps(kafka: KafkaSettings, topic: str, keep: frozenset[str] | None) -> Stamped:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        by_tx: dict[str, int] = {}
        times: list[int] = []
        left = {tp for tp in partitions if ends[tp] > 0}
        while left:
            batches = await consumer.getmany(*left, timeout_ms=500, max_records=50_000)
            for tp, messages in batches.items():
                for message in messages:
                    tx_id = orjson.loads(message.value)["tx_id"]
                    times.append(message.timestamp)
                    if keep is None or tx_id in keep:
                        by_tx.setdefault(tx_id, message.timestamp)
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
        return Stamped(by_tx, times)
    finally:
        await consumer.stop()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([5.0], 0.99)
    (2.0, 5.0)
    """
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]
