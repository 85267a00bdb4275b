"""verdict backtest on two processes: the decisions of one, errors told, nothing left running."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from typer.testing import CliRunner

from events.errors import DependencyUnavailableError
from events.records import Label, Transaction
from replay.backtest import BacktestFiles, BacktestSummary, BadInputError
from replay.pipeline import FeatureStageError, Pipeline, StageJob
from replay.quality import Ledger, Truth
from replay.replayed import PipelineDivergedError, ReplayedFeatures
from replay.simulator import SimulationConfig, simulate
from verdict.backtesting import BacktestOptions, run_backtest
from verdict.cli import app
from verdict.settings import Settings

T0 = 1_522_540_800.0  # 2018-04-01T00:00:00Z


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixty customers, ten days, the handbook's frauds; labels known a day later."""
    out = tmp_path_factory.mktemp("stream")
    config = SimulationConfig(customers=60, terminals=120, days=10, seed=7, label_delay_s=86_400)
    simulate(config, out, progress=False)
    return out


def files(folder: Path) -> BacktestFiles:
    return BacktestFiles(
        folder / "transactions.jsonl", folder / "labels.jsonl", folder / "customers.jsonl"
    )


def decide(
    given: BacktestFiles,
    processes: Literal[1, 2],
    *,
    settings: Settings | None = None,
    span_s: float = 60.0,
    strict: bool = False,
) -> tuple[BacktestSummary, list[dict[str, Any]], list[str]]:
    """The summary, the decisions (without their wall-clock latency) and the bad lines told."""
    out, bad = io.BytesIO(), []
    truth = Truth.from_labels(given.labels) if given.labels is not None else None
    options = BacktestOptions(given, "memory", span_s, strict=strict, processes=processes)
    summary = run_backtest(
        settings or Settings(),
        options,
        Ledger(truth),
        truth,
        out,
        on_bad=lambda b: bad.append(str(b)),
    )
    decisions = [orjson.loads(line) for line in out.getvalue().splitlines()]
    for decision in decisions:
        decision.pop("latency_ms")
    return summary, decisions, bad


def counts(summary: BacktestSummary) -> tuple[int, int, int, int]:
    return summary.decisions, summary.labels, summary.customers, summary.bad_lines


@pytest.mark.parametrize("span_s", [60.0, 0.0])
def test_two_processes_decide_exactly_as_one(stream: Path, span_s: float) -> None:
    alone, expected, _ = decide(files(stream), 1, span_s=span_s)
    paired, decided, _ = decide(files(stream), 2, span_s=span_s)
    assert len(expected) > 500 and any(d["outcome"] != "approve" for d in expected)
    assert decided == expected  # features, scores, outcomes, reasons, triggers, versions
    assert counts(paired) == counts(alone)


def test_two_processes_decide_as_one_on_chargebacks(stream: Path) -> None:
    """The chargeback feed asks the store for snapshots as event time passes the horizon: the
    stage asks the same, in the same order."""
    settings = Settings(models={"label_feed": "chargebacks", "label_horizon_s": 3 * 86_400})
    _, expected, _ = decide(files(stream), 1, settings=settings)
    _, decided, _ = decide(files(stream), 2, settings=settings)
    assert decided == expected
    assert decided != decide(files(stream), 1)[1]  # the feed changed what the models learnt


def write(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    path.write_bytes(b"".join(
        (row.encode() if isinstance(row, str) else orjson.dumps(row)) + b"\n" for row in rows
    ))  # fmt: skip
    return path


def test_an_early_label_is_taken_when_its_transaction_is_decided_in_both(tmp_path: Path) -> None:
    txs: list[dict[str, Any] | str] = [
        {"tx_id": f"t{i}", "ts": T0 + 60 * i, "customer_id": "c1", "amount": 20.0 + i}
        for i in range(30)
    ]
    label = {"tx_id": "t20", "ts": T0 + 30, "is_fraud": True, "customer_id": "c1"}
    labels: list[dict[str, Any] | str] = [label | {"source": "chargeback"}]
    given = BacktestFiles(write(tmp_path / "t.jsonl", txs), write(tmp_path / "l.jsonl", labels))
    _, expected, _ = decide(given, 1)
    _, decided, _ = decide(given, 2)
    assert decided == expected
    assert expected[20]["features"]["cust_fraud_confirmed_7d"] == 0.0
    assert expected[25]["features"]["cust_fraud_confirmed_7d"] == 1.0  # learnt once t20 was


def test_bad_lines_are_told_in_both_and_stop_a_strict_run(tmp_path: Path) -> None:
    rows: list[dict[str, Any] | str] = [
        {"tx_id": "a", "ts": T0, "customer_id": "c1", "amount": 5.0},
        {"tx_id": "b", "ts": T0 + 1},
        "not json",
        {"tx_id": "c", "ts": T0 + 2, "customer_id": "c1", "amount": 7.0},
    ]
    given = BacktestFiles(write(tmp_path / "t.jsonl", rows))
    alone, expected, told_alone = decide(given, 1)
    paired, decided, told = decide(given, 2)
    assert decided == expected and [d["tx_id"] for d in decided] == ["a", "c"]
    assert told == told_alone and len(told) == 2 and ":2: " in told[0] and ":3: " in told[1]
    assert counts(paired) == counts(alone) == (2, 0, 0, 2)
    with pytest.raises(BadInputError, match=":2: "):
        decide(given, 2, strict=True)
    assert not multiprocessing.active_children()  # the stage was stopped with the run


def test_a_bad_line_between_batches_stops_a_strict_run_at_the_same_place(tmp_path: Path) -> None:
    """The stage reads the next batch while the store works on this one: a bad line it meets
    there is still told after this batch, as one process meets it."""
    rows: list[dict[str, Any] | str] = [
        {"tx_id": "a", "ts": T0, "customer_id": "c1", "amount": 5.0},
        {"tx_id": "b", "ts": T0 + 120, "customer_id": "c1", "amount": 6.0},  # a batch of its own
        "not json",
        {"tx_id": "c", "ts": T0 + 240, "customer_id": "c1", "amount": 7.0},
    ]
    given = BacktestFiles(write(tmp_path / "t.jsonl", rows))
    written = []
    for processes in (1, 2):
        out = io.BytesIO()
        options = BacktestOptions(given, "memory", 60.0, strict=True, processes=processes)
        with pytest.raises(BadInputError, match=":3: "):
            run_backtest(Settings(), options, Ledger(None), None, out)
        written.append([orjson.loads(line)["tx_id"] for line in out.getvalue().splitlines()])
    assert written == [["a"], ["a"]]


def test_a_stage_that_fails_is_told_with_its_error(tmp_path: Path) -> None:
    job = StageJob(Settings(), "memory", BacktestFiles(tmp_path), 60.0, 500)  # a folder
    with (
        Pipeline(job, ReplayedFeatures()) as stage,
        pytest.raises(FeatureStageError, match="IsADirectoryError"),
    ):
        list(stage.steps())
    assert not multiprocessing.active_children()


def test_a_feature_store_that_fails_in_the_stage_is_a_dependency_error(tmp_path: Path) -> None:
    """As in one process, where the engine raises it: the command says the store is down."""
    path = write(tmp_path / "t.jsonl", [{"tx_id": "a", "ts": T0, "customer_id": "c", "amount": 1}])
    settings = Settings(redis={"url": "redis://127.0.0.1:1/0", "connect_timeout_s": 0.2})
    job = StageJob(settings, "redis", BacktestFiles(path), 60.0, 500)  # nothing listens there
    with (
        Pipeline(job, ReplayedFeatures()) as stage,
        pytest.raises(DependencyUnavailableError, match="feature store: "),
    ):
        list(stage.steps())


def test_the_replayed_store_refuses_a_question_the_stage_did_not_ask() -> None:
    tx = Transaction(tx_id="t1", ts=T0, customer_id="c1", amount=1.0)
    label = Label(tx_id="t1", ts=T0 + 1, is_fraud=False, source="chargeback")
    features = ReplayedFeatures()
    features.load([("features", 1, [{"amount": 1.0}]), ("labels", 1, [None])])
    assert features.update_and_get_many([tx]) == [{"amount": 1.0}]
    with pytest.raises(PipelineDivergedError, match="snapshot of t1, the stage for labels of 1"):
        features.snapshot("t1")
    with pytest.raises(PipelineDivergedError, match="label of t1; the stage did not"):
        features.learn_label(label)
    features.load([("snapshot", "t2", None)])
    with pytest.raises(PipelineDivergedError, match="never asked for the stage's snapshot of t2"):
        features.done()


def test_the_command_says_the_analysts_need_one_process(stream: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "backtest", str(stream / "transactions.jsonl"), "--labels", str(stream / "labels.jsonl"),
        "--out", str(tmp_path / "d.jsonl"), "--state", "memory", "--feedback", "3",
        "--processes", "2",
    ])  # fmt: skip
    assert result.exit_code == 2
    assert "analysts need one process" in result.output
