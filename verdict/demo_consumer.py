"""The demo's reading side: a consumer that parses every event and measures the trip.

It reads the input topics from their beginning and counts only the messages produced since it
started (by their producer timestamp: the embedded broker reports end offsets wrongly after a
batched produce, so "seek to end" cannot be trusted there). It checks every message against its
contract (as the engine's agents will), and records the lag from the producer's timestamp to the
moment the message is parsed. It stops when it has seen as many events as were published, or
when it times out.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from events import EVENT_TYPES, Event, EventValidationError, Transaction, parse_event


@dataclass
class StreamTally:
    """What the consumer saw."""

    consumed: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    transactions_by_type: Counter[str] = field(default_factory=Counter)
    transactions_by_channel: Counter[str] = field(default_factory=Counter)
    amount_total: float = 0.0
    fraud_labels: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Events read, valid or not."""
        return sum(self.consumed.values())

    def latency_percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of producer-to-parsed latency, in ms."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class StreamCounter:
    """Consumes the input topics from their current end, parsing and tallying each event."""

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        topics: Sequence[str],
        contracts: Mapping[str, type[Event]] = EVENT_TYPES,
    ) -> None:
        self._since_ms = int(time.time() * 1000)
        self._contracts = contracts
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=list(bootstrap_servers),
            enable_auto_commit=False,
            fetch_max_bytes=32 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self._topics = list(topics)
        self.tally = StreamTally()

    async def start(self) -> None:
        """Assign every partition of the topics, from their beginning."""
        await self._consumer.start()
        partitions = [
            TopicPartition(topic, partition)
            for topic in self._topics
            for partition in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)

    async def consume(self, expected: asyncio.Future[int], timeout_s: float) -> StreamTally:
        """Read until ``expected`` (set when the producer is done) events are seen."""
        started = time.perf_counter()
        deadline = started + timeout_s
        try:
            while time.perf_counter() < deadline:
                if expected.done() and self.tally.total >= expected.result():
                    break
                batches = await self._consumer.getmany(timeout_ms=200, max_records=20_000)
                for partition, messages in batches.items():
                    for message in messages:
                        if message.timestamp < self._since_ms:
                            continue  # an earlier run's event
                        self._count(partition.topic, message.value, message.timestamp)
        finally:
            await self._consumer.stop()
        self.tally.seconds = time.perf_counter() - started
        return self.tally

    def _count(self, topic: str, value: bytes, produced_ms: int) -> None:
        tally = self.tally
        tally.consumed[topic] += 1
        try:
            event = parse_event(self._contracts[topic], value)
        except EventValidationError:
            tally.invalid[topic] += 1
            return
        tally.latencies_ms.append(time.time() * 1000 - produced_ms)
        if isinstance(event, Transaction):
            tally.transactions_by_type[f"{event.type} {event.direction}"] += 1
            tally.transactions_by_channel[event.channel or "unknown"] += 1
            tally.amount_total += event.amount
        elif getattr(event, "is_fraud", False):
            tally.fraud_labels += 1
