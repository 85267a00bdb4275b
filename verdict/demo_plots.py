"""The demo's plots, next to its report in ``verdict-demo/``.

- ``latency.png``: the inline requests' latency seen by the client, and the engine's time per
  decision on the stream (each decision's ``latency_ms``);
- ``decisions.png``: decisions per second while the week was replayed (the decisions' producer
  timestamps);
- ``quality.png``: ROC and precision-recall curves of the week's fraud and anomaly scores
  against the simulated labels.

matplotlib comes with the ``dev`` extra (which ``make demo`` installs); without it the demo
runs all the same and says the plots were skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from verdict import plots
from verdict.demo_outputs import Outputs, Scored


def draw(outputs: Outputs, inline_ms: list[float], truth: Scored, out_dir: Path) -> list[str]:
    """Draw the plots there is data for into ``out_dir``; their file names (none without
    matplotlib)."""
    if not plots.available():
        return []
    drawn: list[Path] = []
    engine_ms = [float(d.get("latency_ms", 0.0)) for d in outputs.decisions.values()]
    if inline_ms or engine_ms:
        drawn.append(_latency(inline_ms, engine_ms, out_dir / "latency.png"))
    if outputs.decision_ms:
        drawn.append(_decisions(outputs.decision_ms, out_dir / "decisions.png"))
    if truth.both_classes:
        drawn.append(_quality(truth, out_dir / "quality.png"))
    return [path.name for path in drawn]


def _latency(inline_ms: list[float], engine_ms: list[float], path: Path) -> Path:
    return plots.latency_histogram(
        path,
        {
            "inline API: client time of sequential requests": inline_ms,
            "stream: engine time per decision, in its micro-batch": engine_ms,
        },
        "verdict demo: latency",
    )


def _decisions(decision_ms: list[int], path: Path) -> Path:
    times = np.asarray(decision_ms, dtype=np.float64) / 1000
    step = max(0.25, min(1.0, float(times.max() - times.min()) / 60))
    return plots.rates_over_time(
        path,
        {"decisions/s (one worker)": plots.per_second(times, None, step)},
        f"verdict demo: decisions per second while the week was replayed ({step:.2g} s bins)",
        "seconds since the first decision",
        "decisions per second",
    )


def _quality(truth: Scored, path: Path) -> Path:
    y = np.asarray(truth.is_fraud)
    scores = {
        "fraud_score": np.asarray(truth.fraud_score),
        "anomaly_score": np.asarray(truth.anomaly_score),
    }
    return plots.quality_figure(
        path,
        {name: plots.roc_points(y, s) for name, s in scores.items()},
        {name: plots.pr_points(y, s) for name, s in scores.items()},
        f"verdict demo: the week's {len(y):,} labelled decisions (models learning online from "
        "day one, labels as the replay delivers them)",
        base_rate=float(y.mean()),
    )
