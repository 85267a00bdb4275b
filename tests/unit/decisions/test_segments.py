"""Live RFM segments: scores from the rolling features, tiers from the policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from decisions.segments import DAY_S, SegmentsPolicy, Tier
from tests.unit.decisions.harness import BASE_FEATURES, bench, tx

POLICY = SegmentsPolicy()


@pytest.mark.parametrize(
    ("days", "score"),
    [(0.5, 5), (1.0, 5), (1.01, 4), (7.0, 4), (8.0, 3), (30.0, 3), (90.0, 2), (91.0, 1)],
)
def test_recency_scores_fewer_days_higher(days: float, score: int) -> None:
    assert POLICY.rfm({"cust_seconds_since_last": days * DAY_S}).recency == score


def test_a_first_transaction_has_the_worst_recency() -> None:
    assert POLICY.rfm({"cust_seconds_since_last": -1.0}).recency == 1
    assert POLICY.rfm({}).recency == 1


@pytest.mark.parametrize(
    ("count", "score"), [(0, 1), (1.9, 1), (2, 2), (4, 2), (5, 3), (10, 4), (19, 4), (20, 5)]
)
def test_frequency_scores_more_higher(count: float, score: int) -> None:
    assert POLICY.rfm({"cust_count_30d": count}).frequency == score


@pytest.mark.parametrize(("amount", "score"), [(0, 1), (100, 2), (1999, 3), (2000, 4), (9e9, 5)])
def test_monetary_scores_more_higher(amount: float, score: int) -> None:
    assert POLICY.rfm({"cust_amount_sum_30d": amount}).monetary == score


@pytest.mark.parametrize(
    ("since_days", "count", "amount", "tier"),
    [
        (0.5, 30, 6000, "vip"),  # 5 + 5 + 5
        (0.5, 30, 1500, "potential"),  # 5 + 5 + 3 = 13 but monetary below 4
        (3, 12, 2500, "potential"),  # 4 + 4 + 4 = 12
        (10, 6, 600, "potential"),  # 3 + 3 + 3 = 9
        (40, 3, 600, "mass"),  # 2 + 2 + 3 = 7
    ],
)
def test_tiers_are_the_first_whose_minimums_are_met(
    since_days: float, count: float, amount: float, tier: str
) -> None:
    features = {
        "cust_seconds_since_last": since_days * DAY_S,
        "cust_count_30d": count,
        "cust_amount_sum_30d": amount,
    }
    assert POLICY.rfm(features).tier == tier


def test_the_live_view_adds_scores_and_tier() -> None:
    view = POLICY.customer_view(BASE_FEATURES)
    assert view["rfm_recency"] == 5.0
    assert view["rfm_frequency"] == 5.0
    assert view["rfm_monetary"] == 3.0
    assert view["tier"] == "potential"
    assert view["cust_count_30d"] == 30.0
    live = {k: v for k, v in BASE_FEATURES.items() if k != "cust_seconds_since_last"}
    live["cust_latest_ts"] = 1.77e9
    assert POLICY.customer_view(live, now=1.77e9 + 40 * DAY_S)["rfm_recency"] == 2.0
    assert POLICY.customer_view(live)["rfm_recency"] == 5.0  # no clock: as of the latest
    never = {**live, "cust_latest_ts": 0.0}
    assert POLICY.customer_view(never, now=1.77e9)["rfm_recency"] == 1.0


def test_the_tier_is_recorded_in_every_decision() -> None:
    b = bench()
    b.world.features_by_tx["v"] = {"cust_amount_sum_30d": 8000.0}
    b.world.features_by_tx["m"] = {"cust_count_30d": 1.0, "cust_seconds_since_last": -1.0}
    assert [r.decision.tier for r in b.run([tx("p"), tx("v"), tx("m")])] == [
        "potential",
        "vip",
        "mass",
    ]


def test_cut_points_must_ascend() -> None:
    with pytest.raises(ValidationError, match="strictly ascending"):
        SegmentsPolicy(frequency_cuts=(5.0, 2.0))


def test_tier_names_are_unique_and_reachable() -> None:
    with pytest.raises(ValidationError, match="unique"):
        SegmentsPolicy(tiers=(Tier(name="mass"),))
    with pytest.raises(ValidationError, match="needs more than the best scores"):
        SegmentsPolicy(tiers=(Tier(name="gold", min_monetary=6),))
