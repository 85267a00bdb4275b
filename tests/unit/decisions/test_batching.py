"""Concurrent inline requests are decided together, in order, each getting its own answer."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Callable, Sequence

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


class Flight:
    """A batch on a socket pair: readable once the test writes the answer's first byte."""

    timeout_s = 5.0

    def __init__(self, txs: Sequence[str], log: list[str]) -> None:
        self.txs, self.log = list(txs), log
        self.ours, self.theirs = socket.socketpair()
        self.log.append(f"start {','.join(self.txs)}")

    def answer(self) -> None:
        self.theirs.send(b"+")

    def fileno(self) -> int:
        return self.ours.fileno()

    def finish(self) -> list[str]:
        ready = bool(select.select([self.ours], [], [], 0)[0])
        self.log.append(f"finish {','.join(self.txs)}" + ("" if ready else " unanswered"))
        self._close()
        return [f"{tx}!" for tx in self.txs]

    def cancel(self) -> None:
        self.log.append(f"cancel {','.join(self.txs)}")
        self._close()

    def _close(self) -> None:
        self.ours.close()
        self.theirs.close()


class TwoSteps:
    """An engine that sends a batch, then finishes it when its socket is readable."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.log: list[str] = []
        self.flights: list[Flight] = []
        self.timeout_s = timeout_s

    def decide_many(self, txs: Sequence[str]) -> list[str]:
        self.log.append(f"at once {','.join(txs)}")
        return [f"{tx}." for tx in txs]

    def start_many(self, txs: Sequence[str]) -> Flight:
        flight = Flight(txs, self.log)
        flight.timeout_s = self.timeout_s
        self.flights.append(flight)
        return flight


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def test_the_loop_serves_requests_while_a_batch_is_in_flight_and_batches_them_next() -> None:
    engine = TwoSteps()
    seen: list[Sequence[str]] = []

    async def run() -> list[str]:
        batcher = DecisionBatcher(engine, after=seen.append, overlap_from=1)
        first = asyncio.ensure_future(batcher.decide("a"))
        await _until(lambda: len(engine.flights) == 1)
        later = [asyncio.ensure_future(batcher.decide(tx)) for tx in ("b", "c")]
        await asyncio.sleep(0.01)  # b and c arrive while a is in flight: nothing else starts
        assert engine.log == ["start a"] and not first.done()
        engine.flights[0].answer()
        await first
        await _until(lambda: len(engine.flights) == 2)
        engine.flights[1].answer()
        return [first.result(), *await asyncio.gather(*later)]

    assert asyncio.run(run()) == ["a!", "b!", "c!"]
    assert engine.log == ["start a", "finish a", "start b,c", "finish b,c"]
    assert seen == [["a!"], ["b!", "c!"]]


def test_an_answer_that_never_comes_is_read_after_the_timeout() -> None:
    engine = TwoSteps(timeout_s=0.02)

    async def run() -> str:
        return await DecisionBatcher(engine, overlap_from=1).decide("a")

    assert asyncio.run(run()) == "a!"
    assert engine.log == ["start a", "finish a unanswered"]  # the read then times out itself


def test_a_batch_in_flight_when_the_loop_stops_is_given_up() -> None:
    engine = TwoSteps()

    async def run() -> asyncio.Future[str]:
        pending = asyncio.ensure_future(DecisionBatcher(engine, overlap_from=1).decide("a"))
        await _until(lambda: len(engine.flights) == 1)
        return pending

    asyncio.run(run())  # cancels what is still pending as it ends
    assert engine.log == ["start a", "cancel a"]


def test_what_follows_a_batch_may_fail_without_failing_its_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def after(results: Sequence[str]) -> None:
        raise RuntimeError("feedback is down")

    async def run() -> list[str]:
        batcher = DecisionBatcher(Recorder(), after=after)
        return await asyncio.gather(batcher.decide("a"), batcher.decide("b"))

    assert asyncio.run(run()) == ["a@1", "b@1"]
    assert "2 inline decisions answered" in caplog.text and "feedback is down" in caplog.text


def test_a_batch_smaller_than_the_overlap_threshold_is_decided_at_once() -> None:
    engine = TwoSteps()

    async def run() -> list[str]:
        batcher = DecisionBatcher(engine, overlap_from=3)
        alone = await batcher.decide("a")
        together = asyncio.gather(*(batcher.decide(tx) for tx in ("b", "c", "d")))
        await _until(lambda: len(engine.flights) == 1)
        engine.flights[0].answer()
        return [alone, *await together]

    assert asyncio.run(run()) == ["a.", "b!", "c!", "d!"]
    assert engine.log == ["at once a", "start b,c,d", "finish b,c,d"]
