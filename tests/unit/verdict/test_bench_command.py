"""``verdict bench``: a quick run writes where it is told, not over the committed results."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from benchmarks.harness import RESULTS_DIR
from verdict.cli import app


def test_a_quick_benchmark_writes_its_report_into_the_folder_given(tmp_path: Path) -> None:
    committed = (RESULTS_DIR / "events.json").read_bytes()
    result = CliRunner().invoke(app, ["bench", "events", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "events.json").read_bytes())
    assert report["name"] == "events" and report["metrics"]
    assert report["machine"]["reference_ms_before"] > 0
    assert "reference workload" in (tmp_path / "events.md").read_text()
    assert (RESULTS_DIR / "events.json").read_bytes() == committed


def test_an_unknown_benchmark_is_named() -> None:
    result = CliRunner().invoke(app, ["bench", "nosuch", "--out", "/nonexistent"])
    assert result.exit_code == 2
    assert "unknown benchmark 'nosuch'" in result.output
