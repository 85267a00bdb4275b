"""The plot of ``verdict bench stream``: decisions per second over the run, beside the bare
agent's events per second, as one PNG (``stream.png``).

Both come from times the benchmark has anyway: the broker timestamp of every decision (read
back for the latencies) and the time of each of the bare agent's micro-batches. Each line
counts from its own process's start, so start-up shows too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from verdict import plots

PLOT: Final = "stream.png"


def bin_seconds(span_s: float) -> float:
    """Bins of a second, finer for a short run (about 60 bins at least, 0.25 s at the finest).

    >>> bin_seconds(300.0), bin_seconds(20.0), bin_seconds(5.0)
    (1.0, 0.333, 0.25)
    """
    return round(max(0.25, min(1.0, span_s / 60)), 3)


def timeline(
    decision_ms: Sequence[int],
    worker_started: float,
    bare_samples: Sequence[Sequence[float]],
    bare_started: float,
) -> dict[str, tuple[list[float], list[float]]]:
    """Decisions/s of ``verdict serve`` (from the decisions' broker timestamps, ms) and events/s
    of the bare agent (from its micro-batches: time, size), each from its process's start."""
    times = np.asarray(decision_ms, dtype=np.float64) / 1000
    span = float(times.max() - worker_started) if len(times) else 1.0
    step = bin_seconds(span)
    out = {"verdict serve: decisions/s": plots.per_second(times, None, step, worker_started)}
    if bare_samples:
        at = np.array([s[0] for s in bare_samples])
        sizes = np.array([s[1] for s in bare_samples])
        out["bare faust agent: events/s (JSON decode only)"] = plots.per_second(
            at, sizes, step, bare_started
        )
    return out


def plot(
    series: Mapping[str, tuple[list[float], list[float]]],
    phases: Mapping[str, float],
    goal: float,
    path: Path,
) -> str:
    """Draw ``series`` with ``phases`` (label -> seconds since the worker started) marked;
    the report's line that shows the plot (or says why there is none)."""
    if not plots.available():
        return f"({plots.SKIPPED})"
    plots.rates_over_time(
        path,
        series,
        "verdict bench stream: throughput over the run (each line from its process's start)",
        "seconds since the process started",
        "events per second",
        marks=phases,
        goal=(f"goal {goal:,.0f} decisions/s", goal),
    )
    return f"![decisions per second over the run, and the bare agent's events per second]({PLOT})"
