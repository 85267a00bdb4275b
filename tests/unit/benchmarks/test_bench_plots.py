"""The benchmarks' plots: series from what each benchmark records, and real PNGs from them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import orjson
import pytest

from benchmarks import inline, models_plot, stream_plot
from tests.unit.verdict.test_plots import assert_png
from verdict import plots


@pytest.fixture
def matplotlib() -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the dev extra) draws the plots")


def _stream_series() -> dict[str, tuple[list[float], list[float]]]:
    started = 1_800_000_000.0
    decisions = [int((started + 5 + i / 1000) * 1000) for i in range(20_000)]  # 1,000/s
    batches = [(started + 4 + i / 10, 500) for i in range(40)]  # 5,000/s
    return stream_plot.timeline(decisions, started, batches, started)


def test_stream_timeline_counts_from_each_process_start() -> None:
    series = _stream_series()
    step = stream_plot.bin_seconds(25.0)
    decided_at, decided = series["verdict serve: decisions/s"]
    assert decided_at[0] == pytest.approx(step / 2)
    assert sum(decided) * step == pytest.approx(20_000)  # every decision counted once
    assert max(decided) == pytest.approx(1000.0, rel=0.01)
    bare_at, bare = series["bare faust agent: events/s (JSON decode only)"]
    assert sum(bare) * step == pytest.approx(20_000)
    assert all(rate == 0 for at, rate in zip(bare_at, bare, strict=True) if at < 4.0 - step)


@pytest.mark.usefixtures("matplotlib")
def test_stream_plot_writes_a_png(tmp_path: Path) -> None:
    line = stream_plot.plot(_stream_series(), {"paced from": 12.0}, 10_000, tmp_path / "s.png")
    assert line.startswith("![") and line.endswith(f"({stream_plot.PLOT})")
    assert_png(tmp_path / "s.png")


def test_plots_say_why_they_are_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "available", lambda: False)
    assert "matplotlib" in stream_plot.plot(_stream_series(), {}, 1.0, tmp_path / "s.png")
    steady = {"client_ms": [1.0], "server_ms": [0.5]}
    assert "matplotlib" in inline._plot(steady, steady, tmp_path / "i.png", 1.0)
    assert not list(tmp_path.iterdir())


@pytest.mark.usefixtures("matplotlib")
def test_inline_histogram_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    steady = {"client_ms": rng.lognormal(2, 1, 2_000).tolist(), "server_ms": [1.0] * 2_000}
    lean = {"client_ms": rng.lognormal(1, 1, 2_000).tolist(), "server_ms": [0.5] * 2_000}
    line = inline._plot(steady, lean, tmp_path / inline.PLOT, 2.0)
    assert line == f"![latency histogram at 1,000 requests/s]({inline.PLOT})"
    assert_png(tmp_path / inline.PLOT)


def _models() -> tuple[dict[str, dict[str, plots.Curve]], dict[str, dict[str, float]]]:
    rng = np.random.default_rng(6)
    y = rng.random(20_000) < 0.01
    fraud = np.where(y, rng.beta(4, 2, len(y)), rng.beta(1, 8, len(y)))
    anomaly = np.where(y, rng.beta(2, 2, len(y)), rng.beta(1, 3, len(y)))
    curves = {
        "default": models_plot.curve_pair(y, fraud),
        "anomaly": models_plot.curve_pair(y, anomaly),
    }
    rows = {
        name: {"auc": pair["roc"].area, "ap": pair["pr"].area, "cp100": 0.2, "cp100_weekly": 0.35}
        for name, pair in curves.items()
    }
    return curves, rows


@pytest.mark.usefixtures("matplotlib")
def test_models_plot_writes_a_png(tmp_path: Path) -> None:
    curves, rows = _models()
    shown = {"default": "fraud (default)", "anomaly": "anomaly alone"}
    ceiling = {"cp100": 0.28, "cp100_weekly": 0.58}
    text = models_plot.plot(curves, rows, shown, ceiling, 0.01, tmp_path / models_plot.PLOT)
    assert f"]({models_plot.PLOT})" in text
    assert_png(tmp_path / models_plot.PLOT, 30_000)


def test_models_result_keeps_the_curves_in_its_json() -> None:
    curves, _ = _models()
    result = models_plot.ModelsResult(
        name="models",
        metrics={"auc": 0.9},
        curves={n: {k: c.to_dict() for k, c in pair.items()} for n, pair in curves.items()},
    )
    saved = orjson.loads(orjson.dumps(asdict(result)))
    assert saved["metrics"] == {"auc": 0.9}
    roc = saved["curves"]["default"]["roc"]
    assert len(roc["x"]) == len(roc["y"]) <= plots.MAX_POINTS + 2
    assert roc["area"] == pytest.approx(curves["default"]["roc"].area, abs=1e-5)
