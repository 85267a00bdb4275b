"""An agent's batch is handled in chunks: the event loop (and so the inline API sharing it)
runs between chunks, and a dependency outage resumes from the chunk in hand."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from events.errors import DependencyUnavailableError
from events.metrics import Metrics
from streams.app import Topology
from streams.pipeline import Message, Out
from streams.settings import KafkaSettings, StreamSettings


class Outbox:
    """The publisher's interface, keeping what was handed to it."""

    def __init__(self) -> None:
        self.sent: list[Out] = []
        self.flushes = 0

    def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    async def flush(self) -> None:
        self.flushes += 1


def messages(n: int) -> list[Message]:
    return [Message("transactions", 0, i, b"c", f"m{i}".encode(), 0) for i in range(n)]


def topology(tmp_path: Path, step_chunk: int) -> tuple[Topology, Outbox]:
    outbox = Outbox()
    unused = SimpleNamespace(score=None, learn=None, customers=None, dead_letters=None)
    stream = StreamSettings(step_chunk=step_chunk, data_dir=str(tmp_path), retry_max_s=0.01)
    app = Topology(KafkaSettings(), stream, unused, outbox, Metrics(CollectorRegistry()))  # type: ignore[arg-type]
    return app, outbox


def echo(calls: list[Any]) -> Any:
    def step(batch: Sequence[Message]) -> list[Out]:
        calls.append([m.offset for m in batch])
        return [("decisions", m.key or b"", m.value or b"") for m in batch]

    return step


def test_a_batch_is_handled_in_chunks_with_the_loop_running_between(tmp_path: Path) -> None:
    app, outbox = topology(tmp_path, step_chunk=2)
    calls: list[Any] = []
    step = echo(calls)

    async def other() -> None:
        calls.append("inline request")

    async def main() -> None:
        pending = asyncio.get_running_loop().create_task(other())
        await app._handle("score", step, messages(5))
        await pending

    asyncio.run(main())
    assert calls == [[0, 1], "inline request", [2, 3], [4]]
    assert [value for _, _, value in outbox.sent] == [f"m{i}".encode() for i in range(5)]
    assert outbox.flushes == 1


def test_a_dependency_outage_resumes_from_the_chunk_in_hand(tmp_path: Path) -> None:
    app, outbox = topology(tmp_path, step_chunk=2)
    calls: list[Any] = []
    inner = echo(calls)
    failures = [DependencyUnavailableError("redis: down")]

    def step(batch: Sequence[Message]) -> list[Out]:
        if batch[0].offset == 2 and failures:
            raise failures.pop()
        return list(inner(batch))

    asyncio.run(app._handle("score", step, messages(5)))
    assert calls == [[0, 1], [2, 3], [4]]
    assert [value for _, _, value in outbox.sent] == [f"m{i}".encode() for i in range(5)]
