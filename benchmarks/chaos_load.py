"""The inline load of a chaos run: ``POST /v1/decisions`` at a fixed rate, every request kept.

Open loop, as in :mod:`benchmarks.inline`: request ``i`` is due at ``t0 + i / rate`` whatever
happened before, and its latency counts from when it was due, so a server that stalls shows
it. Each request is kept as ``(due_s, latency_ms, status, degraded, server_ms, late_ms)``
(status 0: no answer within the client timeout; ``server_ms`` from the ``Server-Timing``
header, -1 without one; ``late_ms`` how late the generator itself sent it), so any window
(an outage, a minute of a soak) can be cut out afterwards. The generator runs in a process of
its own (``python -m benchmarks.chaos_load``) so that it does not share the server's event
loop; it writes its records as JSON.
Transaction ``i`` has ``tx_id`` ``<prefix><i>``, customers and terminals of the prefix only, so
the inline load never touches the entities of a stream it runs beside.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from benchmarks.chaos_procs import ROOT

#: Event time of request 0; request ``i`` happens ``i`` seconds later.
T0: Final = 1_772_445_600
#: A request that gets no answer within this long counts as an error.
CLIENT_TIMEOUT_S: Final = 5.0


def body(prefix: str, i: int, customers: int, spacing_s: float = 1.0) -> dict[str, Any]:
    """The transaction of request ``i``, ``spacing_s`` of event time after request ``i - 1``."""
    return {
        "tx_id": f"{prefix}{i}",
        "ts": T0 + i * spacing_s,
        "customer_id": f"{prefix}c{i % customers}",
        "amount": float(5 + (i * 37) % 500),
        "terminal_id": f"{prefix}t{i % 900}",
        "country": "FR",
    }


async def load(
    url: str,
    rate: float,
    seconds: float,
    prefix: str,
    customers: int,
    closed: int = 0,
    spacing_s: float = 1.0,
) -> dict[str, Any]:
    """Send decisions open loop at ``rate``/s (or closed loop on ``closed`` connections)."""
    import aiohttp

    records: list[tuple[float, float, int, bool, float, float]] = []
    counter = 0

    async def one(session: aiohttp.ClientSession, i: int, due: float) -> None:
        status, degraded, server_ms = 0, False, -1.0
        late_ms = (time.perf_counter() - due) * 1000  # the generator's own delay in sending
        try:
            async with session.post(url, json=body(prefix, i, customers, spacing_s)) as response:
                payload = await response.read()
                status = response.status
                if status == 200:
                    degraded = bool(orjson.loads(payload).get("degraded"))
                timing = response.headers.get("Server-Timing")
                if timing is not None:
                    server_ms = float(timing.rsplit("=", 1)[1])
        except (TimeoutError, aiohttp.ClientError):
            status = 0
        now = time.perf_counter()
        records.append((due - started, (now - due) * 1000, status, degraded, server_ms, late_ms))

    # The generator's own collections would delay its requests and pass for the server's
    # latency (pauses of up to 180 ms in a five-minute soak): none while it runs. What it
    # keeps is its records (flat tuples) and the tasks in flight.
    gc.collect()
    gc.freeze()
    gc.disable()
    pauses = _GcPauses()  # none, unless something turns the collector back on
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=256)
    started_epoch = time.time()
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if closed:

            async def loop() -> None:
                nonlocal counter
                while time.perf_counter() - started < seconds:
                    counter += 1
                    await one(session, counter, time.perf_counter())

            await asyncio.gather(*(loop() for _ in range(closed)))
        else:
            pending: set[asyncio.Task[None]] = set()  # only the unanswered: a long run's
            for i in range(int(rate * seconds)):  # finished tasks would load the client's GC
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(session, i, due))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
    pauses.stop()
    gc.enable()
    return {
        "started_epoch": started_epoch,
        "seconds": time.perf_counter() - started,
        "records": sorted(records),
        "client_gc_pauses": pauses.slow,
    }


class _GcPauses:
    """The load generator's own garbage-collection pauses (they delay its requests and
    answers, and would pass for the server's latency): ``slow`` keeps each pause of at least
    ``at_least_ms`` as ``(seconds since start, generation, ms)``."""

    def __init__(self, at_least_ms: float = 5.0) -> None:
        self.slow: list[tuple[float, int, float]] = []
        self._at_least_ms = at_least_ms
        self._origin = self._began = time.perf_counter()
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began = now
        elif (ms := (now - self._began) * 1000) >= self._at_least_ms:
            self.slow.append((round(now - self._origin, 3), info["generation"], round(ms, 3)))

    def stop(self) -> None:
        """Stop recording."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


@dataclass(frozen=True)
class Window:
    """What the requests due in a window got."""

    requests: int
    ok: int
    server_errors: int
    no_answer: int
    degraded: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_p99_ms: float = 0.0
    sent_late_p99_ms: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank; 0 when empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([], 0.99)
    (2.0, 0.0)
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))]


def window(records: list[list[Any]], start_s: float, end_s: float) -> Window:
    """The requests due in ``[start_s, end_s)`` of the run.

    >>> w = window([[0.1, 2.0, 200, False], [1.5, 9.0, 200, True], [1.7, 3.0, 503, False]], 1, 2)
    >>> w.requests, w.ok, w.server_errors, w.degraded, w.p99_ms
    (2, 1, 1, 1, 9.0)
    """
    inside = [r for r in records if start_s <= r[0] < end_s]
    latencies = [float(r[1]) for r in inside]
    return Window(
        requests=len(inside),
        ok=sum(1 for r in inside if r[2] == 200),
        server_errors=sum(1 for r in inside if r[2] >= 500),
        no_answer=sum(1 for r in inside if r[2] == 0),
        degraded=sum(1 for r in inside if r[3]),
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=0.0),
        server_p99_ms=percentile([float(r[4]) for r in inside if len(r) > 4 and r[4] >= 0], 0.99),
        sent_late_p99_ms=percentile([float(r[5]) for r in inside if len(r) > 5], 0.99),
    )


class LoadProcess:
    """The generator in a process of its own; :meth:`result` waits for it and reads its file."""

    def __init__(
        self,
        url: str,
        out: Path,
        *,
        rate: float = 0.0,
        seconds: float,
        prefix: str,
        customers: int = 5000,
        closed: int = 0,
        spacing_s: float = 1.0,
    ) -> None:
        self.out = out
        command = [
            sys.executable, "-m", "benchmarks.chaos_load", "--url", f"{url}/v1/decisions",
            "--rate", str(rate), "--seconds", str(seconds), "--prefix", prefix,
            "--customers", str(customers), "--closed", str(closed), "--out", str(out),
            "--spacing", str(spacing_s),
        ]  # fmt: skip
        self.started_epoch = time.time()
        self.process = subprocess.Popen(command, cwd=ROOT)

    def result(self, timeout_s: float = 900.0) -> dict[str, Any]:
        """The generator's records (waits for it to finish)."""
        self.process.wait(timeout=timeout_s)
        if self.process.returncode != 0:
            raise RuntimeError(f"the load generator failed ({self.process.returncode})")
        found: dict[str, Any] = orjson.loads(self.out.read_bytes())
        return found

    def kill(self) -> None:
        """End the generator if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def main() -> None:
    """Command line of the generator process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--closed", type=int, default=0)
    parser.add_argument("--spacing", type=float, default=1.0, help="event-time s per request")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    found = asyncio.run(
        load(args.url, args.rate, args.seconds, args.prefix, args.customers,
             closed=args.closed, spacing_s=args.spacing)
    )  # fmt: skip
    args.out.write_bytes(orjson.dumps(found))


if __name__ == "__main__":
    main()
