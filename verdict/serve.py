"""``verdict serve``: the stream workers, the inline API and ``/metrics`` in one process.

One asyncio loop runs the faust app (agents ``score``, ``learn``, ``customers``), the aiohttp
API (the server faust itself embeds, so no second framework or proxy) with the risk analysts'
alert console at ``/console``, and the asynchronous publisher all of them hand events to. The
decision code is the same object for the API and the agents. SIGTERM or SIGINT stops it
gracefully: the agents finish and acknowledge the batch in hand, the publisher drains, the
learner publishes its last model version.

``--workers N`` starts N such processes in one consumer group (ports ``port .. port+N-1``);
the first owns training, the others score with the versions it publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import version
from typing import Protocol

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry

from decisions.api import ApiServices, create_app
from decisions.console import Console
from events.metrics import Metrics
from events.records import CustomerProfile
from state.store import Entity
from streams.admin import broker_reachable
from streams.app import Topology
from streams.pipeline import StreamSteps
from streams.publisher import AsyncPublisher
from verdict import event_loop
from verdict.loop_lag import watch_loop_lag
from verdict.settings import Settings
from verdict.wiring import EngineParts, build_engine

log = logging.getLogger("verdict.serve")


class EngineBuilder(Protocol):
    """Builds the engine of a worker (:func:`verdict.wiring.build_engine`, or a test's own)."""

    def __call__(self, settings: Settings, metrics: Metrics, *, learner: bool) -> EngineParts:
        """The engine and its parts for ``settings``."""
        ...


class _Customers:
    """The feature store as the API sees it (the live view and profiles)."""

    def __init__(self, parts: EngineParts) -> None:
        self._store = parts.store

    def get(self, entity: Entity, entity_id: str) -> dict[str, float]:
        return self._store.get(entity, entity_id)

    def put_customer(self, profile: CustomerProfile) -> None:
        self._store.put_customer(profile)


def _readiness(settings: Settings, parts: EngineParts) -> Mapping[str, bool]:
    checks = {"broker": broker_reachable(settings.kafka, timeout_s=0.5)}
    if parts.client is not None:
        try:
            checks["redis"] = bool(parts.client.ping())
        except Exception:
            checks["redis"] = False
    return checks


async def run_worker(
    settings: Settings,
    *,
    port: int | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    build: EngineBuilder = build_engine,
) -> None:
    """Run one worker until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None).

    Parameters
    ----------
    settings
        Every setting of the worker.
    port
        Port of the API and ``/metrics`` (default ``settings.api.port``).
    registry
        Where the metrics are registered (default: the process's registry).
    stop
        Set it to stop the worker gracefully.
    build
        Builds the engine (tests pass one that freezes the models).
    """
    metrics = Metrics(REGISTRY if registry is None else registry)
    learner = settings.stream.learner
    parts = build(settings, metrics, learner=learner)
    if parts.live is not None:
        parts.live.listen()
    policy = parts.policy.current()
    metrics.build_info.info(
        {
            "version": version("verdict"),
            "policy": policy.version or "default",
            "model": parts.model_version(),
            "learner": str(learner).lower(),
        }
    )
    publisher = AsyncPublisher(
        settings.kafka.bootstrap_servers, metrics, max_buffered=settings.stream.publish_buffer
    )
    await publisher.start()
    key = settings.api.pseudonym_key.get_secret_value().encode()
    steps = StreamSteps(
        parts.engine, parts.store, parts.feedback, key, metrics, settings.events.default_currency
    )
    topology = Topology(settings.kafka, settings.stream, steps, publisher, metrics)
    services = ApiServices(
        parts.engine,
        _Customers(parts),
        publisher,
        metrics,
        lambda: _readiness(settings, parts),
        lambda features: policy_tier(parts, features),
        parts.feedback,  # inline decisions start label horizons and open offers too
    )
    api = create_app(services, settings.api, default_currency=settings.events.default_currency)
    console = Console(settings.api, settings.kafka.bootstrap_servers, publisher)
    if settings.api.console:
        console.install(api)  # /console: the risk analysts' alert console, behind the same token
    runner = web.AppRunner(api, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.api.host, port or settings.api.port)
    await site.start()
    log.info("API on http://%s:%d", settings.api.host, port or settings.api.port)
    if settings.api.console:
        console.start()
    stop = stop or _on_signals()
    await topology.app.start()
    _freeze_startup_heap()
    lag = asyncio.create_task(watch_loop_lag(metrics.event_loop_lag))
    try:
        await stop.wait()
    finally:
        log.info("stopping: draining the batch in hand and the publisher")
        lag.cancel()
        await console.stop()  # ends the consoles' event streams, which would hold the server
        await topology.app.stop()
        await publisher.stop(drain_timeout_s=10)
        await runner.cleanup()
        if parts.model_publisher is not None and parts.model_publisher.unpublished:
            with contextlib.suppress(Exception):
                parts.model_publisher.publish()
        if parts.live is not None:
            parts.live.close()


def _freeze_startup_heap() -> None:
    """Keep what start-up allocated out of the garbage collector's full collections.

    Modules, models, faust and pydantic's schemas are some hundreds of thousands of objects
    that live as long as the process; a full collection walked them all and paused the event
    loop for 150-210 ms under 1,000 requests/s (measured with gc.callbacks). Frozen, they are
    never walked again; what the engine allocates from now on is collected as usual.
    """
    gc.collect()
    gc.freeze()
    log.info("%d start-up objects frozen out of the garbage collector", gc.get_freeze_count())


def policy_tier(parts: EngineParts, features: Mapping[str, float]) -> str:
    """The customer's live RFM tier under the policy in force."""
    policy = parts.policy.current()
    now = features.get("cust_latest_ts", 0.0)
    return str(policy.segments.live_rfm(dict(features), now).tier)


def _on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def serve(settings: Settings, *, port: int | None = None, workers: int = 1) -> int:
    """Run ``workers`` worker processes (this one included); their exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if workers <= 1:
        event_loop.run(run_worker(settings, port=port), settings.stream.event_loop)
        return 0
    base = port or settings.api.port
    children = []
    for index in range(1, workers):
        env = dict(os.environ, VERDICT_STREAM__LEARNER="false")
        command = [sys.executable, "-m", "verdict.cli", "serve", "--port", str(base + index)]
        children.append(subprocess.Popen(command, env=env))
    try:
        event_loop.run(run_worker(settings, port=base), settings.stream.event_loop)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=30)
    return 0
