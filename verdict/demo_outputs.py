"""The demo's view of what the engine wrote: decisions, alerts and triggers, read back.

Reads the output topics from their beginning and keeps only the messages produced since the
demo started (by producer timestamp: the embedded broker's end offsets cannot be trusted after
batched produces). Decisions collapse by ``tx_id`` (at-least-once delivery may repeat one);
the producer timestamp of every decision message is kept, for the plot of decisions over time.
:func:`scored` pairs the decisions with the truth of the simulated labels.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from events import topics


@dataclass
class Outputs:
    """What came out of the engine."""

    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    first_ms: int = 0
    last_ms: int = 0
    decision_ms: list[int] = field(default_factory=list)

    @property
    def outcomes(self) -> Counter[str]:
        """Decisions by outcome."""
        return Counter(d["outcome"] for d in self.decisions.values())

    @property
    def decided_per_s(self) -> float:
        """Decisions per second between the first and the last one written."""
        span = (self.last_ms - self.first_ms) / 1000
        return len(self.decisions) / span if span > 0 else 0.0


class OutputReader:
    """Follows the output topics until the expected number of decisions is in."""

    def __init__(self, bootstrap_servers: Sequence[str], partitions: int) -> None:
        self._servers = list(bootstrap_servers)
        self._partitions = partitions
        self._since_ms = int(time.time() * 1000)
        self.outputs = Outputs()

    async def follow(self, expected: asyncio.Future[int], timeout_s: float) -> Outputs:
        """Read until ``expected`` decisions (known when the replay ends) are in, or time out."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self._servers, enable_auto_commit=False)
        await consumer.start()
        names = (topics.DECISIONS, topics.ALERTS, topics.TRIGGERS, topics.DEAD_LETTERS)
        partitions = [TopicPartition(t, p) for t in names for p in range(self._partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        out = self.outputs
        try:
            while time.monotonic() < deadline:
                if expected.done() and len(out.decisions) >= expected.result():
                    break
                batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
                for partition, messages in batches.items():
                    for message in messages:
                        if message.timestamp >= self._since_ms:
                            self._keep(partition.topic, message.value, message.timestamp)
        finally:
            await consumer.stop()
        return out

    def _keep(self, topic: str, value: bytes, produced_ms: int) -> None:
        body = orjson.loads(value)
        out = self.outputs
        if topic == topics.DECISIONS:
            out.decisions[body["tx_id"]] = body
            out.decision_ms.append(produced_ms)
            out.first_ms = produced_ms if not out.first_ms else min(out.first_ms, produced_ms)
            out.last_ms = max(out.last_ms, produced_ms)
        elif topic == topics.ALERTS:
            out.alerts.append(body)
        elif topic == topics.TRIGGERS:
            out.triggers.append(body)
        else:
            out.dead_letters.append(body)


@dataclass(frozen=True)
class Scored:
    """The decisions of labelled transactions: the truth and both scores, row by row."""

    is_fraud: list[bool]
    fraud_score: list[float]
    anomaly_score: list[float]

    @property
    def both_classes(self) -> bool:
        """Whether there are frauds and legitimate ones (curves and areas need both)."""
        return any(self.is_fraud) and not all(self.is_fraud)


def scored(outputs: Outputs, labels_path: Path) -> Scored:
    """Pair each decision with its transaction's label (the latest one, when there are more)."""
    truth: dict[str, bool] = {}
    with labels_path.open("rb") as handle:
        for line in handle:
            label = orjson.loads(line)
            truth[label["tx_id"]] = bool(label["is_fraud"])
    decided = [d for d in outputs.decisions.values() if d["tx_id"] in truth]
    return Scored(
        is_fraud=[truth[d["tx_id"]] for d in decided],
        fraud_score=[d["fraud_score"] for d in decided],
        anomaly_score=[d["anomaly_score"] for d in decided],
    )
