"""The inline API served for real: an aiohttp server on a loopback port, in a thread of its own.

The engine is the one ``verdict serve`` builds (:func:`verdict.wiring.build_engine`) on the test
Redis; what the API hands to the broker is collected in a list. Clients in the test's thread
(schemathesis, ``http.client``, raw sockets) talk to it over TCP like any other client.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry

from decisions.api import ApiServices, ApiSettings, create_app
from events.metrics import Metrics
from state.settings import RedisSettings
from verdict.settings import Settings
from verdict.wiring import build_engine

#: The bearer token the served API requires.
TOKEN = "security-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Sink:
    """What the API handed to the broker: (topic, key, value)."""

    events: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.events.append((topic, key, value))


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


class LiveApi:
    """The API on ``127.0.0.1:<port>`` in a background thread with its own event loop."""

    def __init__(self, app: web.Application, sink: Sink, metrics: Metrics) -> None:
        self.app = app
        self.sink = sink
        self.metrics = metrics
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveApi:
        """Serve until :meth:`stop`."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        """Close the server and its thread."""
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> Reply:
        """One request on a connection of its own."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, dict(response.headers), response.read())
        finally:
            connection.close()


def serve_api(redis_settings: RedisSettings, api: ApiSettings) -> Iterator[LiveApi]:
    """Build the engine on ``redis_settings``, serve the API, and stop it afterwards."""
    # model_construct: the sections given are validated already, and the test runner's own
    # variables (TEST_REDIS_DB) must not be read as settings
    settings = Settings.model_construct(redis=redis_settings, api=api)
    metrics = Metrics(CollectorRegistry())
    parts = build_engine(settings, metrics)
    sink = Sink()
    services = ApiServices(
        parts.engine, parts.store, sink, metrics, lambda: {"redis": True, "broker": True}
    )
    live = LiveApi(create_app(services, api), sink, metrics).start()
    try:
        yield live
    finally:
        live.stop()
        if parts.client is not None:
            parts.client.close()
