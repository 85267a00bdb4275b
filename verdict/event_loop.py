"""The event loop the engine's processes run on: uvloop where it is installed, else asyncio's.

Everything a worker does per event runs on one loop: the aiohttp API, the faust agents, the
publisher and the console. uvloop (libuv, in C) makes the loop's own work (polling sockets,
scheduling callbacks, transports) several times cheaper than asyncio's pure-Python selector
loop. Measured on this project's 2-core machine, one ``verdict serve`` decided 1,762 and
1,577 requests/s on asyncio's loop against 2,888 and 2,377 on uvloop, the two alternating
(``verdict bench inline`` gives the full numbers). faust, aiokafka, aiohttp and redis-py all
support it.

``VERDICT_STREAM__EVENT_LOOP=asyncio`` keeps the standard loop (to compare, or to debug with
asyncio's own debug mode). Where uvloop cannot be installed (Windows), ``uvloop`` falls back
to asyncio's loop with a log line, so a setting never stops a worker from starting.

>>> async def which() -> str:
...     return type(asyncio.get_running_loop()).__module__.split(".")[0]
>>> run(which(), "asyncio")
'asyncio'
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoopName = Literal["uvloop", "asyncio"]

log = logging.getLogger("verdict.event_loop")


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop called ``name``; ``None`` for asyncio's default."""
    if name == "asyncio":
        return None
    if name != "uvloop":
        raise ValueError(f"unknown event loop {name!r}: use 'uvloop' or 'asyncio'")
    try:
        import uvloop
    except ImportError:
        log.warning("uvloop is not installed: running on asyncio's own event loop")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], name: EventLoopName = "uvloop") -> T:
    """Run ``main`` to completion on a new loop of kind ``name`` (as :func:`asyncio.run`)."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
