"""Request limits of the inline API: the rate (429 with Retry-After, counted), and slow clients,
who cannot hold a connection by sending their request slowly."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest

from decisions.api import ApiSettings
from decisions.limits import TokenBucket
from tests.unit.security.api_harness import TX, served

#: The longest a test waits for the server to act before it fails (not a timing assertion).
PATIENCE_S = 30.0


def test_the_bucket_grants_its_burst_then_the_steady_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(rate_per_s=10.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.1)]
    now[0] += 0.15  # one and a half tokens back
    assert bucket.take() == 0.0
    assert bucket.take() > 0
    now[0] += 3600  # a quiet hour saves up the burst, no more
    assert [bucket.take() for _ in range(4)][-1] > 0


def test_a_bucket_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(rate_per_s=0, burst=1)


async def test_above_the_rate_a_request_gets_429_with_retry_after_and_is_counted() -> None:
    # a rate so low no token comes back during the test: the burst is all there is
    settings = ApiSettings(max_requests_per_s=0.001, burst_requests=3)
    async with served(settings) as api:
        statuses = []
        for i in range(5):
            body = orjson.dumps({**TX, "tx_id": f"t{i}"})
            response = await api.client.post("/v1/decisions", data=body)
            statuses.append(response.status)
            if response.status == 429:
                refused = await response.json()
                retry_after = response.headers["Retry-After"]
        assert statuses == [200, 200, 200, 429, 429]
        assert refused["error"] == "rate_limited" and "rate limit" in refused["message"]
        assert int(retry_after) >= 1 and refused["retry_after_s"] > 0
        labels = {"route": "/v1/decisions"}
        assert api.sample("verdict_http_rate_limited_total", labels) == 2
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and scrapes are never refused
            assert (await api.client.get(path)).status == 200
        assert (await api.client.get("/v1/customers/c42/features")).status == 429


async def test_no_limit_when_the_rate_is_zero() -> None:
    async with served(ApiSettings(max_requests_per_s=0, burst_requests=1)) as api:
        for _ in range(5):
            assert (await api.client.get("/openapi.json")).status == 200


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection; what it sent before."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while part := await reader.read(65536):
            received += part
    return received


async def test_half_a_request_is_closed_while_other_clients_are_answered() -> None:
    settings = ApiSettings(idle_timeout_s=1.0, body_timeout_s=1.0)
    async with served(settings) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(b"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        await writer.drain()
        closed = asyncio.create_task(_closed_by_server(reader))
        answered = 0
        while not closed.done():  # other clients are served while the half request waits
            response = await api.client.post("/v1/decisions", data=orjson.dumps(TX))
            assert response.status == 200
            answered += 1
            await asyncio.sleep(0.05)
        sent_back = await asyncio.wait_for(closed, PATIENCE_S)
        writer.close()
        assert answered >= 1
        assert b"200 OK" not in sent_back  # closed, not answered


async def test_headers_trickled_byte_by_byte_do_not_keep_a_connection_open() -> None:
    settings = ApiSettings(idle_timeout_s=0.5)
    header = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 4000
    async with served(settings) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        closed = asyncio.create_task(_closed_by_server(reader))
        sent = 0
        with contextlib.suppress(ConnectionError):
            for byte in header:  # 4 KB at a byte each 10 ms: far longer than the idle timeout
                if closed.done():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.01)
        await asyncio.wait_for(closed, PATIENCE_S)
        writer.close()
        assert sent < len(header)  # the server gave up on the trickle before it ended


async def test_a_body_that_does_not_arrive_gets_408() -> None:
    settings = ApiSettings(idle_timeout_s=30.0, body_timeout_s=0.5)
    async with served(settings) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(
            b"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + b'{"tx_id": '
        )
        await writer.drain()
        answer = await asyncio.wait_for(_closed_by_server(reader), PATIENCE_S)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert orjson.loads(body)["error"] == "request_timeout"


async def test_an_idle_keep_alive_connection_is_closed() -> None:
    settings = ApiSettings(idle_timeout_s=0.5)
    async with served(settings) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(_closed_by_server(reader), PATIENCE_S)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200")  # answered, then closed once idle
