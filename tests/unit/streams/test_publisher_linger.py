"""How the publisher gathers events into chunks: it lingers for a fuller one, unless a caller
waits in ``flush`` (a stream agent about to acknowledge its input).

The producer is a recorder of the batches it is asked to send; the publisher against a real
broker is tested in tests/integration/test_publisher.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from streams.publisher import AsyncPublisher


class _Batch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object:
        self.values.append(value)
        return object()  # not None: there was room


class _Producer:
    """Acknowledges every batch at once and remembers what each chunk sent."""

    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> asyncio.Future[Any]:
        self.sent.append(batch.values)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def stop(self) -> None:
        """Nothing to close."""


def _chunks(linger_s: float) -> list[list[bytes]]:
    """One event, the sender woken, four more, then a flush: the chunks the producer saw."""
    producer = _Producer()

    async def scenario() -> None:
        publisher = AsyncPublisher(["127.0.0.1:9"], Metrics(CollectorRegistry()), linger_s=linger_s)

        async def connect() -> _Producer:
            return producer

        publisher._connect = connect  # type: ignore[method-assign]
        await publisher.start()
        publisher("decisions", b"c1", b"e1")
        for _ in range(5):  # the sender wakes, connects, and lingers (or sends e1 at once)
            await asyncio.sleep(0)
        for i in range(2, 6):
            publisher("decisions", b"c1", f"e{i}".encode())
        await publisher.flush()
        await publisher.stop()

    asyncio.run(scenario())
    return producer.sent


def test_events_that_arrive_while_the_sender_lingers_go_out_in_one_chunk_at_the_flush() -> None:
    # a linger far longer than the test: only the flush can have ended it
    assert _chunks(linger_s=3600.0) == [[b"e1", b"e2", b"e3", b"e4", b"e5"]]


def test_without_a_linger_the_sender_sends_what_it_has_as_soon_as_woken() -> None:
    assert _chunks(linger_s=0.0) == [[b"e1"], [b"e2", b"e3", b"e4", b"e5"]]
