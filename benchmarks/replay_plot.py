"""The plot of ``verdict bench replay``: rates and memory over time, as one PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks.replay_runs import BacktestRun, Timed

#: Seconds over which a rate is averaged for the plot.
WINDOW_S = 5.0


def rates(
    samples: Sequence[tuple[float, float]], window_s: float = WINDOW_S
) -> list[tuple[float, float]]:
    """(time, count so far) samples -> (time, count per second over the last ``window_s``).

    >>> rates([(0.0, 0), (1.0, 10), (2.0, 30), (3.0, 60)], window_s=2.0)
    [(2.0, 15.0), (3.0, 25.0)]
    """
    points: list[tuple[float, float]] = []
    j = 0  # the last sample at least window_s before the current one
    for t, count in samples:
        if t - samples[0][0] < window_s:
            continue
        while samples[j + 1][0] <= t - window_s:
            j += 1
        t0, c0 = samples[j]
        points.append((t, (count - c0) / (t - t0)))
    return points


def plot(
    replayed: Timed, raw_batch_rate: float, backtests: Mapping[str, BacktestRun], path: Path
) -> None:
    """The replay's events/s, each backtest's transactions/s and resident memory, over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(8, 9.5))
    window_s = max(0.05, min(1.0, replayed.seconds / 20))  # a few points for a short replay
    replay_points = rates([(t, float(n)) for t, n in replayed.samples], window_s=window_s)
    if replay_points:
        top.plot(*zip(*replay_points, strict=True), label="verdict replay --speed max")
    top.axhline(raw_batch_rate, color="grey", linestyle="--",
                label="raw aiokafka send_batch (mean)")  # fmt: skip
    top.axhline(50_000, color="red", linestyle=":", label="goal")
    top.set_title(f"verdict bench replay: replay events/s ({window_s:.2g} s windows)")
    top.set_xlabel("seconds into the replay")
    top.set_ylabel("events/s")
    for state, run in backtests.items():
        points = rates([(t, n) for t, n, _ in run.samples])
        if points:
            middle.plot(*zip(*points, strict=True), label=f"--state {state}")
        bottom.plot([s[0] for s in run.samples], [s[2] / 2**20 for s in run.samples],
                    label=f"--state {state}")  # fmt: skip
    middle.set_title(f"verdict backtest: transactions/s ({WINDOW_S:g} s windows)")
    middle.set_xlabel("seconds since the command started")
    middle.set_ylabel("transactions/s")
    bottom.set_title("verdict backtest: resident memory")
    bottom.set_xlabel("seconds since the command started")
    bottom.set_ylabel("MiB")
    for axes in (top, middle, bottom):
        axes.legend(loc="best")
        axes.grid(alpha=0.3)
        axes.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
