"""Concurrent inline requests are decided together, in order, each getting its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from decisions.batching import DecisionBatcher


class Recorder:
    """Answers ``<tx>@<batch number>`` and remembers each batch; fails on ``"boom"``."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def decide_many(self, txs: Sequence[str]) -> list[str]:
        if "boom" in txs:
            raise RuntimeError("the engine failed")
        self.batches.append(list(txs))
        return [f"{tx}@{len(self.batches)}" for tx in txs]


def test_requests_ready_together_make_one_batch_in_arrival_order() -> None:
    engine = Recorder()

    async def run() -> list[str]:
        batcher = DecisionBatcher(engine)
        return await asyncio.gather(*(batcher.decide(f"t{i}") for i in range(5)))

    assert asyncio.run(run()) == [f"t{i}@1" for i in range(5)]
    assert engine.batches == [[f"t{i}" for i in range(5)]]


def test_a_lone_request_is_decided_alone_and_batches_never_exceed_the_limit() -> None:
    engine = Recorder()

    async def run() -> tuple[str, list[str]]:
        batcher = DecisionBatcher(engine, max_batch=4)
        alone = await batcher.decide("solo")
        many = await asyncio.gather(*(batcher.decide(f"t{i}") for i in range(10)))
        return alone, many

    alone, many = asyncio.run(run())
    assert alone == "solo@1"
    assert [len(batch) for batch in engine.batches] == [1, 4, 4, 2]
    assert [answer.split("@")[0] for answer in many] == [f"t{i}" for i in range(10)]


def test_an_engine_error_reaches_every_request_of_its_batch_and_no_other() -> None:
    engine = Recorder()

    async def run() -> tuple[list[str | BaseException], str]:
        batcher = DecisionBatcher(engine)
        failed = await asyncio.gather(
            batcher.decide("a"), batcher.decide("boom"), return_exceptions=True
        )
        return list(failed), await batcher.decide("after")

    failed, after = asyncio.run(run())
    assert all(isinstance(e, RuntimeError) and "engine failed" in str(e) for e in failed)
    assert after == "after@1"


def test_a_request_cancelled_while_waiting_is_not_decided() -> None:
    engine = Recorder()

    async def run() -> str:
        batcher = DecisionBatcher(engine)
        gone = asyncio.ensure_future(batcher.decide("gone"))
        kept = asyncio.ensure_future(batcher.decide("kept"))
        await asyncio.sleep(0)  # both waiting, the batch not run yet
        gone.cancel()
        return await kept

    assert asyncio.run(run()) == "kept@1"
    assert engine.batches == [["kept"]]


def test_the_batch_limit_is_checked() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        DecisionBatcher(Recorder(), max_batch=0)
