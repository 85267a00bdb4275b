"""The inline load of a chaos run: ``POST /v1/decisions`` at a fixed rate, every request kept.

Open loop, as in :mod:`benchmarks.inline`: request ``i`` is due at ``t0 + i / rate`` whatever
happened before, and its latency counts from when it was due, so a server that stalls shows
it. Each request is kept as ``(due_s, latency_ms, status, degraded)`` (status 0: no answer
within the client timeout), so any window (an outage, a minute of a soak) can be cut out
afterwards. The generator runs in a process of its own (``python -m benchmarks.chaos_load``)
so that it does not share the server's event loop; it writes its records as JSON.
Transaction ``i`` has ``tx_id`` ``<prefix><i>``, customers and terminals of the prefix only, so
the inline load never touches the entities of a stream it runs beside.
"""

from __future__ import annotations

import argparse
import asyncio
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


def body(prefix: str, i: int, customers: int) -> dict[str, Any]:
    """The transaction of request ``i``."""
    return {
        "tx_id": f"{prefix}{i}",
        "ts": T0 + i,
        "customer_id": f"{prefix}c{i % customers}",
        "amount": float(5 + (i * 37) % 500),
        "terminal_id": f"{prefix}t{i % 900}",
        "country": "FR",
    }


async def load(
    url: str, rate: float, seconds: float, prefix: str, customers: int, closed: int = 0
) -> dict[str, Any]:
    """Send decisions open loop at ``rate``/s (or closed loop on ``closed`` connections)."""
    import aiohttp

    records: list[tuple[float, float, int, bool]] = []
    counter = 0

    async def one(session: aiohttp.ClientSession, i: int, due: float) -> None:
        status, degraded = 0, False
        try:
            async with session.post(url, json=body(prefix, i, customers)) as response:
                payload = await response.read()
                status = response.status
                if status == 200:
                    degraded = bool(orjson.loads(payload).get("degraded"))
        except (TimeoutError, aiohttp.ClientError):
            status = 0
        now = time.perf_counter()
        records.append((due - started, (now - due) * 1000, status, degraded))

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
            tasks = []
            for i in range(int(rate * seconds)):
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(session, i, due)))
            await asyncio.gather(*tasks)
    return {
        "started_epoch": started_epoch,
        "seconds": time.perf_counter() - started,
        "records": sorted(records),
    }


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
    ) -> None:
        self.out = out
        command = [
            sys.executable, "-m", "benchmarks.chaos_load", "--url", f"{url}/v1/decisions",
            "--rate", str(rate), "--seconds", str(seconds), "--prefix", prefix,
            "--customers", str(customers), "--closed", str(closed), "--out", str(out),
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
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    found = asyncio.run(
        load(args.url, args.rate, args.seconds, args.prefix, args.customers, args.closed)
    )
    args.out.write_bytes(orjson.dumps(found))


if __name__ == "__main__":
    main()
