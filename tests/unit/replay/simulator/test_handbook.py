"""The handbook's process and its three fraud scenarios, checked against their definitions."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from math import erf, sqrt

from replay.simulator import SimulationConfig
from replay.simulator.population import build_population
from tests.unit.replay.simulator.runs import SMALL, Run, RunMaker

START = datetime.fromisoformat("2018-04-01T00:00:00+00:00").timestamp()


def _day(row: dict[str, object]) -> int:
    return int((datetime.fromisoformat(str(row["ts"])).timestamp() - START) // 86400)


def _times_five(amount: float, most: int) -> set[float]:
    """``amount`` multiplied by 5 once, twice... (overlapping compromises multiply again)."""
    results = set()
    for _ in range(most):
        amount = round(amount * 5, 2)
        results.add(amount)
    return results


def _fraud_ids(run: Run) -> set[str]:
    return {row["tx_id"] for row in run.labels if row["is_fraud"]}


def test_volume_follows_the_poisson_process(handbook_run: Run) -> None:
    people = build_population(SimulationConfig(**SMALL))
    # A payment's time of day is Normal(43200, 20000); those outside the day are dropped.
    inside_the_day = erf(43200 / 20000 / sqrt(2))
    reachable = people.available_count > 0
    expected = people.mean_tx_per_day[reachable].sum() * SMALL["days"] * inside_the_day
    assert abs(len(handbook_run.transactions) - expected) < 0.05 * expected
    paying = {row["customer_id"] for row in handbook_run.transactions}
    assert paying <= {f"c{c:04d}" for c in range(100) if reachable[c]}


def test_handbook_payments_are_card_pos_at_home_at_grid_terminals(handbook_run: Run) -> None:
    for row in handbook_run.transactions:
        assert (row["type"], row["channel"], row["direction"], row["country"]) == (
            "card",
            "pos",
            "debit",
            "BE",
        )
        assert row["terminal_id"].startswith("t0")
        assert row["amount"] >= 0
        assert round(row["amount"], 2) == row["amount"]
    assert {row["mcc"] for row in handbook_run.transactions} <= {
        "5411", "5812", "5814", "5541", "5912", "5311", "5651", "5732", "5942", "4121", "5999",
    }  # fmt: skip


def test_every_payment_above_220_is_fraud(handbook_run: Run) -> None:
    fraud = _fraud_ids(handbook_run)
    above = [row["tx_id"] for row in handbook_run.transactions if row["amount"] > 220]
    assert above
    assert set(above) <= fraud


def test_amount_rule_alone_marks_exactly_the_payments_above_its_threshold(
    make_run: RunMaker,
) -> None:
    run = make_run(scenarios="handbook_amount", rates={"handbook_amount": 100.0})
    above = {row["tx_id"] for row in run.transactions if row["amount"] > 100}
    assert above
    assert _fraud_ids(run) == above
    assert {row["scenario"] for row in run.labels if row["is_fraud"]} == {"handbook_amount"}


def test_compromised_terminals_turn_28_days_of_payments_into_fraud(make_run: RunMaker) -> None:
    run = make_run(scenarios="handbook_terminal")
    schedule = run.summary.schedule["handbook_terminal"]
    assert len(schedule) == 2 * SMALL["days"]
    per_day: dict[int, set[str]] = defaultdict(set)
    for day, terminal in schedule:
        per_day[day].add(terminal)
    assert all(len(terminals) == 2 for terminals in per_day.values())

    def compromised(terminal: str, day: int) -> bool:
        return any(terminal in per_day[start] for start in range(day - 27, day + 1))

    expected = {
        row["tx_id"] for row in run.transactions if compromised(row["terminal_id"], _day(row))
    }
    assert expected
    assert _fraud_ids(run) == expected


def test_compromised_cards_get_a_third_of_their_payments_multiplied_by_5(
    make_run: RunMaker,
) -> None:
    plain = make_run(scenarios="none")
    run = make_run(scenarios="handbook_card")
    assert not _fraud_ids(plain)
    schedule = run.summary.schedule["handbook_card"]
    assert len(schedule) == 3 * SMALL["days"]
    starts: dict[str, list[int]] = defaultdict(list)
    for day, customer in schedule:
        starts[customer].append(day)

    fraud = _fraud_ids(run)
    assert fraud
    window_rows: dict[tuple[str, int], list[str]] = defaultdict(list)
    for before, after in zip(plain.transactions, run.transactions, strict=True):
        assert before["tx_id"] == after["tx_id"]  # same payments, same order: only amounts move
        assert before["ts"] == after["ts"]
        customer, day = after["customer_id"], _day(after)
        windows = [s for s in starts.get(customer, []) if s <= day < s + 14]
        for start in windows:
            window_rows[customer, start].append(after["tx_id"])
        if after["tx_id"] in fraud:
            assert windows, "fraud outside every compromise window"
            assert after["amount"] in _times_five(before["amount"], len(windows))
        else:
            assert after["amount"] == before["amount"]

    for (customer, start), rows in window_rows.items():
        overlapping = [s for s in starts[customer] if abs(s - start) < 14]
        if len(overlapping) == 1:  # alone in its window: exactly a third is fraud
            assert sum(row in fraud for row in rows) == len(rows) // 3
