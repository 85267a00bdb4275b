"""The backtest's collector: paused for the run, a full collection every so many events, and
what survived it frozen so that the next one reads only what is new."""

from __future__ import annotations

import gc
import weakref

from replay.collector import Collector


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_collection_frees_cycles_and_freezes_what_survives_until_the_run_ends() -> None:
    kept = [[i] for i in range(1000)]  # lists: tracked by the collector
    with Collector(every=10) as collector:
        assert not gc.isenabled()
        first = weakref.ref(Node())
        assert not collector.tick(9)
        assert first() is not None  # a cycle waits for the collection
        assert collector.tick(1)
        assert first() is None
        frozen = gc.get_freeze_count()
        assert frozen > len(kept)  # what survived is no longer scanned
        second = weakref.ref(Node())
        assert collector.tick(10)
        assert second() is None  # a cycle made after a freeze is still collected
        assert gc.get_freeze_count() >= frozen
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
