"""Asynchronous, batched publishing that never blocks the caller.

The inline API and the agents hand events to :class:`AsyncPublisher` (``publisher(topic, key,
value)``), which only appends to a bounded in-memory buffer. A background task sends the
buffer to Kafka in chunks, one record batch per partition: aiokafka's ``send`` per event costs
more than the rest of the stream's publishing. A chunk smaller than :data:`CHUNK` waits up to
:data:`LINGER_S` for more events, unless a caller waits in :meth:`AsyncPublisher.flush`.
Keys go to partitions by the murmur2 hash of the Java client, so a customer's events share a
partition. When the broker is unreachable the events wait in the buffer and go out when it
returns (at-least-once: a chunk whose delivery failed is sent again, and consumers collapse
repeats by their ids); when the buffer is full the new event is dropped, counted in
``verdict_publish_dropped_total`` and logged, and the caller is never held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from events.errors import DependencyUnavailableError
from events.metrics import Metrics

log = logging.getLogger(__name__)

#: Events sent per chunk (one gather over their delivery futures).
CHUNK: Final = 2_000
#: Longest wait between two attempts to reach a broker that is down.
MAX_BACKOFF_S: Final = 2.0
#: How long the sender gathers events before it sends a chunk smaller than :data:`CHUNK`,
#: unless a caller waits in :meth:`AsyncPublisher.flush`. Off the latency path (the inline API
#: answers before its events are sent), and it makes the record batches fewer and larger: at
#: 1,000 inline decisions/s, sending as soon as woken gave about one produce request and a
#: few one-record batches per decision, which cost this process and the broker CPU.
LINGER_S: Final = 0.02


class PublisherStoppedError(DependencyUnavailableError):
    """Events were handed to a publisher that is not running."""


class AsyncPublisher:
    """A bounded buffer in front of an aiokafka producer.

    Parameters
    ----------
    bootstrap_servers
        ``host:port`` of the brokers.
    metrics
        Where published, dropped and buffered events are counted.
    max_buffered
        Events the buffer holds at most; more are dropped (and counted).
    request_timeout_s
        How long one send may wait for the broker before it is retried.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        metrics: Metrics,
        *,
        max_buffered: int = 100_000,
        request_timeout_s: float = 5.0,
        linger_s: float = LINGER_S,
    ) -> None:
        self._servers = list(bootstrap_servers)
        self._metrics = metrics
        self._max = max_buffered
        self._timeout_s = request_timeout_s
        self._linger_s = linger_s
        self._flushing = asyncio.Event()  # a caller waits in flush(): send without lingering
        self._buffer: deque[tuple[str, bytes, bytes]] = deque()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._last_drop_log = 0.0
        self._sending = 0
        self.dropped = 0

    def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        """Enqueue one event; drop and count it when the buffer is full. Never blocks."""
        if len(self._buffer) >= self._max:
            self.dropped += 1
            self._metrics.publish_dropped.labels(topic=topic).inc()
            now = time.monotonic()
            if now - self._last_drop_log > 5.0:
                self._last_drop_log = now
                log.warning("publisher buffer full (%d events): dropping events", self._max)
            return
        self._buffer.append((topic, key, value))
        self._metrics.publish_buffered.set(len(self._buffer))
        self._drained.clear()
        self._wake.set()

    @property
    def buffered(self) -> int:
        """Events not yet acknowledged by the broker (waiting or in flight)."""
        return len(self._buffer) + self._sending

    async def flush(self) -> None:
        """Wait until every event handed over so far is acknowledged by the broker.

        The stream agents call it before their input offsets are acknowledged, so a decision
        is durable before the transaction counts as consumed (at-least-once). While the broker
        is down this waits, which pauses the agent instead of losing its outputs.
        """
        if self._task is None:
            raise PublisherStoppedError("the publisher is not running")
        self._flushing.set()
        await self._drained.wait()

    async def start(self) -> None:
        """Start the background sender (it connects, and reconnects, by itself)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="verdict-publisher")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Send what is buffered (for at most ``drain_timeout_s``), then stop."""
        deadline = time.monotonic() + drain_timeout_s
        while (self._buffer or self._sending) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def _connect(self) -> AIOKafkaProducer:
        backoff = 0.05
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._servers,
                acks=1,
                linger_ms=2,
                max_batch_size=256 * 1024,
                request_timeout_ms=int(self._timeout_s * 1000),
            )
            try:
                await producer.start()
            except Exception as error:  # aiokafka raises several types for "no broker"
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("publisher: broker unreachable (%s); retrying", error)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            return producer

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            if not self._buffer:
                self._drained.set()
                self._flushing.clear()
                self._wake.clear()
                await self._wake.wait()
            if self._producer is None:
                self._producer = await self._connect()
            await self._linger()
            chunk = [self._buffer.popleft() for _ in range(min(CHUNK, len(self._buffer)))]
            self._sending = len(chunk)
            try:
                await self._send(self._producer, chunk)
            except asyncio.CancelledError:  # stopped mid-chunk: what was not acknowledged stays
                self._buffer.extendleft(reversed(chunk))
                raise
            except Exception as error:  # delivery failed: keep the chunk, in order, and retry
                self._buffer.extendleft(reversed(chunk))
                log.warning("publisher: %d events not delivered (%s); retrying", len(chunk), error)
                self._partitions.clear()  # topics may have changed: ask again
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            finally:
                self._sending = 0
            backoff = 0.05
            for topic, count in Counter(topic for topic, _, _ in chunk).items():
                self._metrics.events_published.labels(topic=topic).inc(count)
            self._metrics.publish_buffered.set(len(self._buffer))

    async def _linger(self) -> None:
        """Wait up to ``linger_s`` for a fuller chunk, unless one is full or a caller waits in
        :meth:`flush`."""
        if self._linger_s <= 0 or len(self._buffer) >= CHUNK or self._flushing.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._linger_s):
                await self._flushing.wait()

    async def _partition(self, producer: AIOKafkaProducer, topic: str, key: bytes) -> int:
        partitions = self._partitions.get(topic)
        if partitions is None:
            found = await producer.partitions_for(topic)
            if not found:
                raise DependencyUnavailableError(f"topic {topic!r} has no partitions")
            partitions = self._partitions[topic] = sorted(found)
        partition: int = self._partitioner(key, partitions, partitions)
        return partition

    async def _send(
        self, producer: AIOKafkaProducer, chunk: list[tuple[str, bytes, bytes]]
    ) -> None:
        """Send ``chunk`` as one record batch per partition (more when one fills up) and wait
        until the broker has acknowledged every batch."""
        open_batches: dict[tuple[str, int], BatchBuilder] = {}
        futures: list[asyncio.Future[object]] = []
        for topic, key, value in chunk:
            slot = (topic, await self._partition(producer, topic, key))
            batch = open_batches.get(slot)
            if batch is None:
                batch = open_batches[slot] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it
                futures.append(await producer.send_batch(batch, topic, partition=slot[1]))
                batch = open_batches[slot] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for (topic, partition), batch in open_batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
