"""The added scenarios: each shows what the engine's triggers look for when on, nothing when off."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from replay.simulator import SCENARIOS, parse_scenarios
from tests.unit.replay.simulator.runs import BUSY_RATES, Run, RunMaker

Row = dict[str, Any]


def _time(row: Row) -> float:
    return datetime.fromisoformat(row["ts"]).timestamp()


def _labels(run: Run) -> dict[str, Row]:
    return {row["tx_id"]: row for row in run.labels}


def _scenario_rows(run: Run, scenario: str) -> list[Row]:
    labels = _labels(run)
    return [row for row in run.transactions if labels[row["tx_id"]]["scenario"] == scenario]


def _legit(run: Run) -> list[Row]:
    labels = _labels(run)
    return [row for row in run.transactions if not labels[row["tx_id"]]["is_fraud"]]


def _shared_devices(run: Run) -> set[str]:
    customers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in run.transactions:
        if "device_id" in row:
            customers[row["device_id"], row["ts"][:10]].add(row["customer_id"])
    return {device for (device, _), who in customers.items() if len(who) >= 5}


def _high_potential(run: Run) -> set[str]:
    """Customers with net deposits above 20,000 in each of 3 consecutive calendar months."""
    net: dict[tuple[str, str], float] = defaultdict(float)
    for row in run.transactions:
        sign = 1 if row["direction"] == "credit" else -1
        net[row["customer_id"], row["ts"][:7]] += sign * row["amount"]
    months = sorted({month for _, month in net})
    found = set()
    for customer in {customer for customer, _ in net}:
        streak = 0
        for month in months:
            streak = streak + 1 if net.get((customer, month), 0.0) > 20000 else 0
            found |= {customer} if streak >= 3 else set()
    return found


def _to_other_bank(row: Row) -> bool:
    return (
        row["direction"] == "debit"
        and row["type"] == "transfer"
        and row.get("counterparty_bank") not in (None, "own")
    )


#: What each added scenario leaves in the files, as the engine would see it.
SIGNS: dict[str, Callable[[Run], bool]] = {
    "card_not_present": lambda run: any(row.get("channel") == "ecom" for row in _legit(run)),
    "travel": lambda run: any(row["country"] != "BE" for row in _legit(run)),
    "account_takeover": lambda run: bool(_scenario_rows(run, "account_takeover")),
    "shared_device": lambda run: bool(_shared_devices(run)),
    "salary": lambda run: any(row.get("purpose") == "SALA" for row in run.transactions),
    "medical": lambda run: any(row.get("mcc") == "8062" for row in run.transactions),
    "deposit_growth": lambda run: bool(_high_potential(run)),
    "outflow_other_bank": lambda run: any(_to_other_bank(row) for row in run.transactions),
    "no_consent": lambda run: any(not row["marketing_consent"] for row in run.customers),
}


def test_every_added_scenario_has_a_sign() -> None:
    added = {s.name for s in SCENARIOS} - parse_scenarios("handbook")
    assert set(SIGNS) == added


@pytest.mark.parametrize("name", sorted(SIGNS))
def test_a_scenario_shows_when_on_and_never_when_off(
    name: str, all_run: Run, handbook_run: Run, make_run: RunMaker
) -> None:
    assert SIGNS[name](all_run)
    assert not SIGNS[name](handbook_run)
    others = ",".join(sorted(parse_scenarios("all") - {name}))
    assert not SIGNS[name](make_run(scenarios=others, days=92, rates=BUSY_RATES))


def test_switching_a_scenario_on_leaves_the_other_draws_alone(
    handbook_run: Run, make_run: RunMaker
) -> None:
    with_salary = make_run(scenarios="handbook,salary")

    def without_ids(rows: list[Row]) -> list[Row]:
        return [{k: v for k, v in row.items() if k != "tx_id"} for row in rows]

    salaries = [row for row in with_salary.transactions if row.get("purpose") == "SALA"]
    assert salaries
    rest = [row for row in with_salary.transactions if row.get("purpose") != "SALA"]
    assert without_ids(rest) == without_ids(handbook_run.transactions)


def test_online_purchases_come_from_the_customers_own_devices(all_run: Run) -> None:
    shared = _shared_devices(all_run)
    owners: dict[str, set[str]] = defaultdict(set)
    for row in _legit(all_run):
        if row.get("channel") == "ecom":
            assert row["device_id"] and row["ip"]
            owners[row["device_id"]].add(row["customer_id"])
    assert owners
    assert all(len(who) == 1 for who in owners.values())
    assert not shared & set(owners)
    per_customer: dict[str, set[str]] = defaultdict(set)
    for device, (customer,) in owners.items():
        per_customer[customer].add(device)
    assert max(len(devices) for devices in per_customer.values()) <= 3


def test_travellers_pay_abroad_at_foreign_terminals(all_run: Run) -> None:
    abroad = [row for row in _legit(all_run) if row["country"] != "BE"]
    assert len({row["customer_id"] for row in abroad}) >= 5
    for row in abroad:
        assert row["type"] == "card"
        assert row["terminal_id"].startswith("t" + row["country"])


def test_account_takeover_is_a_new_device_abroad_buying_online_within_hours(
    all_run: Run,
) -> None:
    takeover = _scenario_rows(all_run, "account_takeover")
    incidents: dict[str, list[Row]] = defaultdict(list)
    for row in takeover:
        incidents[row["device_id"]].append(row)
    assert len(incidents) >= 5
    first_use: dict[tuple[str, str], float] = {}
    for row in all_run.transactions:
        if "device_id" in row:
            first_use.setdefault((row["customer_id"], row["device_id"]), _time(row))
    for device, rows in incidents.items():
        assert 3 <= len(rows) <= 8
        (customer,) = {row["customer_id"] for row in rows}
        times = sorted(_time(row) for row in rows)
        assert times[-1] - times[0] <= 4 * 3600
        assert first_use[customer, device] == times[0]  # never seen before the takeover
        assert all(row["channel"] == "ecom" and row["country"] != "BE" for row in rows)


def test_shared_devices_are_fraud_rings(all_run: Run) -> None:
    rings = _scenario_rows(all_run, "shared_device")
    assert rings
    assert {row["device_id"] for row in rings} == _shared_devices(all_run)
    assert all(row["channel"] == "ecom" for row in rings)


def test_salaries_arrive_monthly_as_sala_credit_transfers(all_run: Run) -> None:
    salaries = [row for row in all_run.transactions if row.get("purpose") == "SALA"]
    by_customer: dict[str, list[Row]] = defaultdict(list)
    for row in salaries:
        assert (row["direction"], row["type"]) == ("credit", "transfer")
        assert row["counterparty_id"] and row["counterparty_bank"]
        by_customer[row["customer_id"]].append(row)
    assert len(by_customer) >= 30
    for rows in by_customer.values():
        months = [row["ts"][:7] for row in rows]
        assert sorted(months) == ["2018-04", "2018-05", "2018-06"]
        assert len({row["amount"] for row in rows}) == 1
    labels = _labels(all_run)
    assert not any(labels[row["tx_id"]]["is_fraud"] for row in salaries)


def test_medical_expenses_are_large_hospital_card_payments(all_run: Run) -> None:
    medical = [row for row in all_run.transactions if row.get("mcc") == "8062"]
    assert len(medical) >= 5
    assert all(row["amount"] >= 2000 and row["direction"] == "debit" for row in medical)
    labels = _labels(all_run)
    assert not any(labels[row["tx_id"]]["is_fraud"] for row in medical)


def test_growing_deposits_make_high_potential_customers(all_run: Run) -> None:
    assert len(_high_potential(all_run)) >= 3


def test_outflows_take_at_least_half_of_90_days_of_inflow(all_run: Run) -> None:
    inflow: dict[str, list[tuple[float, float]]] = defaultdict(list)
    outflows = 0
    for row in all_run.transactions:
        when = _time(row)
        if row["direction"] == "credit":
            inflow[row["customer_id"]].append((when, row["amount"]))
        elif _to_other_bank(row):
            outflows += 1
            brought_in = sum(
                amount
                for at, amount in inflow[row["customer_id"]]
                if when - 90 * 86400 < at <= when
            )
            assert brought_in > 0
            assert row["amount"] >= max(5000.0, brought_in / 2)
    assert outflows >= 3


def test_some_customers_refuse_marketing(all_run: Run) -> None:
    refusing = sum(not row["marketing_consent"] for row in all_run.customers)
    assert 5 <= refusing <= 30  # 15 % of 100 customers
