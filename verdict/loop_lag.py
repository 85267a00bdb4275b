"""How long the worker's event loop is blocked: one timer, and how late it fires.

A worker runs the inline API and the stream agents on one event loop, and the decision engine
is synchronous: while a stream chunk or a batch of inline decisions is being decided, nothing
else runs, and a request that arrives waits. :func:`watch_loop_lag` measures exactly that wait,
as an operator sees it: a timer due every ``every_s`` and the time by which it was late,
observed into ``verdict_event_loop_lag_seconds``.

>>> import asyncio, time
>>> from prometheus_client import CollectorRegistry
>>> from events.metrics import Metrics
>>> async def blocked_once(metrics: Metrics) -> None:
...     watcher = asyncio.create_task(watch_loop_lag(metrics.event_loop_lag, every_s=0.01))
...     await asyncio.sleep(0.02)
...     time.sleep(0.2)  # the loop is blocked: the watcher's timer fires late
...     await asyncio.sleep(0.02)
...     watcher.cancel()
>>> metrics = Metrics(CollectorRegistry())
>>> asyncio.run(blocked_once(metrics))
>>> lags = metrics.registry.get_sample_value("verdict_event_loop_lag_seconds_sum")
>>> lags >= 0.15
True
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram


async def watch_loop_lag(histogram: Histogram, every_s: float = 0.05) -> None:
    """Observe how late a timer due every ``every_s`` runs, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every_s
        await asyncio.sleep(every_s)
        histogram.observe(max(0.0, loop.time() - due))
