"""What the stream tests share: synthetic streams, `verdict serve` processes, topic readers, and
the exact recomputation of the features a stream leaves in Redis."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from events.metrics import Metrics
from events.parsing import parse_transaction
from state.memory_store import InMemoryFeatureStore
from state.redis_store import RedisFeatureStore
from state.store import Entity
from streams.app import Topology
from streams.pipeline import StreamSteps
from streams.publisher import AsyncPublisher
from streams.settings import KafkaSettings, StreamSettings
from verdict.processes import end_child

T0: Final = 1_772_445_600  # 2026-03-02 10:00 UTC
ROOT: Final = Path(__file__).resolve().parents[3]
#: Tight batches: a test stream is small, and a batch is what a crash interrupts.
BATCH_ENV: Final = {"VERDICT_STREAM__BATCH_SIZE": "200", "VERDICT_STREAM__BATCH_WITHIN_S": "0.01"}


def synthetic_stream(
    n: int,
    *,
    customers: int = 300,
    terminals: int = 200,
    devices: int | None = 120,
    repeats: float = 0.0,
    seed: int = 1,
    prefix: str = "tx",
    start: float = T0,
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """``n`` distinct transactions in event-time order, and the lines to publish them.

    A share ``repeats`` of them is published a second time a little later, as an upstream
    producer that retries does (at-least-once), so the topic holds repeats of ``tx_id``.
    ``devices``: how many devices the customers share; ``None``: each customer has its own.
    """
    rnd = random.Random(seed)
    txs: list[dict[str, Any]] = []
    for i in range(n):
        tx: dict[str, Any] = {
            "tx_id": f"{prefix}{i:06d}",
            "ts": start + i * 17 + rnd.random(),
            "customer_id": f"c{rnd.randrange(customers):04d}",
            "amount": round(rnd.lognormvariate(3.5, 1.0), 2),
            "terminal_id": f"t{rnd.randrange(terminals):04d}",
            "country": "FR" if rnd.random() < 0.95 else "DE",
        }
        if rnd.random() < 0.3:
            own = f"d-{tx['customer_id']}"
            tx["device_id"] = own if devices is None else f"d{rnd.randrange(devices):04d}"
        if rnd.random() < 0.05:
            tx["direction"] = "credit"
        txs.append(tx)
    lines = [orjson.dumps(tx) for tx in txs]
    for i in sorted(rnd.sample(range(n), int(n * repeats)), reverse=True):
        lines.insert(min(len(lines), i + 1 + rnd.randrange(50)), lines[i])
    return txs, lines


@asynccontextmanager
async def running_topology(
    broker: KafkaSettings, stream: StreamSettings, steps: StreamSteps, metrics: Metrics
) -> AsyncIterator[Topology]:
    """The faust topology of ``steps`` running in this loop with a publisher of its own
    (``topology.publisher``), stopped on the way out."""
    publisher = AsyncPublisher(broker.bootstrap_servers, metrics)
    await publisher.start()
    topology = Topology(broker, stream, steps, publisher, metrics)
    await topology.app.start()
    try:
        yield topology
    finally:
        await topology.app.stop()
        await publisher.stop()


def write_lines(path: Path, lines: Iterable[bytes]) -> Path:
    """A JSONL file of ``lines``."""
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def free_port() -> int:
    """A free TCP port on loopback."""
    from tests.integration.kafka_fixtures import free_port as port

    return port()


class ServeProcess:
    """One ``verdict serve`` worker in a process of its own, configured by environment."""

    def __init__(
        self,
        kafka: KafkaSettings,
        redis_url: str,
        app_id: str,
        data_dir: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")},
            "VERDICT_KAFKA__URL": kafka.url,
            "VERDICT_REDIS__URL": redis_url,
            "VERDICT_STREAM__APP_ID": app_id,
            "VERDICT_STREAM__DATA_DIR": str(data_dir),
            "VERDICT_API__PORT": str(self.port),
            **BATCH_ENV,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        """Start the worker (its log goes to ``log_path``)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "verdict.cli", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def metrics_text(self) -> str:
        """The worker's ``/metrics`` page ('' while it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return ""

    def published(self, topic: str) -> int:
        """Events the worker's publisher has delivered to ``topic`` so far."""
        for family in text_string_to_metric_families(self.metrics_text()):
            if family.name == "verdict_events_published":
                return int(
                    sum(
                        s.value
                        for s in family.samples
                        if s.name.endswith("_total") and s.labels.get("topic") == topic
                    )
                )
        return 0

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the worker."""
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = 30.0) -> int:
        """Wait for the worker to exit; its status."""
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """End the worker if it still runs (SIGTERM, then SIGKILL)."""
        end_child(self.process, timeout_s=20)

    def log(self) -> str:
        """The tail of the worker's log (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-4000:]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition`` until it holds; the seconds it took. Fails the test at the timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def read_topic(
    kafka: KafkaSettings,
    topic: str,
    done: Callable[[list[dict[str, Any]]], bool] | None = None,
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Every message of ``topic`` from the beginning: until ``done`` holds, or (without it) up
    to the end offsets found at the start. Each message is its JSON body plus ``_ts_ms``, the
    broker timestamp."""
    return asyncio.run(_read_topic(kafka, topic, done, timeout_s))


async def _read_topic(
    kafka: KafkaSettings,
    topic: str,
    done: Callable[[list[dict[str, Any]]], bool] | None,
    timeout_s: float,
) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=200, max_records=20_000)).values():
                for m in messages:
                    found.append({**orjson.loads(m.value), "_ts_ms": m.timestamp})
            if done is not None:
                if done(found):
                    return found
            elif all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                return found
        if done is not None:
            pytest.fail(f"timed out after {timeout_s:.0f} s reading {topic}")
        return found
    finally:
        await consumer.stop()


async def read_at_least(
    kafka: KafkaSettings,
    topic: str,
    until: int,
    timeout_s: float = 60.0,
    decode: Callable[[bytes], Any] = orjson.loads,
) -> list[Any]:
    """The bodies of ``topic`` from the beginning (``decode``d: JSON by default), read until
    there are ``until`` of them or ``timeout_s`` has passed (then those read so far: the
    caller's assertions say what was missing)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < until and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(decode(m.value) for m in messages)
    finally:
        await consumer.stop()
    return found


def decisions_for(
    kafka: KafkaSettings, tx_ids: set[str], timeout_s: float = 90.0
) -> list[dict[str, Any]]:
    """Decisions from the beginning of the topic, read until every one of ``tx_ids`` has one."""
    seen: set[str] = set()
    read = [0]

    def complete(found: list[dict[str, Any]]) -> bool:
        seen.update(d["tx_id"] for d in found[read[0] :])
        read[0] = len(found)
        return tx_ids <= seen

    return read_topic(kafka, "decisions", complete, timeout_s)


def recompute(txs: Iterable[Mapping[str, Any]]) -> InMemoryFeatureStore:
    """The features of ``txs`` recomputed in memory, one transaction at a time, in order."""
    reference = InMemoryFeatureStore()
    for tx in txs:
        reference.update_and_get(parse_transaction(dict(tx)))
    return reference


def assert_state_equals(
    store: RedisFeatureStore,
    reference: InMemoryFeatureStore,
    txs: Iterable[Mapping[str, Any]],
) -> int:
    """Every customer, terminal and device of ``txs``: the live view in Redis equals the
    recomputation. The number of entities compared."""
    ids: dict[Entity, set[str]] = {"customer": set(), "terminal": set(), "device": set()}
    for tx in txs:
        ids["customer"].add(tx["customer_id"])
        for entity, field in (("terminal", "terminal_id"), ("device", "device_id")):
            if tx.get(field):
                ids[entity].add(tx[field])  # type: ignore[index]
    compared = 0
    for entity, names in ids.items():
        for name in sorted(names):
            got, want = store.get(entity, name), reference.get(entity, name)
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9), f"{entity} {name}"
            compared += 1
    return compared
