"""The shared plots: curve points agree with the metrics; each drawing writes a real PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.evaluation import average_precision, roc_auc
from verdict import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    """``path`` is a PNG of a drawn figure (not an empty canvas)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) >= min_bytes, f"{path} has only {len(data)} bytes"


@pytest.fixture
def matplotlib() -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the dev extra) draws the plots")


def _scores(n: int = 5_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.05
    s = np.where(y, rng.beta(4, 2, n), rng.beta(1, 5, n)).round(2)  # ties, as real scores have
    return y, s


def test_curve_areas_are_the_metrics() -> None:
    y, s = _scores()
    assert plots.roc_points(y, s).area == pytest.approx(roc_auc(y, s))
    assert plots.pr_points(y, s).area == pytest.approx(average_precision(y, s))


def test_curves_are_thinned_but_keep_their_ends() -> None:
    y, s = _scores(50_000)
    s = s + np.random.default_rng(0).random(len(s)) * 1e-3  # every score distinct
    roc = plots.roc_points(y, s, max_points=100)
    assert len(roc.x) <= 102
    assert (roc.x[0], roc.y[0]) == (0.0, 0.0)
    assert (roc.x[-1], roc.y[-1]) == (1.0, 1.0)
    assert all(b >= a for a, b in zip(roc.x, roc.x[1:], strict=False))
    pr = plots.pr_points(y, s, max_points=100)
    assert len(pr.x) <= 102
    assert pr.x[-1] == 1.0
    assert pr.y[-1] == pytest.approx(y.mean())


def test_curves_of_one_class_are_empty() -> None:
    assert plots.roc_points([False, False], [0.1, 0.2]).x == []
    assert np.isnan(plots.pr_points([False, False], [0.1, 0.2]).area)


def test_curve_to_dict_is_json_ready() -> None:
    curve = plots.roc_points([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.2]).to_dict()
    assert set(curve) == {"x", "y", "area"}
    assert all(isinstance(v, float) for v in curve["x"] + curve["y"])


def test_per_second_counts_weights_and_empty_input() -> None:
    assert plots.per_second([]) == ([], [])
    middles, rates = plots.per_second([10.0, 10.2, 11.5], [100, 50, 20], bin_s=0.5, start=10.0)
    assert middles == [0.25, 0.75, 1.25, 1.75]
    assert rates == [300.0, 0.0, 0.0, 40.0]


@pytest.mark.usefixtures("matplotlib")
def test_latency_histogram_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = plots.latency_histogram(
        tmp_path / "latency.png",
        {"client": rng.lognormal(2, 1, 500).tolist(), "server": rng.lognormal(0, 1, 500)},
        "latency",
        goals={"goal": 5.0},
    )
    assert_png(path)


@pytest.mark.usefixtures("matplotlib")
def test_latency_histogram_of_nothing_still_writes_a_png(tmp_path: Path) -> None:
    assert_png(plots.latency_histogram(tmp_path / "empty.png", {"client": []}, "none"), 2_000)


@pytest.mark.usefixtures("matplotlib")
def test_rates_over_time_writes_a_png(tmp_path: Path) -> None:
    times = np.sort(np.random.default_rng(2).uniform(0, 30, 3_000))
    path = plots.rates_over_time(
        tmp_path / "sub" / "rates.png",  # the folder is made
        {"decisions/s": plots.per_second(times)},
        "throughput",
        "seconds",
        "per second",
        marks={"paced from": 20.0},
        goal=("goal", 200.0),
    )
    assert_png(path)


@pytest.mark.usefixtures("matplotlib")
@pytest.mark.parametrize("with_bars", [False, True])
def test_quality_figure_writes_a_png(tmp_path: Path, with_bars: bool) -> None:
    y, s = _scores()
    bars = {"AUC": {"ours": 0.9, "theirs": 0.88}, "AP": {"ours": 0.6}} if with_bars else None
    path = plots.quality_figure(
        tmp_path / "quality.png",
        {"model": plots.roc_points(y, s)},
        {"model": plots.pr_points(y, s)},
        "quality",
        base_rate=float(y.mean()),
        bars=bars,
        ceilings={"AP": 0.8},
    )
    assert_png(path, 20_000)
