"""A lean open-loop HTTP/1.1 load generator for ``verdict bench inline``.

On a 2-core machine the load generator shares the CPU with the server, Redis and the broker,
so what it spends per request is taken from them and what it waits for counts as their
latency. An aiohttp client spends a few hundred microseconds of Python per request; this one
writes a prepared request on a kept-alive connection and reads the answer with a
:class:`asyncio.Protocol` (no streams, no header objects), on uvloop where it is installed.

Open loop: request ``i`` is due at ``start + i / rate`` whatever happened before; its latency
counts from when it was due (or from when it was sent, if the loop's timer woke the generator
early), so queueing anywhere (in the generator, the kernel or the server) shows. ``late_ms``
records how late the generator itself sent each request (negative: early), so its own share is
visible in the report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

#: How the generator waits for the next request to be due (a test's own may wake it early).
_sleep = asyncio.sleep
#: How a request body is made from its number.
BodyOf = Callable[[int], bytes]


@dataclass
class LoadResult:
    """Every request's latencies, in the order they were due."""

    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


class _Connection(asyncio.Protocol):
    """One kept-alive connection with at most one request in flight. Answers are framed by
    their ``Content-Length`` (the API's always carry one; chunked answers are not read)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = bytes(self._buffer[:end])
        length = 0
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            stop = lower.find(b"\r\n", at)
            length = int(lower[at + 15 : stop if stop >= 0 else len(lower)])
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        status = int(head[9:12])
        if not self._waiter.done():
            self._waiter.set_result((status, head))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw`` and wait for the status and head of its answer."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            return await self._waiter
        finally:
            self._waiter = None


def _server_ms(head: bytes) -> float:
    """The ``Server-Timing: app;dur=X`` of an answer, -1 without one."""
    at = head.find(b"dur=")
    if at < 0:
        return -1.0
    end = head.find(b"\r\n", at)
    return float(head[at + 4 : end if end >= 0 else None])


def _request(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def open_loop(
    host: str,
    port: int,
    path: str,
    body_of: BodyOf,
    rate: float,
    seconds: float,
    ready: int = 16,
) -> LoadResult:
    """POST ``body_of(i)`` to ``path`` at ``rate`` requests/s for ``seconds``.

    ``ready`` connections are opened before the clock starts, as a client that calls an API
    all day keeps its connections alive; more are opened when all are busy (and count).
    """
    loop = asyncio.get_running_loop()
    idle: list[_Connection] = []
    result = LoadResult()
    total = int(rate * seconds)
    rows: list[tuple[float, float, float] | None] = [None] * total

    async def connection() -> _Connection:
        while idle:
            reused = idle.pop()
            if not reused.lost:
                return reused
        _, made = await loop.create_connection(_Connection, host, port)
        return made

    async def one(i: int, due: float) -> None:
        raw = _request(host, path, body_of(i))
        try:
            conn = await connection()
            sent = time.perf_counter()
            status, head = await conn.request(raw)
        except (OSError, ConnectionError):
            result.errors += 1
            return
        # From when it was due, or from when it was sent if that was earlier: uvloop's timers
        # have a resolution of 1 ms and may wake the generator before a request is due.
        done = (time.perf_counter() - min(due, sent)) * 1000
        idle.append(conn)
        if status >= 500:
            result.errors += 1
        rows[i] = (done, _server_ms(head), (sent - due) * 1000)

    idle.extend(await asyncio.gather(*(connection() for _ in range(ready))))
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await _sleep(delay)
        tasks.append(loop.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    for row in rows:
        if row is not None:
            result.client_ms.append(row[0])
            result.server_ms.append(row[1])
            result.late_ms.append(row[2])
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    return result


async def closed_loop(
    host: str, port: int, path: str, body_of: BodyOf, connections: int, seconds: float
) -> LoadResult:
    """POST as fast as ``connections`` kept-alive connections can, each waiting for its answer
    before the next request, for ``seconds`` (``client_ms`` from sending to the answer)."""
    loop = asyncio.get_running_loop()
    result = LoadResult()
    counter = 0
    started = time.perf_counter()

    async def sender() -> None:
        nonlocal counter
        _, conn = await loop.create_connection(_Connection, host, port)
        try:
            while time.perf_counter() - started < seconds:
                counter += 1
                sent = time.perf_counter()
                try:
                    status, head = await conn.request(_request(host, path, body_of(counter)))
                except ConnectionError:
                    result.errors += 1
                    return
                result.client_ms.append((time.perf_counter() - sent) * 1000)
                result.server_ms.append(_server_ms(head))
                result.late_ms.append(0.0)
                if status >= 500:
                    result.errors += 1
        finally:
            if conn.transport is not None:
                conn.transport.close()

    await asyncio.gather(*(sender() for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result
