"""The adaptive fetch wait: prompt while fetches bring messages, long once the topics idle."""

from __future__ import annotations

import asyncio

from streams.fetching import AdaptiveFetchWait, adapt_fetcher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_lengthens_only_after_a_whole_idle_spell_and_shortens_at_once() -> None:
    clock = Clock()
    wait = AdaptiveFetchWait(prompt_ms=20, idle_ms=250, idle_after_s=1.0, clock=clock)
    assert wait.wait_ms == 20  # a worker starts prompt
    waits = []
    for _ in range(6):  # empty fetches, a quarter of a second apart
        clock.now += 0.25
        waits.append(wait.fetched(False))
    assert waits == [20, 20, 20, 250, 250, 250]  # long from a second after the last message
    assert wait.fetched(True) == 20
    clock.now += 0.75
    assert wait.fetched(False) == 20  # a message less than a second ago
    clock.now += 0.25
    assert wait.fetched(False) == 250


class Fetcher:
    """The two attributes of aiokafka's Fetcher that the adapter uses."""

    def __init__(self, results: list[bool]) -> None:
        self._fetch_max_wait_ms = 1500  # faust's own
        self._results = results
        self.asked: list[int] = []

    async def _proc_fetch_request(self, assignment: object, node_id: int, request: object) -> bool:
        self.asked.append(self._fetch_max_wait_ms)  # the wait the request was built with
        return self._results.pop(0)


def test_the_fetcher_asks_for_the_wait_its_last_fetch_called_for() -> None:
    clock = Clock()
    fetcher = Fetcher([False, False, True, False])
    adapt_fetcher(fetcher, AdaptiveFetchWait(20, 250, idle_after_s=1.0, clock=clock))

    async def fetch_four() -> list[bool]:
        found = []
        for _ in range(4):
            clock.now += 2.0  # each fetch comes two seconds after the one before
            found.append(await fetcher._proc_fetch_request(None, 0, None))
        return found

    assert asyncio.run(fetch_four()) == [False, False, True, False]  # results pass through
    assert fetcher.asked == [20, 250, 250, 20]
    assert fetcher._fetch_max_wait_ms == 250
