"""verdict backtest: the real engine on small simulated streams, in memory, on event time."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from decisions.engine import DecisionResult
from decisions.policy_file import PolicyHolder, load_policy
from events.metrics import Metrics
from events.outputs import Decision
from events.records import CustomerProfile, Label, Transaction
from replay.backtest import (
    Analysts,
    Backtest,
    BacktestFiles,
    BacktestSummary,
    BadInputError,
    Shadow,
)
from replay.quality import Ledger, Quality, Truth, quality
from replay.simulator import SimulationConfig, simulate
from verdict.cli import app
from verdict.settings import Settings
from verdict.wiring import EngineParts, build_engine

DAY = 86_400.0
T0 = 1_522_540_800.0  # 2018-04-01T00:00:00Z


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eighty customers, two weeks, the handbook's frauds; labels known two days later."""
    out = tmp_path_factory.mktemp("stream")
    config = SimulationConfig(customers=80, terminals=160, days=14, seed=5, label_delay_s=172_800)
    simulate(config, out, progress=False)
    return out


def files(folder: Path) -> BacktestFiles:
    return BacktestFiles(
        folder / "transactions.jsonl", folder / "labels.jsonl", folder / "customers.jsonl"
    )


@dataclass
class Run:
    summary: BacktestSummary
    ledger: Ledger
    parts: EngineParts
    out: Path


def backtest(
    folder: Path, out: Path, *, feedback: int = 0, shadow: PolicyHolder | None = None
) -> Run:
    parts = build_engine(Settings(), Metrics(CollectorRegistry()), state="memory")
    truth = Truth.from_labels(folder / "labels.jsonl")
    ledger = Ledger(truth)
    run = Backtest(
        parts.engine,
        parts.feedback,
        parts.store,
        ledger,
        analysts=Analysts(feedback, truth) if feedback else None,
        shadow=Shadow(shadow) if shadow is not None else None,
    )
    with out.open("wb") as handle:
        summary = run.run(files(folder), handle)
    return Run(summary, ledger, parts, out)


@pytest.fixture(scope="module")
def plain(stream: Path) -> Run:
    return backtest(stream, stream / "decisions.jsonl")


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- the decisions file -------------------------------------------------------------------


def test_one_decision_per_transaction_in_the_contract_and_in_order(
    stream: Path, plain: Run
) -> None:
    transactions = lines(stream / "transactions.jsonl")
    decisions = lines(plain.out)
    assert [d["tx_id"] for d in decisions] == [t["tx_id"] for t in transactions]
    assert plain.summary.decisions == len(transactions) == len(plain.ledger)
    for raw, tx in zip(plain.out.read_bytes().splitlines(), transactions, strict=True):
        decision = Decision.model_validate_json(raw)
        assert raw == decision.model_dump_json().encode()  # the contract's own serialisation
        assert decision.customer_id == tx["customer_id"]
        assert decision.ts == epoch(tx["ts"])
        assert decision.features["amount"] == tx["amount"]
    required = {"features", "fraud_score", "anomaly_score", "outcome", "triggers", "reasons"}
    assert required <= decisions[0].keys()
    assert plain.summary.labels == len(lines(stream / "labels.jsonl"))
    assert plain.summary.bad_lines == 0


def test_labels_teach_the_fraud_model_as_they_become_known(plain: Run) -> None:
    learnt = plain.parts.feedback.labels.counts
    assert learnt["fraud"] > 0
    assert learnt["legitimate"] > 0
    versions = [d["model_version"] for d in lines(plain.out)]
    assert versions[0] == "suite:local+0 (cold)"  # nothing is known at the start
    assert versions[-1] != versions[0]


# -- quality, recomputed independently from the output file and the labels ---------------


def independent_quality(decisions_path: Path, labels_path: Path, k: int) -> dict[str, float]:
    """AUC, AP and card precision@k in plain Python, from the two files alone."""
    truth: dict[str, bool] = {}
    first_fraud: dict[str, float] = {}
    for label in lines(labels_path):
        truth[label["tx_id"]] = label["is_fraud"]
        if label["is_fraud"]:
            first_fraud.setdefault(label["tx_id"], epoch(label["ts"]))
    rows = [
        (d["customer_id"], epoch(d["ts"]), d["fraud_score"], truth.get(d["tx_id"], False), d)
        for d in lines(decisions_path)
    ]
    known: dict[str, float] = {}
    for card, _, _, fraud, d in rows:
        if fraud:
            known[card] = min(known.get(card, math.inf), first_fraud[d["tx_id"]])
    fresh = [r for r in rows if known.get(r[0], math.inf) >= (r[1] // DAY) * DAY]
    ys = [r[3] for r in fresh]
    scores = [r[2] for r in fresh]
    return {
        "auc": pairwise_auc(ys, scores),
        "ap": step_average_precision(ys, scores),
        "cp": card_precision([(r[0], r[1] // DAY, r[2], r[3]) for r in fresh], k),
        "alerts": sum(d["outcome"] != "approve" for *_, d in rows) / len(rows),
    }


def pairwise_auc(ys: list[bool], scores: list[float]) -> float:
    positives = [s for y, s in zip(ys, scores, strict=True) if y]
    negatives = [s for y, s in zip(ys, scores, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def step_average_precision(ys: list[bool], scores: list[float]) -> float:
    total = sum(ys)
    ap = hits = seen = 0.0
    for threshold in sorted(set(scores), reverse=True):
        above = [y for y, s in zip(ys, scores, strict=True) if s == threshold]
        new_hits = sum(above)
        hits, seen = hits + new_hits, seen + len(above)
        ap += (hits / seen) * (new_hits / total)
    return ap


def card_precision(rows: list[tuple[str, float, float, bool]], k: int) -> float:
    detected: set[str] = set()
    per_day = []
    for day in sorted({r[1] for r in rows}):
        best: dict[str, tuple[float, bool]] = {}
        for card, when, score, fraud in rows:
            if when == day and card not in detected:
                old = best.get(card, (-math.inf, False))
                best[card] = (max(old[0], score), old[1] or fraud)
        top = sorted(best.items(), key=lambda item: -item[1][0])[:k]
        found = [card for card, (_, fraud) in top if fraud]
        per_day.append(len(found) / k)
        detected.update(found)
    return sum(per_day) / len(per_day)


@pytest.mark.parametrize("k", [100, 5])
def test_quality_agrees_with_an_independent_computation(stream: Path, plain: Run, k: int) -> None:
    numbers = quality(plain.ledger, k=k)
    expected = independent_quality(plain.out, stream / "labels.jsonl", k)
    assert numbers.roc_auc == pytest.approx(expected["auc"], abs=1e-9)
    assert numbers.average_precision == pytest.approx(expected["ap"], abs=1e-9)
    assert numbers.card_precision == pytest.approx(expected["cp"], abs=1e-9)
    assert numbers.outcomes.alert_rate == pytest.approx(expected["alerts"], abs=1e-12)
    assert 0.0 < numbers.evaluated < numbers.transactions  # compromised cards were left out


def test_the_command_prints_and_reports_the_same_numbers(stream: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "decisions.jsonl", tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "backtest", str(stream / "transactions.jsonl"),
            "--labels", str(stream / "labels.jsonl"),
            "--customers", str(stream / "customers.jsonl"),
            "--out", str(out), "--state", "memory", "--report", str(report), "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = orjson.loads(report.read_bytes())
    numbers = body["quality"]
    expected = independent_quality(out, stream / "labels.jsonl", 100)
    assert numbers["roc_auc"] == pytest.approx(expected["auc"], abs=1e-9)
    assert numbers["average_precision"] == pytest.approx(expected["ap"], abs=1e-9)
    assert numbers["card_precision"] == pytest.approx(expected["cp"], abs=1e-9)
    assert f"{'ROC AUC':<26}{numbers['roc_auc']:.4f}" in result.output
    assert f"{'card precision@100':<26}{numbers['card_precision']:.4f}" in result.output
    assert "fraud_confirmation" in result.output  # triggers by code
    assert body["run"]["decisions"] == len(lines(stream / "transactions.jsonl"))


def test_without_fraud_in_the_labels_there_is_no_ranking_quality() -> None:
    ledger = Ledger(Truth())
    ledger.add(Decision(tx_id="t1", customer_id="c1", ts=T0, outcome="approve",
                        fraud_score=0.1, anomaly_score=0.2))  # fmt: skip
    numbers = quality(ledger)
    assert math.isnan(numbers.roc_auc)
    assert numbers.to_dict()["roc_auc"] is None
    assert numbers.outcomes.alert_rate == 0.0


# -- event-time order ----------------------------------------------------------------------


class Recorder:
    """An engine, learner and profile store that write down what they were asked, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def decide_many(
        self, txs: Sequence[Transaction], *, require_features: bool = False
    ) -> list[DecisionResult]:
        assert require_features  # a store that is down stops a backtest: never degraded
        self.log.append(("decide", [tx.tx_id for tx in txs]))
        return [DecisionResult(verdict_on(tx), (), ()) for tx in txs]

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        pass

    def on_label(self, label: Label) -> None:
        self.log.append(("label", (label.tx_id, label.source)))

    def on_labels(self, labels: Sequence[Label]) -> None:
        for one in labels:
            self.on_label(one)

    def put_customer(self, profile: CustomerProfile) -> None:
        self.log.append(("profile", profile.customer_id))


def verdict_on(tx: Transaction) -> Decision:
    """Review above 100, with a score that grows with the amount."""
    outcome = "review" if tx.amount > 100 else "approve"
    score = min(tx.amount / 1000, 1.0)
    return Decision(tx_id=tx.tx_id, customer_id=tx.customer_id, ts=tx.ts, outcome=outcome,
                    fraud_score=score, anomaly_score=0.0)  # fmt: skip


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def tx(tx_id: str, ts: float, amount: float = 10.0, customer: str = "c1") -> dict[str, Any]:
    return {"tx_id": tx_id, "ts": ts, "customer_id": customer, "amount": amount}


def label(tx_id: str, ts: float, fraud: bool = False) -> dict[str, Any]:
    return {"tx_id": tx_id, "ts": ts, "is_fraud": fraud, "source": "chargeback"}


def test_events_are_merged_on_event_time_and_batched_only_between_labels(tmp_path: Path) -> None:
    given = BacktestFiles(
        write(tmp_path / "t.jsonl", [tx("a", T0), tx("b", T0 + 10), tx("c", T0 + 20),
                                     tx("d", T0 + 30), tx("e", T0 + 40)]),
        write(tmp_path / "l.jsonl", [label("a", T0 + 20), label("b", T0 + 25)]),
        write(tmp_path / "c.jsonl", [
            {"customer_id": "c2", "home_country": "BE", "ts": T0 + 35},
            {"customer_id": "c1", "home_country": "BE"},
        ]),
    )  # fmt: skip
    recorder = Recorder()
    with (tmp_path / "out.jsonl").open("wb") as out:
        Backtest(recorder, recorder, recorder, Ledger()).run(given, out)
    assert recorder.log == [
        ("profile", "c1"),  # no ts: known from the start
        ("decide", ["a", "b", "c"]),  # the label at c's time comes after c
        ("label", ("a", "chargeback")),
        ("label", ("b", "chargeback")),
        ("decide", ["d"]),
        ("profile", "c2"),
        ("decide", ["e"]),
    ]
    assert [d["tx_id"] for d in lines(tmp_path / "out.jsonl")] == ["a", "b", "c", "d", "e"]


def test_bad_lines_are_skipped_with_their_line_number_or_stop_a_strict_run(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [tx("a", T0), {"tx_id": "b", "ts": T0 + 1}, tx("c", T0 + 2)])
    bad: list[str] = []
    recorder = Recorder()
    lenient = Backtest(recorder, recorder, recorder, Ledger(), on_bad=lambda b: bad.append(str(b)))
    with (tmp_path / "out.jsonl").open("wb") as out:
        done = lenient.run(BacktestFiles(path), out)
    assert done.decisions == 2 and done.bad_lines == 1
    assert bad[0].startswith(f"{path}:2: ") and "customer_id: is required" in bad[0]
    with (tmp_path / "out.jsonl").open("wb") as out, pytest.raises(BadInputError, match=":2: "):
        Backtest(recorder, recorder, recorder, Ledger(), strict=True).run(BacktestFiles(path), out)


# -- analysts (--feedback K) ----------------------------------------------------------------


def alert(tx_id: str, ts: float, score: float, outcome: str = "review") -> Decision:
    return Decision(tx_id=tx_id, customer_id="c1", ts=ts, outcome=outcome,
                    fraud_score=score, anomaly_score=0.0)  # fmt: skip


def test_analysts_investigate_k_alerts_a_day_above_yesterdays_bar() -> None:
    team = Analysts(2, Truth({"d1-b": T0}))
    team.review([alert("d1-a", T0 + 10, 0.6), alert("ok", T0 + 15, 0.99, "approve"),
                 alert("d1-b", T0 + 20, 0.9), alert("d1-c", T0 + 30, 0.95)])  # fmt: skip
    day2 = T0 + DAY
    team.review([alert("d2-a", day2, 0.8), alert("d2-b", day2 + 5, 0.92),
                 alert("d2-c", day2 + 9, 0.97), alert("d2-d", day2 + 20, 0.99)])  # fmt: skip
    assert team.next_due == T0 + 10 + 3600
    assert list(team.due(T0 + 20 + 3600)) == [
        Label(tx_id="d1-a", is_fraud=False, ts=T0 + 3610, source="analyst", customer_id="c1")
    ]
    later = list(team.due())
    # day 1: no bar yet, the first two alerts; day 2: bar 0.9 (day 1's 2nd best), two of three
    assert [(v.tx_id, v.is_fraud) for v in later] == [("d1-b", True), ("d2-b", False),
                                                      ("d2-c", False)]  # fmt: skip
    assert (team.labels, team.frauds) == (4, 1)


def test_analyst_feedback_changes_what_the_models_learn(stream: Path, plain: Run) -> None:
    helped = backtest(stream, stream / "helped.jsonl", feedback=10)
    assert helped.summary.analyst_labels > 0
    assert helped.summary.analyst_frauds > 0
    learnt, before = helped.parts.feedback.labels.counts, plain.parts.feedback.labels.counts
    assert learnt["fraud"] == before["fraud"]  # the same frauds are learnt in the end...
    assert learnt["ignored"] > before["ignored"]  # ...but sooner: the late labels are repeats
    scores = [d.fraud_score for d in map(decision_of, helped.out.read_bytes().splitlines())]
    assert scores != [d.fraud_score for d in map(decision_of, plain.out.read_bytes().splitlines())]


def decision_of(raw: bytes) -> Decision:
    return Decision.model_validate_json(raw)


# -- shadow policy (--shadow POLICY) --------------------------------------------------------


def policy_file(folder: Path, **thresholds: float) -> Path:
    text = (Path(__file__).parents[3] / "decisions" / "default_policy.toml").read_text()
    for name, value in thresholds.items():
        text, n = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", text)
        assert n == 1
    path = folder / "shadow.toml"
    path.write_text(text)
    return path


def test_a_shadow_with_the_same_policy_decides_exactly_the_same(stream: Path, plain: Run) -> None:
    same = backtest(stream, stream / "same.jsonl", shadow=PolicyHolder(load_policy()))
    numbers: Quality = quality(same.ledger)
    assert numbers.shadow == numbers.outcomes
    assert numbers.changed == {}


def test_a_stricter_shadow_reports_how_outcomes_would_differ(stream: Path, tmp_path: Path) -> None:
    stricter = policy_file(tmp_path, fraud_challenge=0.2, fraud_review=0.4, fraud_decline=0.6)
    run = backtest(stream, tmp_path / "d.jsonl", shadow=PolicyHolder(load_policy(stricter)))
    numbers = quality(run.ledger)
    assert numbers.shadow is not None
    assert numbers.shadow.alerts >= numbers.outcomes.alerts
    assert numbers.shadow.by_outcome["decline"] > numbers.outcomes.by_outcome["decline"]
    assert numbers.shadow.frauds_caught >= numbers.outcomes.frauds_caught
    assert numbers.changed and all(not pair.startswith("decline->") for pair in numbers.changed)
    moved = sum(numbers.changed.values())
    assert moved == sum(a != b for a, b in zip(run.ledger.outcome, run.ledger.shadow, strict=True))
