"""The simulator's files: in the contract, in time order, deterministic, labels on time."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from typer.testing import CliRunner

from events import parse_customer, parse_label, parse_transaction
from replay.simulator import (
    SimulationConfig,
    SimulationConfigError,
    parse_duration,
    parse_rates,
    parse_scenarios,
)
from tests.unit.replay.simulator.runs import Run, RunMaker

FILES = ("transactions.jsonl", "labels.jsonl", "customers.jsonl")
START = datetime(2018, 4, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("fixture", ["handbook_run", "all_run"])
def test_every_line_parses_with_the_contract_parsers(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    run: Run = request.getfixturevalue(fixture)
    tx = [parse_transaction(line) for line in run.file("transactions.jsonl").splitlines()]
    labels = [parse_label(line) for line in run.file("labels.jsonl").splitlines()]
    customers = [parse_customer(line) for line in run.file("customers.jsonl").splitlines()]
    assert len(tx) == run.summary.transactions > 1000
    assert len(labels) == len(tx)
    assert [c.customer_id for c in customers] == [f"c{i:04d}" for i in range(100)]
    assert all(c.home_country == "BE" and c.opened_at is not None for c in customers)
    assert all(c.opened_at is not None and c.opened_at < START for c in customers)
    assert {t.currency for t in tx} == {"EUR"}
    days = run.summary.config.days
    assert all(START <= t.ts < START + days * 86400 for t in tx)


def test_times_are_iso_utc_with_z(handbook_run: Run) -> None:
    first = handbook_run.transactions[0]
    assert first["ts"].endswith("Z")
    assert datetime.fromisoformat(first["ts"]).utcoffset() is not None
    assert all(len(row["ts"]) == 20 for row in handbook_run.transactions)


@pytest.mark.parametrize("fixture", ["handbook_run", "all_run"])
def test_transactions_are_in_time_order_with_ids_in_that_order(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    run: Run = request.getfixturevalue(fixture)
    times = [parse_transaction(row).ts for row in run.transactions]
    assert times == sorted(times)
    ids = [row["tx_id"] for row in run.transactions]
    assert ids == [f"tx{i:08d}" for i in range(1, len(ids) + 1)]


def test_every_transaction_is_labelled_at_ts_plus_the_delay(all_run: Run) -> None:
    tx_times = {row["tx_id"]: parse_transaction(row).ts for row in all_run.transactions}
    labels = [parse_label(row) for row in all_run.labels]
    assert [label.tx_id for label in labels] == list(tx_times)
    assert all(label.ts == tx_times[label.tx_id] + 7 * 86400 for label in labels)
    assert [label.ts for label in labels] == sorted(label.ts for label in labels)
    for row in all_run.labels:
        assert row["source"] == ("chargeback" if row["is_fraud"] else "customer")
        assert (row["scenario"] is not None) == row["is_fraud"]
    by_id = {row["tx_id"]: row for row in all_run.transactions}
    assert all(row["customer_id"] == by_id[row["tx_id"]]["customer_id"] for row in all_run.labels)


def test_label_delay_is_configurable(make_run: RunMaker) -> None:
    run = make_run(days=5, label_delay_s=parse_duration("12h"))
    pairs = zip(run.transactions, run.labels, strict=True)
    assert all(parse_label(label).ts == parse_transaction(tx).ts + 12 * 3600 for tx, label in pairs)


def test_fraud_labels_only_writes_the_fraud_and_nothing_else(
    make_run: RunMaker, handbook_run: Run
) -> None:
    run = make_run(fraud_labels_only=True)
    assert run.file("transactions.jsonl") == handbook_run.file("transactions.jsonl")
    fraud = [row for row in handbook_run.labels if row["is_fraud"]]
    assert run.labels == fraud
    assert len(fraud) == run.summary.frauds == run.summary.labels > 0
    assert {row["source"] for row in run.labels} == {"chargeback"}


def test_same_seed_same_bytes_other_seed_other_bytes(make_run: RunMaker) -> None:
    first, again = make_run(scenarios="all"), make_run(scenarios="all")
    other = make_run(scenarios="all", seed=12)
    for name in FILES:
        assert first.file(name) == again.file(name)
        assert first.file(name) != other.file(name)


def test_summary_json_matches_the_files(all_run: Run) -> None:
    summary = orjson.loads(all_run.file("summary.json"))
    assert summary["transactions"] == len(all_run.transactions)
    assert summary["frauds"] == sum(row["is_fraud"] for row in all_run.labels)
    assert summary["fraud_rate"] == pytest.approx(summary["frauds"] / summary["transactions"])
    assert summary["seed"] == 11
    assert summary["config"]["scenarios"] == [
        "handbook_amount",
        "handbook_terminal",
        "handbook_card",
        "card_not_present",
        "travel",
        "account_takeover",
        "shared_device",
        "salary",
        "medical",
        "deposit_growth",
        "outflow_other_bank",
        "no_consent",
    ]
    for name, counts in summary["scenarios"].items():
        labelled = sum(row["scenario"] == name for row in all_run.labels)
        assert counts["frauds"] == labelled, name


def test_options_are_parsed_and_checked() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("12h") == 12 * 3600
    assert parse_duration("30m") == 1800
    assert parse_duration("45s") == parse_duration("45") == 45
    assert parse_scenarios("handbook") == {"handbook_amount", "handbook_terminal", "handbook_card"}
    assert len(parse_scenarios("all")) == 12
    assert parse_scenarios("salary, travel") == {"salary", "travel"}
    assert parse_rates(["travel=3", "salary=0.5"]) == {"travel": 3.0, "salary": 0.5}
    for bad in (
        lambda: parse_duration("a week"),
        lambda: parse_scenarios("handbook,bogus"),
        lambda: parse_rates(["travel"]),
        lambda: parse_rates(["travel=fast"]),
        lambda: SimulationConfig(rates={"bogus": 1.0}),
        lambda: SimulationConfig(rates={"salary": 1.5}),
        lambda: SimulationConfig(rates={"travel": -1.0}),
        lambda: SimulationConfig(customers=0),
    ):
        with pytest.raises(SimulationConfigError):
            bad()


def test_command_line_writes_the_files_and_lists_scenarios(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from verdict.cli import app

    out = tmp_path_factory.mktemp("cli")
    args = ["simulate", "--out", str(out), "--customers", "30", "--terminals", "60", "--days", "4"]
    args += ["--scenarios", "handbook,salary", "--rate", "salary=1", "--label-delay", "1d"]
    result = CliRunner().invoke(app, [*args, "--fraud-labels-only", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {*FILES, "summary.json"}
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["config"]["rates"]["salary"] == 1.0
    assert summary["config"]["label_delay_s"] == 86400
    assert summary["config"]["fraud_labels_only"] is True

    listing = CliRunner().invoke(app, ["simulate", "--list-scenarios"])
    assert listing.exit_code == 0
    assert "account_takeover" in listing.output
