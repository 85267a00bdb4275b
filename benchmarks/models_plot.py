"""The plot of ``verdict bench models`` (``models.png``): ROC and precision-recall curves of the
default fraud model and of the anomaly model over the evaluated weeks, and their AUC, average
precision and card precision@100 beside the fraud handbook's published numbers.

The curve points go into ``models.json`` as well (``curves``: a few hundred points a curve),
so the curves can be redrawn or compared without running the benchmark again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from benchmarks.harness import BenchResult
from verdict import plots
from verdict.plots import Curve

PLOT: Final = "models.png"
#: The handbook's best batch models on its simulated data (one test week).
HANDBOOK: Final = {"auc": 0.879, "ap": 0.687, "cp100": 0.305}
HANDBOOK_NAME: Final = "handbook, best batch model"


@dataclass
class ModelsResult(BenchResult):
    """A :class:`BenchResult` that also keeps the curves' points (``models.json``)."""

    curves: dict[str, dict[str, Any]] = field(default_factory=dict)


def curve_pair(y_true: np.ndarray, scores: np.ndarray) -> dict[str, Curve]:
    """The ROC and the precision-recall curve of ``scores``."""
    return {"roc": plots.roc_points(y_true, scores), "pr": plots.pr_points(y_true, scores)}


def bars(
    rows: Mapping[str, Mapping[str, float]], shown: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Metric -> model -> value, for the bar chart: the candidates ``shown`` (name -> label)
    and the handbook where it published the metric under the same protocol.

    >>> bars({"m": {"auc": 0.9, "ap": 0.6, "cp100": 0.2, "cp100_weekly": 0.4}}, {"m": "ours"})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'ROC AUC': {'ours': 0.9, 'handbook, best batch model': 0.879},
     'average precision': {'ours': 0.6, 'handbook, best batch model': 0.687},
     'card precision@100,\\n13 weeks': {'ours': 0.2},
     'card precision@100,\\none-week windows': {'ours': 0.4, 'handbook, best batch model': 0.305}}
    """
    metrics = {
        "ROC AUC": ("auc", HANDBOOK["auc"]),
        "average precision": ("ap", HANDBOOK["ap"]),
        "card precision@100,\n13 weeks": ("cp100", None),
        "card precision@100,\none-week windows": ("cp100_weekly", HANDBOOK["cp100"]),
    }
    out: dict[str, dict[str, float]] = {}
    for title, (key, published) in metrics.items():
        out[title] = {label: float(rows[name][key]) for name, label in shown.items()}
        if published is not None:
            out[title][HANDBOOK_NAME] = published
    return out


def plot(
    curves: Mapping[str, Mapping[str, Curve]],
    rows: Mapping[str, Mapping[str, float]],
    shown: Mapping[str, str],
    ceiling: Mapping[str, float],
    fraud_rate: float,
    path: Path,
) -> str:
    """Draw ``models.png`` (the candidates ``shown``, name -> label, in that order, the same
    colour in every panel); the report's lines that show it (or say why there is none)."""
    if not plots.available():
        return f"({plots.SKIPPED})"
    plots.quality_figure(
        path,
        {label: curves[name]["roc"] for name, label in shown.items() if name in curves},
        {label: curves[name]["pr"] for name, label in shown.items() if name in curves},
        "verdict bench models: the last 13 weeks, prequential, labels 7 days late",
        base_rate=fraud_rate,
        bars=bars(rows, shown),
        ceilings={
            "card precision@100,\n13 weeks": ceiling["cp100"],
            "card precision@100,\none-week windows": ceiling["cp100_weekly"],
        },
    )
    return (
        f"![ROC and precision-recall curves, quality against the handbook]({path.name})\n\n"
        "The handbook's card precision@100 is measured on one test week, so it stands beside "
        "ours over one-week windows (the known-compromised rule restarted each week); the "
        "dashed lines are what perfect scores reach under each rule."
    )
