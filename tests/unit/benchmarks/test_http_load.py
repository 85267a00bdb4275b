"""benchmarks.http_load against a small aiohttp server in the test's own loop."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from benchmarks import http_load
from benchmarks.inline import decision_bodies

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _against(handler: Handler, mode: str, prefix: str, pace: float, seconds: float) -> Any:
    """Run ``http_load.<mode>`` against ``handler`` served on a free port, in one loop."""

    async def scenario() -> http_load.LoadResult:
        app = web.Application()
        app.router.add_post("/v1/decisions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            load = getattr(http_load, mode)
            bodies = decision_bodies(prefix)
            result: http_load.LoadResult = await load(
                "127.0.0.1", port, "/v1/decisions", bodies, pace, seconds
            )
            return result
        finally:
            await runner.cleanup()

    return asyncio.run(scenario())


async def _two_ms(request: web.Request) -> web.Response:
    await request.read()
    until = time.perf_counter() + 0.002  # exactly 2 ms (a timer may fire early)
    while time.perf_counter() < until:
        pass
    return web.Response(text="{}", headers={"Server-Timing": "app;dur=2.000"})


def test_open_loop_sends_every_request_and_reads_server_timing() -> None:
    seen: list[dict[str, object]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read()))
        status = 503 if len(seen) == 3 else 200
        return web.Response(text="{}", status=status, headers={"Server-Timing": "app;dur=0.250"})

    result = _against(handler, "open_loop", "t", 200, 0.1)
    assert len(result.client_ms) == 20 == len(seen)
    assert sorted(str(body["tx_id"]) for body in seen) == sorted(f"t-{i}" for i in range(20))
    assert result.server_ms == [0.25] * 20
    assert result.errors == 1  # the one 5xx
    assert all(ms >= 0 for ms in result.client_ms + result.late_ms)
    assert result.seconds >= 0.095  # the last request was due at 0.095 s


def test_latency_counts_from_when_a_request_was_due() -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(0.05)  # a slow server: requests due meanwhile queue up
        return web.Response(text="{}")

    result = _against(handler, "open_loop", "slow", 100, 0.05)
    assert len(result.client_ms) == 5
    assert min(result.client_ms) >= 50.0
    assert result.server_ms == [-1.0] * 5  # no Server-Timing header


def test_closed_loop_keeps_each_connection_busy() -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text='{"outcome":"approve"}', headers={"Server-Timing": "app;dur=1"})

    result = _against(handler, "closed_loop", "c", 4, 0.2)
    assert len(result.client_ms) > 8 and result.errors == 0
    assert set(result.server_ms) == {1.0}


def test_a_refused_connection_is_an_error_not_a_latency() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bodies = decision_bodies("x")
    with pytest.raises(ConnectionRefusedError):  # no server for the ready connections: at once
        asyncio.run(http_load.open_loop("127.0.0.1", port, "/v1/decisions", bodies, 100, 0.03))
    run = http_load.open_loop("127.0.0.1", port, "/v1/decisions", bodies, 100, 0.03, ready=0)
    result = asyncio.run(run)
    assert result.errors == 3 and result.client_ms == []


def test_decision_bodies_are_valid_transactions() -> None:
    from events.records import Transaction

    tx = Transaction.model_validate_json(decision_bodies("p")(7))
    assert (tx.tx_id, tx.customer_id, tx.terminal_id) == ("p-7", "c7", "t7")
    assert tx.amount == pytest.approx(5 + 7 * 37)


def test_a_request_sent_early_counts_from_when_it_was_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_sleep = asyncio.sleep

    async def early(delay: float) -> None:  # a timer that fires halfway (uvloop's are 1 ms)
        await real_sleep(delay / 2)

    monkeypatch.setattr(http_load, "_sleep", early)
    result = _against(_two_ms, "open_loop", "early", 50, 0.2)
    assert len(result.client_ms) == 10
    assert min(result.late_ms[1:]) < -5  # sent about 10 ms before they were due
    assert min(result.client_ms) >= 2.0  # never shorter than the server's own 2 ms
