"""The feature store contract, case by case; every case runs on the in-memory and Redis stores.

Features must be identical on both (not close: identical), so each case asserts exact values.
"""

from __future__ import annotations

from typing import Any

import pytest

from events.metrics import Metrics
from events.records import CustomerProfile, Label, Transaction
from state.features import CUSTOMER_FEATURES, DEVICE_FEATURES, TERMINAL_FEATURES
from state.settings import StateSettings
from state.store import FeatureStore
from tests.integration.state.conftest import MakeStore

T0 = 1_772_362_800  # 2026-03-01T11:00:00Z, a Sunday
H, D = 3600, 86_400


def tx(n: int, at: float, customer: str = "c1", amount: float = 10.0, **fields: Any) -> Transaction:
    """Transaction ``t<n>`` at ``T0 + at``."""
    fields.setdefault("tx_id", f"t{n}")
    return Transaction(ts=T0 + at, customer_id=customer, amount=amount, **fields)


def label(n: int, at: float, fraud: bool = True) -> Label:
    return Label(tx_id=f"t{n}", is_fraud=fraud, ts=T0 + at, source="analyst")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def test_every_feature_is_always_there(store: FeatureStore) -> None:
    features = store.update_and_get(tx(1, 0, attributes={"risk": 0.5}))
    expected = {*CUSTOMER_FEATURES, *TERMINAL_FEATURES, *DEVICE_FEATURES}
    expected |= {"amount", "is_credit", "is_night", "is_weekend", "attr_risk"}
    assert set(features) == expected
    assert all(isinstance(v, float) for v in features.values())
    assert features["attr_risk"] == 0.5 and features["amount"] == 10.0


def test_windows_are_trailing_and_include_the_current_transaction(store: FeatureStore) -> None:
    store.update_and_get(tx(1, 0, amount=1.0))
    store.update_and_get(tx(2, H - 1, amount=2.0))
    f = store.update_and_get(tx(3, H, amount=4.0))  # t1 is exactly 1 h old: out of (ts-1h, ts]
    assert (f["cust_count_1h"], f["cust_count_1d"]) == (2.0, 3.0)
    assert (f["cust_amount_sum_1d"], f["cust_amount_mean_7d"]) == (7.0, 7.0 / 3)
    assert f["cust_seconds_since_last"] == 1.0
    f = store.update_and_get(tx(4, D + H - 1, amount=8.0))  # t1, t2 now older than a day
    assert (f["cust_count_1d"], f["cust_amount_sum_1d"]) == (2.0, 12.0)
    assert (f["cust_count_30d"], f["cust_amount_sum_30d"]) == (4.0, 15.0)
    f = store.update_and_get(tx(5, 30 * D + H, amount=16.0))
    assert (f["cust_count_30d"], f["cust_amount_sum_30d"]) == (2.0, 24.0)
    assert f["cust_seconds_since_last"] == 30 * D + H - (D + H - 1)


def test_first_transaction_has_no_previous_one(store: FeatureStore) -> None:
    f = store.update_and_get(tx(1, 0))
    assert f["cust_seconds_since_last"] == -1.0
    assert f["cust_amount_zscore_30d"] == 0.0


def test_zscore_measures_the_amount_against_the_30_day_debits(store: FeatureStore) -> None:
    store.update_and_get(tx(1, 0, amount=100.0))
    store.update_and_get(tx(2, 10, amount=200.0))
    f = store.update_and_get(tx(3, 20, amount=300.0))
    assert f["cust_amount_zscore_30d"] == pytest.approx(1.224744871391589, abs=1e-12)
    credit = store.update_and_get(tx(4, 30, amount=5000.0, direction="credit"))
    assert credit["cust_amount_zscore_30d"] == 0.0


def test_credits_are_kept_apart_from_spending(store: FeatureStore) -> None:
    store.update_and_get(tx(1, 0, amount=50.0))
    f = store.update_and_get(tx(2, 60, amount=3000.0, direction="credit", purpose="SALA"))
    assert (f["cust_count_1d"], f["cust_amount_sum_1d"]) == (1.0, 50.0)
    assert (f["cust_inflow_sum_90d"], f["cust_inflow_count_90d"]) == (3000.0, 1.0)
    assert f["is_credit"] == 1.0
    f = store.update_and_get(tx(3, 89 * D, amount=1.0))
    assert f["cust_inflow_sum_90d"] == 3000.0
    f = store.update_and_get(tx(4, 90 * D + 60, amount=1.0))  # the salary is 90 days old
    assert (f["cust_inflow_sum_90d"], f["cust_inflow_count_90d"]) == (0.0, 0.0)


def test_net_deposits_by_calendar_month(store: FeatureStore) -> None:
    march, april, may = 0, 31 * D, 61 * D  # T0 is March 1st
    store.update_and_get(tx(1, march, amount=25_000.0, direction="credit"))
    store.update_and_get(tx(2, march + D, amount=1_000.0))
    store.update_and_get(tx(3, april, amount=30_000.0, direction="credit"))
    f = store.update_and_get(tx(4, may, amount=500.0))
    assert f["cust_net_deposit_month_0"] == -500.0
    assert f["cust_net_deposit_month_1"] == 30_000.0
    assert f["cust_net_deposit_month_2"] == 24_000.0
    view = store.get("customer", "c1")
    assert view["cust_net_deposit_month_2"] == 24_000.0


def test_calendar_months_use_the_configured_time_zone(make_store: MakeStore) -> None:
    utc, auckland = make_store(), make_store(StateSettings(timezone="Pacific/Auckland"))
    for store, who in ((utc, "u"), (auckland, "a")):  # one Redis behind both: two customers
        store.update_and_get(tx(1, 12 * H, who, amount=5.0, direction="credit"))
    # 2026-03-31T23:00Z: still March in UTC, already April 1st in Auckland (UTC+13)
    late_march = 31 * D - 12 * H
    f = utc.update_and_get(tx(2, late_march, "u", amount=7.0, direction="credit"))
    assert f["cust_net_deposit_month_0"] == 12.0
    f = auckland.update_and_get(tx(3, late_march, "a", amount=7.0, direction="credit"))
    assert (f["cust_net_deposit_month_0"], f["cust_net_deposit_month_1"]) == (7.0, 5.0)


def test_repeated_transaction_changes_nothing(store: FeatureStore) -> None:
    first = store.update_and_get(tx(1, 0, terminal_id="T1", device_id="D1", country="FR"))
    store.update_and_get(tx(2, 60, terminal_id="T1"))
    views = store.get("customer", "c1"), store.get("terminal", "T1"), store.get("device", "D1")
    again = store.update_and_get(tx(1, 0, terminal_id="T1", device_id="D1", country="FR"))
    assert again == first
    assert (
        store.get("customer", "c1"),
        store.get("terminal", "T1"),
        store.get("device", "D1"),
    ) == views
    assert store.update_and_get(tx(3, 120))["cust_count_1d"] == 3.0


def test_a_repeat_inside_a_batch_is_counted_once(store: FeatureStore) -> None:
    out = store.update_and_get_many([tx(1, 0), tx(2, 10), tx(1, 0), tx(3, 20)])
    assert out[2] == out[0]
    assert [f["cust_count_1d"] for f in out] == [1.0, 2.0, 1.0, 3.0]


def test_a_batch_gives_what_one_by_one_gives(make_store: MakeStore) -> None:
    def stream(prefix: str) -> list[Transaction]:  # the same stream, on entities of its own
        return [
            tx(i, i * 1800 - (7200 if i % 5 == 4 else 0), f"{prefix}{i % 3}",
               tx_id=f"{prefix}{i}", terminal_id=f"{prefix}T{i % 2}")
            for i in range(30)
        ]  # fmt: skip

    one = make_store()
    singles = [one.update_and_get(t) for t in stream("one")]
    assert make_store().update_and_get_many(stream("batch")) == singles
    assert make_store().update_and_get_many([]) == []


def test_a_late_transaction_lands_in_the_right_window(
    make_store: MakeStore, metrics: Metrics
) -> None:
    store = make_store(metrics=metrics)
    store.update_and_get(tx(1, 0, amount=1.0, terminal_id="T"))
    store.update_and_get(tx(2, 10 * H, amount=2.0, terminal_id="T"))
    late = store.update_and_get(tx(3, 5 * H, amount=4.0, terminal_id="T"))  # 5 h late
    assert (late["cust_count_1h"], late["cust_count_1d"], late["cust_amount_sum_1d"]) == (
        1.0,
        2.0,
        5.0,
    )
    assert late["term_count_1d"] == 2.0
    assert late["cust_seconds_since_last"] == 5 * H
    after = store.update_and_get(tx(4, 10 * H + 60, amount=8.0, terminal_id="T"))
    assert (after["cust_count_1d"], after["cust_amount_sum_1d"]) == (4.0, 15.0)
    assert after["term_count_1d"] == 4.0
    store.update_and_get(tx(5, 33 * H, amount=1.0, terminal_id="T"))
    assert store.get("customer", "c1")["cust_count_1d"] == 3.0  # (9 h, 33 h]: t2, t4, t5
    assert sample(metrics, "verdict_out_of_order_events_total", entity="customer") == 1.0


def test_too_late_is_counted_in_nothing_and_reported(
    make_store: MakeStore, metrics: Metrics
) -> None:
    store = make_store(metrics=metrics)
    store.update_and_get(tx(1, 100 * D, amount=1.0, terminal_id="T", device_id="D"))
    before = store.get("customer", "c1"), store.get("terminal", "T")
    old = store.update_and_get(tx(2, 5 * D, amount=99.0, terminal_id="T", device_id="D"))
    assert old["cust_count_1d"] == 1.0  # its own windows hold itself
    assert (store.get("customer", "c1"), store.get("terminal", "T")) == before
    for entity in ("customer", "terminal", "device"):
        assert sample(metrics, "verdict_late_events_total", entity=entity) == 1.0


def test_terminal_and_device_features(store: FeatureStore) -> None:
    for n, who in enumerate(["a", "b", "c"]):
        store.update_and_get(tx(n, n * H, customer=who, terminal_id="T", device_id="D"))
    f = store.update_and_get(tx(9, 3 * H, customer="a", terminal_id="T", device_id="D"))
    assert (f["term_count_1d"], f["term_count_7d"], f["term_count_30d"]) == (4.0, 4.0, 4.0)
    assert f["device_distinct_customers_1d"] == 3.0
    f = store.update_and_get(tx(10, 3 * H + D, customer="d", terminal_id="T", device_id="D"))
    assert (f["term_count_1d"], f["term_count_7d"]) == (1.0, 5.0)
    assert f["device_distinct_customers_1d"] == 1.0  # a, b, c are a day old or more: only d
    bare = store.update_and_get(tx(11, 4 * D, customer="e"))
    assert bare["term_count_1d"] == 0.0 and bare["device_distinct_customers_1d"] == 0.0


def test_novelty_and_distinct_counts(store: FeatureStore) -> None:
    store.put_customer(CustomerProfile(customer_id="c1", home_country="FR"))
    f = store.update_and_get(tx(1, 0, terminal_id="T1", device_id="D1", country="FR"))
    assert (f["cust_new_device"], f["cust_new_country_90d"], f["cust_foreign"]) == (1.0, 1.0, 0.0)
    f = store.update_and_get(tx(2, H, terminal_id="T2", device_id="D1", country="ES"))
    assert (f["cust_new_device"], f["cust_new_country_90d"], f["cust_foreign"]) == (0.0, 1.0, 1.0)
    assert (f["cust_distinct_terminals_30d"], f["cust_distinct_countries_30d"]) == (2.0, 2.0)
    f = store.update_and_get(tx(3, 2 * H, terminal_id="T1", country="ES"))
    assert (f["cust_new_country_90d"], f["cust_new_device"]) == (0.0, 0.0)
    assert f["cust_distinct_terminals_30d"] == 2.0
    f = store.update_and_get(tx(4, 2 * H + 91 * D, terminal_id="T3", device_id="D1", country="ES"))
    assert (f["cust_new_country_90d"], f["cust_new_device"]) == (1.0, 1.0)
    assert (f["cust_distinct_terminals_30d"], f["cust_distinct_countries_30d"]) == (1.0, 1.0)


def test_profile_gives_home_country_and_consent(store: FeatureStore) -> None:
    assert store.update_and_get(tx(1, 0, country="DE"))["cust_foreign"] == 0.0  # home unknown
    store.put_customer(CustomerProfile(customer_id="c1", home_country="DE", ts=T0))
    f = store.update_and_get(tx(2, 60, country="DE"))
    assert (f["cust_foreign"], f["cust_marketing_consent"]) == (0.0, 1.0)
    stale = CustomerProfile(customer_id="c1", home_country="FR", ts=T0 - D)
    store.put_customer(stale)  # older than the one kept: ignored
    assert store.update_and_get(tx(3, 120, country="FR"))["cust_foreign"] == 1.0
    store.put_customer(
        CustomerProfile(customer_id="c1", home_country="FR", marketing_consent=False, ts=T0 + 1)
    )
    view = store.get("customer", "c1")
    assert view["cust_marketing_consent"] == 0.0 and view["cust_count_1d"] == 3.0


def test_labels_feed_the_fraud_counts(make_store: MakeStore, metrics: Metrics) -> None:
    store = make_store(metrics=metrics)
    for n in range(4):
        store.update_and_get(tx(n, n * H, terminal_id="T", device_id="D"))
    snapshot = store.learn_label(label(1, 5 * H))
    assert snapshot is not None and snapshot["term_count_1d"] == 2.0  # as decided at the time
    f = store.update_and_get(tx(9, 6 * H, terminal_id="T", device_id="D"))
    assert (f["term_fraud_count_7d"], f["term_fraud_rate_7d"]) == (1.0, 1 / 5)
    assert (f["device_fraud_count_30d"], f["cust_fraud_confirmed_7d"]) == (1.0, 1.0)
    assert store.learn_label(label(1, 5 * H + 60)) is None  # the same verdict again
    assert store.learn_label(label(1, 4 * H, fraud=False)) is None  # older than the one kept
    cleared = store.learn_label(label(1, 7 * H, fraud=False))  # a newer verdict: news
    assert cleared == snapshot
    g = store.update_and_get(tx(10, 8 * H, terminal_id="T"))
    assert (g["term_fraud_count_7d"], g["cust_fraud_confirmed_30d"]) == (0.0, 0.0)
    assert store.learn_label(label(77, 8 * H)) is None
    assert store.learn_label(label(2, 2 * H + 46 * D)) is None  # beyond the label horizon
    for reason in ("repeated", "stale", "unknown", "expired"):
        assert sample(metrics, "verdict_labels_ignored_total", reason=reason) == 1.0


def test_labels_in_one_group_give_what_one_by_one_gives(
    make_store: MakeStore, metrics: Metrics
) -> None:
    """Repeats, a stale verdict, a newer one, unknown and expired transactions, and the same
    transaction twice in a group: each answer, the counts after and the reasons ignored."""

    def labelled(p: str, n: int, at: float, fraud: bool = True) -> Label:
        return Label(tx_id=f"{p}t{n}", is_fraud=fraud, ts=T0 + at, source="analyst")

    def labels(p: str) -> list[Label]:  # the same labels, on entities of their own
        return [
            labelled(p, 1, 5 * H), labelled(p, 1, 5 * H + 60), labelled(p, 2, 5 * H),
            labelled(p, 1, 4 * H, fraud=False), labelled(p, 77, 6 * H),
            labelled(p, 3, 2 * H + 46 * D), labelled(p, 1, 7 * H, fraud=False),
            labelled(p, 2, 7 * H),
        ]  # fmt: skip

    def on_entities(p: str, n: int, at: float) -> Transaction:
        return tx(n, at, f"{p}c", tx_id=f"{p}t{n}", terminal_id=f"{p}T", device_id=f"{p}D")

    answers, after = [], []
    for p in ("one", "group"):
        store = make_store(metrics=metrics)
        for n in range(4):
            store.update_and_get(on_entities(p, n, n * H))
        if p == "group":
            answers.append(list(store.learn_labels(labels(p))))
        else:
            answers.append([store.learn_label(one) for one in labels(p)])
        after.append(store.update_and_get(on_entities(p, 9, 8 * H)))
    assert answers[0] == answers[1]
    news = [True, False, True, False, False, False, True, False]
    assert [answer is not None for answer in answers[0]] == news
    assert after[0] == after[1]
    assert after[0]["term_fraud_count_7d"] == 1.0  # t2 still fraud, t1 cleared
    assert list(make_store().learn_labels([])) == []
    for reason in ("repeated", "stale", "unknown", "expired"):
        assert sample(metrics, "verdict_labels_ignored_total", reason=reason) >= 2.0


def test_a_group_longer_than_a_pipeline_chunk_is_applied_in_order(make_store: MakeStore) -> None:
    answers, after = [], []
    for p in ("one", "group"):
        store = make_store()
        for n in range(130):
            store.update_and_get(tx(n, n * 60, f"{p}c{n % 7}", tx_id=f"{p}t{n}",
                                    terminal_id=f"{p}T{n % 3}"))  # fmt: skip
        labels = [
            Label(tx_id=f"{p}t{n % 130}", is_fraud=n % 4 == 0, ts=T0 + 3 * H + n, source="analyst")
            for n in range(260)  # every transaction twice: the second verdict may be news
        ]
        if p == "group":
            answers.append(list(store.learn_labels(labels)))
        else:
            answers.append([store.learn_label(one) for one in labels])
        after.append([store.get("terminal", f"{p}T{k}") for k in range(3)])
    assert answers[0] == answers[1]
    assert sum(a is not None for a in answers[0]) == 130 + 65  # news: first, then changes
    assert after[0] == after[1]


def test_fraud_counts_follow_the_labelled_transactions_time(store: FeatureStore) -> None:
    store.update_and_get(tx(1, 0, terminal_id="T"))
    store.learn_label(label(1, D))
    f = store.update_and_get(tx(2, 7 * D - 1, terminal_id="T"))
    assert (f["term_fraud_count_7d"], f["term_fraud_rate_7d"]) == (1.0, 0.5)
    f = store.update_and_get(tx(3, 7 * D, terminal_id="T"))
    assert (f["term_fraud_count_7d"], f["term_fraud_count_30d"]) == (0.0, 1.0)
    assert f["term_fraud_rate_30d"] == 1 / 3


def test_snapshot_is_the_first_feature_vector(store: FeatureStore) -> None:
    first = store.update_and_get(tx(1, 0, terminal_id="T", device_id="D", attributes={"x": 2.0}))
    store.update_and_get(tx(2, 60, terminal_id="T", device_id="D"))
    assert store.snapshot("t1") == first
    assert store.snapshot("nope") is None


def test_live_view_of_unknown_and_known_entities(store: FeatureStore) -> None:
    assert store.get("customer", "ghost")["cust_count_30d"] == 0.0
    assert store.get("terminal", "ghost")["term_latest_ts"] == 0.0
    store.update_and_get(tx(1, 0, amount=3.0, terminal_id="T", device_id="D"))
    view = store.get("customer", "c1")
    assert view["cust_latest_ts"] == float(T0) and view["cust_amount_sum_1d"] == 3.0
    assert "cust_seconds_since_last" not in view
    assert store.get("device", "D")["device_distinct_customers_1d"] == 1.0
    with pytest.raises(ValueError, match="unknown entity"):
        store.get("merchant", "x")  # type: ignore[arg-type]


def test_an_idle_entity_is_forgotten_in_event_time(make_store: MakeStore) -> None:
    store = make_store(StateSettings(idle_expiry_s=100 * D))
    store.update_and_get(tx(1, 0, terminal_id="T", device_id="D"))
    f = store.update_and_get(tx(2, 100 * D, terminal_id="T", device_id="D"))
    assert f["cust_seconds_since_last"] == -1.0
    assert f["term_count_30d"] == 1.0 and f["device_distinct_customers_1d"] == 1.0


def test_amounts_above_48_bit_cents_are_clamped_in_sums_only(store: FeatureStore) -> None:
    f = store.update_and_get(tx(1, 0, amount=9e12))
    assert f["amount"] == 9e12
    assert f["cust_amount_sum_1d"] == (2**48 - 1) / 100


def test_a_group_is_applied_a_chunk_at_a_time_as_its_answers_are_taken(
    make_store: MakeStore,
) -> None:
    """A store that fails mid-group leaves at most one chunk in doubt: the next chunk is not
    applied before the answers of this one have been taken (and learnt)."""
    store = make_store()
    for n in range(150):
        store.update_and_get(tx(n, n * 60, f"c{n}", tx_id=f"t{n}", terminal_id=f"T{n}"))
    labels = [
        Label(tx_id=f"t{n}", is_fraud=True, ts=T0 + 3 * H, source="analyst") for n in range(150)
    ]
    answers = store.learn_labels(labels)
    taken = [next(answers) for _ in range(100)]  # the first chunk of the Redis store
    assert all(found is not None for found in taken)
    assert store.get("terminal", "T0")["term_fraud_count_7d"] == 1.0
    assert store.get("terminal", "T149")["term_fraud_count_7d"] == 0.0  # not applied yet
    assert sum(found is not None for found in answers) == 50
    assert store.get("terminal", "T149")["term_fraud_count_7d"] == 1.0
