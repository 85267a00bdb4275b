"""The plots of the benchmarks and the demo: PNG files drawn with matplotlib, when it is there.

matplotlib is optional (the ``dev`` extra, which ``make demo`` installs): each drawing function
imports it when called, and :func:`available` says beforehand whether it can. Figures are
drawn on matplotlib's Agg canvas directly, without ``pyplot``: no global backend to switch and
no figure registry to close, so drawing inside the demo's process leaves nothing behind.

The points of the curves (:func:`roc_points`, :func:`pr_points`, :func:`per_second`) need only
numpy, so a result can keep them where matplotlib is missing.

It lives in ``verdict/`` because the demo (here) and the benchmarks (which already import
``verdict``) both draw with it, and the engine's packages never import either.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.evaluation import ArrayLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Points kept of a curve: enough to draw it, few enough to store in a result's JSON.
MAX_POINTS = 300
SKIPPED = "plots skipped: matplotlib is not installed (pip install matplotlib, or '.[dev]')"


def available() -> bool:
    """Whether matplotlib can be imported (the plots can be drawn)."""
    return importlib.util.find_spec("matplotlib") is not None


@dataclass(frozen=True)
class Curve:
    """Points of a ROC (x: false positive rate, y: true positive rate) or precision-recall
    (x: recall, y: precision) curve, and the area that names it (AUC or AP)."""

    x: list[float]
    y: list[float]
    area: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded to 5 digits."""
        return {
            "x": [round(v, 5) for v in self.x],
            "y": [round(v, 5) for v in self.y],
            "area": round(self.area, 5),
        }


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[list[float], list[float]]:
    """At most about ``max_points`` of a curve, evenly spaced along its length (so the steep
    corner of a ROC curve keeps its points), first and last kept."""
    if len(x) <= max_points:
        return x.tolist(), y.tolist()
    length = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(x)) + np.abs(np.diff(y)))))
    step = length[-1] / max_points if length[-1] > 0 else 1.0
    _, keep = np.unique(np.floor(length / step), return_index=True)
    keep = np.union1d(keep, [len(x) - 1])
    return x[keep].tolist(), y[keep].tolist()


def _ranked(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    """True positives and alerts at each distinct threshold (highest score first); positives."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be two equal 1-d arrays")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.concatenate((np.flatnonzero(np.diff(s)), [len(s) - 1]))
    return np.cumsum(y)[last_of_tie], last_of_tie + 1, int(y.sum())


def roc_points(y_true: ArrayLike, scores: ArrayLike, max_points: int = MAX_POINTS) -> Curve:
    """The ROC curve: false and true positive rates at every distinct threshold, thinned.

    >>> curve = roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> curve.x, curve.y, curve.area
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], 0.75)
    """
    true_pos, alerts, positives = _ranked(y_true, scores)
    negatives = int(alerts[-1]) - positives if len(alerts) else 0
    if positives == 0 or negatives == 0:
        return Curve([], [], float("nan"))
    fpr = np.concatenate(([0.0], (alerts - true_pos) / negatives))
    tpr = np.concatenate(([0.0], true_pos / positives))
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return Curve(*_thin(fpr, tpr, max_points), area=area)


def pr_points(y_true: ArrayLike, scores: ArrayLike, max_points: int = MAX_POINTS) -> Curve:
    """The precision-recall curve at every distinct threshold, thinned; its area is the
    average precision (as :func:`models.evaluation.average_precision`).

    >>> curve = pr_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> curve.x, [round(p, 3) for p in curve.y], round(curve.area, 4)
    ([0.5, 0.5, 1.0, 1.0], [1.0, 0.5, 0.667, 0.5], 0.8333)
    """
    true_pos, alerts, positives = _ranked(y_true, scores)
    if positives == 0:
        return Curve([], [], float("nan"))
    recall = true_pos / positives
    precision = true_pos / alerts
    area = float(np.sum(precision * np.diff(np.concatenate(([0.0], recall)))))
    return Curve(*_thin(recall, precision, max_points), area=area)


def per_second(
    times_s: Sequence[float] | np.ndarray,
    counts: Sequence[float] | np.ndarray | None = None,
    bin_s: float = 1.0,
    start: float | None = None,
) -> tuple[list[float], list[float]]:
    """Events per second in bins of ``bin_s`` from ``start``: (bin middles, rates).

    ``counts`` are the events at each time (1 each when omitted).

    >>> per_second([0.1, 0.2, 0.7, 1.5], bin_s=1.0, start=0.0)
    ([0.5, 1.5], [3.0, 1.0])
    """
    times = np.asarray(times_s, dtype=np.float64)
    if not len(times):
        return [], []
    origin = float(times.min()) if start is None else start
    bins = max(1, int((float(times.max()) - origin) // bin_s) + 1)  # the last time inside
    edges = origin + np.arange(bins + 1) * bin_s
    found, _ = np.histogram(times, bins=edges, weights=counts)
    return ((edges[:-1] + bin_s / 2) - origin).tolist(), (found / bin_s).tolist()


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def _legend(ax: Axes, **where: Any) -> None:
    """A legend, when something has a label (an empty one only warns)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", **where)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def latency_histogram(
    path: Path,
    series: Mapping[str, Sequence[float] | np.ndarray],
    title: str,
    goals: Mapping[str, float] | None = None,
) -> Path:
    """Histograms of latencies (ms) on a log axis, p50 and p99 of each marked; ``goals``
    (label -> ms) drawn as dotted lines. Each series is drawn as shares of its own count, so a
    few hundred requests show beside tens of thousands. Returns ``path``."""
    figure = _figure((11, 4.8))
    ax = figure.add_subplot()
    values = {name: np.asarray(v, dtype=np.float64) for name, v in series.items() if len(v)}
    every = np.concatenate(list(values.values())) if values else np.array([1.0])
    low, high = max(float(every.min()), 1e-3), max(float(every.max()), 1e-3)
    edges = np.logspace(np.log10(low) - 0.02, np.log10(high) + 0.02, 60)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    for (name, data), colour in zip(values.items(), colours, strict=False):
        p50, p99 = np.percentile(data, [50, 99])
        ax.hist(np.clip(data, low, None), bins=edges.tolist(), histtype="step", linewidth=1.6,
                weights=np.full(len(data), 100 / len(data)), color=colour,
                label=f"{name} ({len(data):,})")  # fmt: skip
        ax.axvline(p50, color=colour, linestyle="--", linewidth=1, label=f"p50 {p50:.3g} ms")
        ax.axvline(p99, color=colour, linestyle="-.", linewidth=1, label=f"p99 {p99:.3g} ms")
    for name, ms in (goals or {}).items():
        ax.axvline(ms, color="red", linestyle=":", linewidth=1.4, label=f"{name} {ms:g} ms")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("% of the series' requests per bin")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def rates_over_time(
    path: Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    marks: Mapping[str, float] | None = None,
    goal: tuple[str, float] | None = None,
) -> Path:
    """Rates over time, one line per series ((times, rates)); ``marks`` (label -> time) as
    vertical lines, ``goal`` (label, rate) as a dotted horizontal one. Returns ``path``."""
    figure = _figure((11, 4.8))
    ax = figure.add_subplot()
    for name, (times, rates) in series.items():
        if len(times):
            ax.plot(times, rates, linewidth=1.3, label=name)
    for (name, at), colour in zip((marks or {}).items(), ["grey", "black", "brown"], strict=False):
        ax.axvline(at, color=colour, linestyle="--", linewidth=1, label=name)
    if goal is not None:
        ax.axhline(goal[1], color="red", linestyle=":", linewidth=1.4, label=goal[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter("{x:,.0f}")
    ax.grid(alpha=0.3)
    _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def _curves(ax: Axes, curves: Mapping[str, Curve], roc: bool, base_rate: float | None) -> None:
    for name, curve in curves.items():
        if curve.x:
            area = "AUC" if roc else "AP"
            ax.plot(curve.x, curve.y, linewidth=1.4, label=f"{name} ({area} {curve.area:.3f})")
    if roc:
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate (recall)")
        ax.set_title("ROC curve")
        _legend(ax, loc="lower right")
    else:
        if base_rate is not None:
            ax.axhline(base_rate, color="grey", linestyle=":", linewidth=1,
                       label=f"fraud rate {base_rate:.2%}")  # fmt: skip
        ax.set_xlabel("recall (share of frauds found)")
        ax.set_ylabel("precision (share of alerts that are fraud)")
        ax.set_title("precision-recall curve")
        _legend(ax, loc="best")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def _bars(
    ax: Axes, groups: Mapping[str, Mapping[str, float]], ceilings: Mapping[str, float]
) -> None:
    names = list(dict.fromkeys(name for values in groups.values() for name in values))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        xs = [g for g, (_, values) in enumerate(groups.items()) if name in values]
        heights = [values[name] for values in groups.values() if name in values]
        offset = (i - (len(names) - 1) / 2) * width
        bars = ax.bar([x + offset for x in xs], heights, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize="x-small", padding=1)
    label = "perfect scores (the most any model can reach)"
    for g, group in enumerate(groups):
        if group in ceilings:
            ax.plot([g - 0.45, g + 0.45], [ceilings[group]] * 2, color="black", linestyle="--",
                    linewidth=1.2, label=label)  # fmt: skip
            label = "_nolegend_"
    ax.set_xticks(range(len(groups)), list(groups), fontsize="small")
    ax.set_ylabel("score (higher is better)")
    ax.set_ylim(0, 1.1)
    ax.set_title("quality against the handbook's published numbers")
    ax.grid(alpha=0.3, axis="y")
    _legend(ax, loc="upper right")


def quality_figure(
    path: Path,
    roc: Mapping[str, Curve],
    pr: Mapping[str, Curve],
    title: str,
    base_rate: float | None = None,
    bars: Mapping[str, Mapping[str, float]] | None = None,
    ceilings: Mapping[str, float] | None = None,
) -> Path:
    """ROC and precision-recall curves side by side and, when ``bars`` (metric -> model ->
    value) are given, a bar chart of them below, ``ceilings`` (metric -> value) as dashed
    lines. Returns ``path``."""
    figure = _figure((11, 9.5) if bars else (11, 4.8))
    grid = figure.add_gridspec(2 if bars else 1, 2)
    _curves(figure.add_subplot(grid[0, 0]), roc, True, None)
    _curves(figure.add_subplot(grid[0, 1]), pr, False, base_rate)
    if bars:
        _bars(figure.add_subplot(grid[1, :]), bars, ceilings or {})
    figure.suptitle(title)
    return _save(figure, path)
