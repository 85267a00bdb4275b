"""Degraded mode: without Redis or a model, decide from the transaction alone and say so."""

from __future__ import annotations

import math

import pytest

from decisions.policy import Policy
from decisions.policy_file import load_policy
from decisions.rules import DegradedPolicy
from decisions.sources import Scores
from tests.unit.decisions.harness import FailingCaps, bench, codes, held, medical, salary, tx

DEFAULT = load_policy()


def fail_open() -> Policy:
    return DEFAULT.model_copy(update={"degraded": DegradedPolicy(fail="open", high_amount=500.0)})


def test_without_the_feature_store_a_small_amount_is_approved_and_marked() -> None:
    b = bench()
    b.world.features_down = True
    result = b.one(tx("a", amount=80.0))
    decision = result.decision
    assert decision.degraded
    assert decision.outcome == "approve"
    assert codes(result) == [
        "degraded_features",
        "degraded_fraud_model",
        "degraded_anomaly_model",
        "approved",
    ]
    assert decision.reasons[0].detail == (
        "feature store unavailable: decided from the transaction alone"
    )
    assert decision.features == {"amount": 80.0}
    assert (decision.fraud_score, decision.anomaly_score) == (0.0, 0.0)
    assert decision.tier == ""  # unknown, not guessed
    assert b.count("verdict_degraded_decisions_total", dependency="features") == 1


def test_without_the_feature_store_a_high_amount_fails_closed() -> None:
    b = bench()
    b.world.features_down = True
    decision = b.one(tx("a", amount=500.0)).decision
    assert decision.outcome == "challenge"
    assert decision.reasons[-1].code == "degraded_high_amount"
    assert decision.reasons[-1].detail == (
        "amount 500.00 at or above 500.00 while degraded: challenge, the policy fails closed"
    )


def test_a_policy_may_fail_open_for_high_amounts() -> None:
    b = bench(fail_open())
    b.world.features_down = True
    decision = b.one(tx("a", amount=900.0)).decision
    assert (decision.outcome, decision.degraded) == ("approve", True)
    assert decision.reasons[-1].code == "degraded_fail_open"


def test_the_policy_chooses_which_missing_dependencies_trigger_the_rule() -> None:
    only_features = DegradedPolicy(dependencies=("features",), high_amount=500.0)
    b = bench(DEFAULT.model_copy(update={"degraded": only_features}))
    b.world.default_scores = Scores(fraud=0.1, anomaly=None)
    decision = b.one(tx("a", amount=900.0)).decision
    assert (decision.outcome, decision.degraded) == ("approve", True)
    assert [r.code for r in decision.reasons] == ["degraded_anomaly_model", "approved"]


def test_limits_on_the_transaction_itself_still_apply_when_degraded() -> None:
    b = bench()
    b.world.features_down = True
    decision = b.one(tx("a", amount=60_000.0)).decision
    assert decision.outcome == "decline"
    assert "amount_limit" in [r.code for r in decision.reasons]


def test_a_failing_model_leaves_features_and_rules_in_place() -> None:
    b = bench()
    b.world.models_down = True
    b.world.features_by_tx["a"] = {"cust_count_1h": 12.0}
    result = b.one(tx("a", amount=80.0))
    assert result.decision.degraded
    assert result.decision.outcome == "challenge"
    assert codes(result) == ["degraded_fraud_model", "degraded_anomaly_model", "velocity_1h"]
    assert result.decision.tier == "potential"
    assert result.decision.features["cust_count_1h"] == 12.0


@pytest.mark.parametrize("bad", [None, math.nan, math.inf])
def test_one_model_without_a_usable_score_degrades_only_that_model(bad: float | None) -> None:
    b = bench()
    b.world.default_scores = Scores(fraud=bad, anomaly=0.975, model_version="m")
    result = b.one(tx("a", amount=80.0))
    assert result.decision.degraded
    assert codes(result) == ["degraded_fraud_model", "anomaly_score_high"]
    assert result.decision.outcome == "challenge"


def test_scores_outside_zero_one_are_clamped() -> None:
    b = bench()
    b.world.default_scores = Scores(fraud=1.7, anomaly=-0.2)
    decision = b.one(tx("a")).decision
    assert (decision.fraud_score, decision.anomaly_score) == (1.0, 0.0)
    assert decision.outcome == "decline"


def test_without_the_lists_the_decision_says_they_were_not_checked() -> None:
    b = bench()

    def broken(probes: object) -> frozenset[str]:
        raise ConnectionError("redis: connection reset")

    b.lists.hits = broken  # type: ignore[method-assign]
    result = b.one(tx("a", amount=80.0))
    assert result.decision.degraded
    assert codes(result) == ["degraded_lists", "approved"]
    assert result.decision.reasons[0].detail == "block and allow lists unavailable: not checked"


def test_without_the_caps_marketing_is_held_and_service_triggers_go_out() -> None:
    b = bench(caps=FailingCaps())
    b.world.scores_by_tx["m"] = Scores(fraud=0.6, anomaly=0.1)
    offer = b.one(salary("s"))
    assert offer.triggers == ()
    assert held(offer) == {"salary_wealth_offer": "caps_unavailable"}
    assert offer.decision.degraded
    assert offer.decision.reasons[0].code == "degraded_caps"
    challenged = b.one(medical("m", amount=100.0))
    assert [t.code for t in challenged.triggers] == ["fraud_confirmation"]
    assert not challenged.decision.degraded  # an uncapped trigger never asks the store
    assert b.count("verdict_degraded_decisions_total", dependency="caps") == 1


def test_the_high_amount_rule_reads_debits_only() -> None:
    b = bench()
    b.world.features_down = True
    assert b.one(salary("s", amount=9000.0)).decision.outcome == "approve"
    assert b.one(tx("d", amount=9000.0)).decision.outcome == "challenge"


def test_a_degraded_decision_emits_no_marketing() -> None:
    b = bench()
    b.world.features_down = True
    result = b.one(salary("s"))
    assert (result.decision.outcome, result.decision.degraded) == ("approve", True)
    assert result.triggers == ()
    assert held(result) == {"salary_wealth_offer": "no_consent"}  # consent is a feature
    challenged = b.one(medical("m"))
    assert challenged.decision.outcome == "challenge"
    assert [t.code for t in challenged.triggers] == ["fraud_confirmation"]
    assert held(challenged) == {"medical_protection_offer": "not_approved"}
