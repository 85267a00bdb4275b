"""How long the stream workers' consumer lets the broker hold a fetch that finds nothing new.

A fetch that finds no new message waits on the broker for at most ``fetch_max_wait_ms``.
faust asks for 1,500 ms and has no setting for it, and the embedded broker (Tansu) holds a
fetch that long even when messages arrive meanwhile: that put 0.4 s (median) to 0.8 s (p99)
between producer and consumer at any rate. With 20 ms it is 10-20 ms. But on topics that are
idle, 20 ms is 50 empty fetches a second, each one work for the broker and for the worker's
consumer thread, which shares the GIL with the inline API: a ``verdict serve`` with nothing to
consume took 9.1% of a core in the broker and 5.8% in the worker, against 1.1% and 2.5% with
500 ms (measured for 10 s each on this project's 2-core machine). The inline API's own
transactions never pass through the ``transactions`` topic, so a worker that answers payments
paid that idle cost under full load.

So the wait adapts (:class:`AdaptiveFetchWait`): :data:`PROMPT_WAIT_MS` while fetches bring
messages, :data:`IDLE_WAIT_MS` once none has come for :data:`IDLE_AFTER_S`, and prompt again
as soon as one does. The first message after an idle spell waits up to :data:`IDLE_WAIT_MS`
on Tansu; a real Kafka answers a held fetch as soon as a message arrives, so there it costs
nothing.

>>> now = [0.0]
>>> wait = AdaptiveFetchWait(prompt_ms=20, idle_ms=250, idle_after_s=1.0, clock=lambda: now[0])
>>> wait.fetched(False), wait.wait_ms  # idle for less than a second: still prompt
(20, 20)
>>> now[0] = 1.5
>>> wait.fetched(False)
250
>>> wait.fetched(True)  # a message: prompt at once
20
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import faust

log = logging.getLogger(__name__)

#: The wait (ms) while messages flow: how late a message is at most on Tansu.
PROMPT_WAIT_MS: Final = 20
#: The wait (ms) once the topics have been idle for :data:`IDLE_AFTER_S`: 12 times fewer
#: empty fetches; the first message after the idle spell waits this long at most.
IDLE_WAIT_MS: Final = 250
#: How long without a message before the wait lengthens.
IDLE_AFTER_S: Final = 1.0


class AdaptiveFetchWait:
    """The fetch wait, told after every fetch whether it brought messages.

    Parameters
    ----------
    prompt_ms, idle_ms
        The wait while messages flow, and once the topics are idle.
    idle_after_s
        How long without a message before the wait becomes ``idle_ms``.
    clock
        Seconds (monotonic).
    """

    def __init__(
        self,
        prompt_ms: int = PROMPT_WAIT_MS,
        idle_ms: int = IDLE_WAIT_MS,
        idle_after_s: float = IDLE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prompt_ms = prompt_ms
        self.idle_ms = idle_ms
        self.idle_after_s = idle_after_s
        self.wait_ms = prompt_ms
        self._clock = clock
        self._last_message = clock()

    def fetched(self, messages: bool) -> int:
        """Record one fetch's outcome; the wait for the next fetch (ms)."""
        now = self._clock()
        if messages:
            self._last_message = now
            self.wait_ms = self.prompt_ms
        elif now - self._last_message >= self.idle_after_s:
            self.wait_ms = self.idle_ms
        return self.wait_ms


def adapt_fetcher(fetcher: Any, wait: AdaptiveFetchWait) -> None:
    """Have an aiokafka ``Fetcher`` ask for ``wait.wait_ms``, updated after each fetch.

    The fetcher reads ``_fetch_max_wait_ms`` whenever it builds a request, and its fetch
    routine looks ``_proc_fetch_request`` up on every round, whose result says whether the
    fetch brought messages.
    """
    proc: Callable[..., Awaitable[Any]] = fetcher._proc_fetch_request
    fetcher._fetch_max_wait_ms = wait.wait_ms

    async def proc_and_adapt(*args: Any, **kwargs: Any) -> Any:
        found = await proc(*args, **kwargs)
        fetcher._fetch_max_wait_ms = wait.fetched(bool(found))
        return found

    fetcher._proc_fetch_request = proc_and_adapt


def adaptive_fetches(app: faust.App, new_wait: Callable[[], AdaptiveFetchWait]) -> None:
    """Give the Kafka consumer that faust builds for ``app`` an adaptive fetch wait.

    faust builds the consumer in its consumer thread (``_create_worker_consumer``) and starts
    it there; the fetcher exists once it has started. Another faust, built otherwise, keeps
    its fetches as they are, with a warning.
    """
    thread = getattr(app.consumer, "_thread", None)
    create = getattr(thread, "_create_worker_consumer", None)
    if create is None:
        log.warning("faust's consumer has changed: its fetch wait is faust's own")
        return

    def create_adaptive(transport: Any) -> Any:
        consumer = create(transport)
        wait = new_wait()
        consumer._fetch_max_wait_ms = wait.wait_ms  # read by aiokafka when the consumer starts
        start = consumer.start

        async def start_adaptive() -> None:
            await start()
            fetcher = getattr(consumer, "_fetcher", None)
            if fetcher is None or not hasattr(fetcher, "_proc_fetch_request"):
                log.warning("aiokafka's fetcher has changed: fetches wait %d ms", wait.wait_ms)
                return
            adapt_fetcher(fetcher, wait)

        consumer.start = start_adaptive
        return consumer

    setattr(thread, "_create_worker_consumer", create_adaptive)  # noqa: B010
