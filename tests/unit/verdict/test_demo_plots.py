"""The demo's plots and how its report shows them (or says they were skipped)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import orjson
import pytest
from rich.console import Console

from tests.unit.verdict.test_plots import assert_png
from verdict import demo_plots, plots
from verdict.demo_outputs import Outputs, Scored, scored
from verdict.demo_report import print_summary, write_report


def _outputs(n: int = 400) -> Outputs:
    rng = np.random.default_rng(5)
    out = Outputs()
    for i in range(n):
        fraud = i % 20 == 0
        out.decisions[f"tx{i}"] = {
            "tx_id": f"tx{i}",
            "outcome": "approve",
            "fraud_score": float(rng.beta(4, 2) if fraud else rng.beta(1, 6)),
            "anomaly_score": float(rng.random()),
            "latency_ms": float(rng.lognormal(0, 0.5)),
        }
        out.decision_ms.append(1_800_000_000_000 + i * 20)
    out.first_ms, out.last_ms = out.decision_ms[0], out.decision_ms[-1]
    return out


def _labels(path: Path, n: int = 400) -> Path:
    lines = [orjson.dumps({"tx_id": f"tx{i}", "is_fraud": i % 20 == 0}) for i in range(n)]
    path.write_bytes(b"\n".join([*lines, orjson.dumps({"tx_id": "other", "is_fraud": True})]))
    return path


def _report(drawn: list[str] | str) -> dict[str, object]:
    return {
        "seconds": 12.0,
        "transactions": 400,
        "replay": {"published": {"transactions": 400}, "events_per_s": 1000},
        "stream": {
            "decisions": 400,
            "decided_per_s": 900,
            "engine_latency_ms": {"p50": 1.0, "p99": 3.0},
            "outcomes": {"approve": 400},
            "alerts": {},
            "triggers": {},
            "dead_letters": 0,
        },
        "inline": {"requests": 3, "client_latency_ms": {"p50": 2.0, "p99": 4.0, "max": 5.0}},
        "quality": {},
        "plots": drawn,
    }


def test_scored_pairs_decisions_with_their_labels(tmp_path: Path) -> None:
    truth = scored(_outputs(), _labels(tmp_path / "labels.jsonl"))
    assert len(truth.is_fraud) == 400  # the label of an undecided transaction is left out
    assert sum(truth.is_fraud) == 20
    assert truth.both_classes
    assert not Scored([True], [0.5], [0.5]).both_classes


def test_draw_writes_the_three_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the dev extra) draws the plots")
    outputs = _outputs()
    truth = scored(outputs, _labels(tmp_path / "labels.jsonl"))
    drawn = demo_plots.draw(outputs, [1.5, 2.0, 2.5, 8.0], truth, tmp_path)
    assert drawn == ["latency.png", "decisions.png", "quality.png"]
    for name in drawn:
        assert_png(tmp_path / name)


def test_draw_skips_what_it_has_no_data_for(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the dev extra) draws the plots")
    assert demo_plots.draw(Outputs(), [], Scored([], [], []), tmp_path) == []


def test_draw_without_matplotlib_draws_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "available", lambda: False)
    outputs = _outputs()
    truth = scored(outputs, _labels(tmp_path / "labels.jsonl"))
    assert demo_plots.draw(outputs, [1.0], truth, tmp_path) == []
    assert not list(tmp_path.glob("*.png"))


def test_report_links_the_plots_and_the_summary_lists_them(tmp_path: Path) -> None:
    write_report(_report(["latency.png", "quality.png"]), Outputs(), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "](latency.png)" in md
    assert "](quality.png)" in md
    console = Console(file=io.StringIO(), width=200)
    print_summary(_report(["latency.png"]), Outputs(), tmp_path, console)
    assert f"Plots: {tmp_path / 'latency.png'}" in console.file.getvalue()  # type: ignore[attr-defined]


def test_report_says_when_plots_were_skipped(tmp_path: Path) -> None:
    write_report(_report(plots.SKIPPED), Outputs(), tmp_path)
    assert plots.SKIPPED in (tmp_path / "report.md").read_text()
    console = Console(file=io.StringIO(), width=200)
    print_summary(_report(plots.SKIPPED), Outputs(), tmp_path, console)
    assert "matplotlib is not installed" in console.file.getvalue()  # type: ignore[attr-defined]
