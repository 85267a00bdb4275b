"""CPU time of the processes a benchmark runs, sampled over wall-clock time.

A benchmark that runs several processes (the worker, the broker, Redis, a baseline agent) on
this 2-core machine asks of each: how much CPU did it spend per event over the window in which
the events were handled? :class:`CpuSampler` reads each process's user + system time from
``/proc`` (Redis's from ``INFO cpu``, since it may not be our child) every ``every_s`` in a
thread, and :meth:`CpuSampler.spent` interpolates between samples at the window's ends.

>>> sampler = CpuSampler({"me": lambda: 1.0}, every_s=0.01)
>>> sampler.samples = [(0.0, {"me": 0.0}), (10.0, {"me": 5.0})]
>>> sampler.spent("me", 2.0, 6.0)
2.0
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import redis

#: A source of cumulative CPU seconds.
CpuSource = Callable[[], float]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``nan`` when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(client: redis.Redis) -> CpuSource:
    """The Redis server's own CPU seconds so far (``used_cpu_user + used_cpu_sys``)."""

    def read() -> float:
        try:
            info = client.info("cpu")
        except redis.RedisError:
            return float("nan")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    return read


class CpuSampler:
    """Samples cumulative CPU seconds of named sources in a background thread.

    Parameters
    ----------
    sources
        Name -> a function returning the source's cumulative CPU seconds.
    every_s
        Seconds between samples.
    """

    def __init__(self, sources: Mapping[str, CpuSource], every_s: float = 0.25) -> None:
        self.sources = dict(sources)
        self.every_s = every_s
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample now."""
        self.samples.append((time.time(), {k: read() for k, read in list(self.sources.items())}))

    def start(self) -> None:
        """Sample now, then every ``every_s`` until :meth:`stop`."""
        self.sample()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (once more, now); harmless when it never started or stopped already."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def at(self, name: str, when: float) -> float:
        """Cumulative CPU seconds of ``name`` at wall-clock ``when``, interpolated."""
        points = [(t, s[name]) for t, s in self.samples if name in s and s[name] == s[name]]
        if not points:
            return float("nan")
        if when <= points[0][0]:
            return points[0][1]
        for (t0, c0), (t1, c1) in itertools.pairwise(points):
            if t0 <= when <= t1:
                return c0 if t1 == t0 else c0 + (c1 - c0) * (when - t0) / (t1 - t0)
        return points[-1][1]

    def spent(self, name: str, start: float, end: float) -> float:
        """CPU seconds ``name`` spent between wall-clock ``start`` and ``end``."""
        return self.at(name, end) - self.at(name, start)
