"""verdict backtest --span: batches of some seconds of event time, labels applied as they close."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from events.metrics import Metrics
from replay.backtest import DEFAULT_SPAN_S, Backtest, BacktestFiles
from replay.quality import Ledger, Truth
from replay.simulator import SimulationConfig, simulate
from tests.unit.replay.test_backtest import T0, Recorder, label, tx, write
from verdict.cli import app
from verdict.settings import Settings
from verdict.wiring import build_engine


def given(tmp_path: Path) -> BacktestFiles:
    """Four transactions within a minute, a fifth later; two labels and a profile between."""
    return BacktestFiles(
        write(tmp_path / "t.jsonl", [tx("a", T0), tx("b", T0 + 10), tx("c", T0 + 20),
                                     tx("d", T0 + 30), tx("e", T0 + 100)]),
        write(tmp_path / "l.jsonl", [label("a", T0 + 20), label("b", T0 + 25)]),
        write(tmp_path / "c.jsonl", [
            {"customer_id": "c2", "home_country": "BE", "ts": T0 + 35},
            {"customer_id": "c1", "home_country": "BE"},
        ]),
    )  # fmt: skip


def recorded(files: BacktestFiles, out: Path, **options: Any) -> list[tuple[str, Any]]:
    recorder = Recorder()
    with out.open("wb") as handle:
        Backtest(recorder, recorder, recorder, Ledger(), **options).run(files, handle)
    return recorder.log


def test_a_batch_spans_its_seconds_and_what_became_known_meanwhile_follows_it(
    tmp_path: Path,
) -> None:
    log = recorded(given(tmp_path), tmp_path / "out.jsonl", span_s=60.0)
    assert log == [
        ("profile", "c1"),
        ("decide", ["a", "b", "c", "d"]),  # the labels at c's time and after wait for the close
        ("label", ("a", "chargeback")),
        ("label", ("b", "chargeback")),
        ("profile", "c2"),
        ("decide", ["e"]),  # 100 s after a: a batch of its own
    ]
    assert [d["tx_id"] for d in map(orjson.loads, (tmp_path / "out.jsonl").open("rb"))] == [
        "a", "b", "c", "d", "e",
    ]  # fmt: skip


def test_a_short_span_or_a_full_batch_closes_it_early(tmp_path: Path) -> None:
    files = given(tmp_path)
    assert [step for step in recorded(files, tmp_path / "o.jsonl", span_s=15.0)
            if step[0] == "decide"] == [("decide", ["a", "b"]), ("decide", ["c", "d"]),
                                        ("decide", ["e"])]  # fmt: skip
    by_size = recorded(files, tmp_path / "o.jsonl", span_s=60.0, batch_size=3)
    assert by_size[1:] == [
        ("decide", ["a", "b", "c"]),  # full: d opens the next batch
        ("label", ("a", "chargeback")),  # known before d: applied before d is decided
        ("label", ("b", "chargeback")),
        ("decide", ["d"]),
        ("profile", "c2"),
        ("decide", ["e"]),
    ]


def test_a_negative_span_is_refused() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="span_s"):
        Backtest(recorder, recorder, recorder, Ledger(), span_s=-1.0)


# -- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bank over three days; labels known ten minutes after their transaction."""
    out = tmp_path_factory.mktemp("span-stream")
    config = SimulationConfig(customers=400, terminals=400, days=3, seed=11, label_delay_s=600)
    simulate(config, out, progress=False)
    return out


def in_process(folder: Path, out: Path, span_s: float) -> list[tuple[Any, ...]]:
    parts = build_engine(Settings(), Metrics(CollectorRegistry()), state="memory")
    ledger = Ledger(Truth.from_labels(folder / "labels.jsonl"))
    run = Backtest(parts.engine, parts.feedback, parts.store, ledger, span_s=span_s)
    files = BacktestFiles(*(folder / f"{name}.jsonl" for name in ("transactions", "labels",
                                                                  "customers")))  # fmt: skip
    with out.open("wb") as handle:
        run.run(files, handle)
    return decided(out)


def decided(path: Path) -> list[tuple[Any, ...]]:
    """What a decision says, without its wall-clock latency."""
    rows = map(orjson.loads, path.read_bytes().splitlines())
    return [(d["tx_id"], d["outcome"], d["fraud_score"], d["model_version"]) for d in rows]


def command(folder: Path, tmp_path: Path, *span: str) -> tuple[dict[str, Any], Path]:
    out, report = tmp_path / f"cli{''.join(span)}.jsonl", tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "backtest", str(folder / "transactions.jsonl"),
            "--labels", str(folder / "labels.jsonl"),
            "--customers", str(folder / "customers.jsonl"),
            "--out", str(out), "--state", "memory", "--report", str(report), "--no-progress",
            *span,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = orjson.loads(report.read_bytes())
    return body, out


@pytest.mark.parametrize("span", [None, 0.0, 900.0])
def test_the_command_decides_as_a_backtest_of_its_span(
    stream: Path, tmp_path: Path, span: float | None
) -> None:
    body, out = command(stream, tmp_path, *([] if span is None else ["--span", f"{span:g}"]))
    expected_span = DEFAULT_SPAN_S if span is None else span
    assert body["run"]["span_s"] == expected_span
    assert decided(out) == in_process(stream, tmp_path / "direct.jsonl", expected_span)


def test_the_span_changes_when_labels_are_learnt(stream: Path, tmp_path: Path) -> None:
    exact = in_process(stream, tmp_path / "exact.jsonl", 0.0)
    hourly = in_process(stream, tmp_path / "hourly.jsonl", 3600.0)
    assert [row[0] for row in hourly] == [row[0] for row in exact]  # same order, all decided
    assert hourly != exact  # labels ten minutes late arrive up to an hour later


def test_a_negative_span_is_a_usage_error(stream: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["backtest", str(stream / "transactions.jsonl"), "--out", str(tmp_path / "o.jsonl"),
         "--state", "memory", "--span", "-5"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--span" in result.output
