"""Every outcome and its reasons: thresholds, block and allow lists, limits, the contract."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from decisions.core import DecisionContext, decide, fill_in
from decisions.policy import Policy
from decisions.policy_file import load_policy, parse_policy
from decisions.rules import ListRule, Rules
from decisions.schema import severity
from decisions.sources import Scores
from events.outputs import Decision, Reason, construct
from tests.unit.decisions.harness import LOW_SCORES, World, bench, codes, tx

DEFAULT = load_policy()


def scored(fraud: float, anomaly: float = 0.1, **attributions: float) -> Scores:
    return Scores(
        fraud=fraud,
        anomaly=anomaly,
        model_version="fraud-v1/anomaly-v1",
        fraud_attributions=tuple(attributions.items()),
    )


def test_an_ordinary_payment_is_approved_and_says_why() -> None:
    result = bench().one(tx("a"))
    decision = result.decision
    assert decision.outcome == "approve"
    assert [(r.code, r.detail) for r in decision.reasons] == [
        ("approved", "fraud score 0.02 and anomaly score 0.10 below every threshold; no rule fired")
    ]
    assert decision.triggers == []
    assert not decision.degraded
    assert decision.model_version == "fraud-v1/anomaly-v1"
    assert decision.policy_version == DEFAULT.policy_version
    assert decision.tier == "potential"
    assert decision.latency_ms == pytest.approx(0.5)
    assert decision.features["amount"] == 50.0


@pytest.mark.parametrize(
    ("fraud", "outcome"),
    [(0.0, "approve"), (0.49, "approve"), (0.5, "challenge"), (0.749, "challenge"),
     (0.75, "review"), (0.92, "decline"), (1.0, "decline")],
)  # fmt: skip
def test_the_fraud_score_thresholds(fraud: float, outcome: str) -> None:
    b = bench()
    b.world.scores_by_tx["a"] = scored(fraud)
    decision = b.one(tx("a")).decision
    assert decision.outcome == outcome
    assert decision.fraud_score == fraud
    if outcome != "approve":
        assert codes(b.one(tx("a")))[0] == "fraud_score_high"
        assert decision.reasons[0].detail == (
            f"fraud score {fraud:.2f} at or above the {outcome} threshold "
            f"{getattr(DEFAULT.thresholds, 'fraud_' + outcome):.2f}"
        )


@pytest.mark.parametrize(
    ("anomaly", "outcome"), [(0.969, "approve"), (0.97, "challenge"), (0.99, "review")]
)
def test_the_anomaly_score_thresholds(anomaly: float, outcome: str) -> None:
    b = bench()
    b.world.scores_by_tx["a"] = scored(0.01, anomaly)
    decision = b.one(tx("a")).decision
    assert decision.outcome == outcome
    assert ("anomaly_score_high" in codes(b.one(tx("a")))) == (outcome != "approve")


def test_a_flagged_score_names_the_features_that_pushed_it_up() -> None:
    b = bench()
    b.world.features_by_tx["a"] = {"cust_count_1h": 7.0}
    b.world.scores_by_tx["a"] = scored(
        0.8, cust_count_1h=0.31, is_night=-0.05, amount=0.12, cust_new_device=0.02, extra=0.01
    )
    reasons = b.one(tx("a", amount=900.0)).decision.reasons
    assert [(r.code, r.detail) for r in reasons] == [
        ("fraud_score_high", "fraud score 0.80 at or above the review threshold 0.75"),
        ("model_feature", "cust_count_1h = 7 raised the fraud score (+0.31)"),
        ("model_feature", "amount = 900 raised the fraud score (+0.12)"),
        ("model_feature", "cust_new_device = 0 raised the fraud score (+0.02)"),
    ]


def test_a_flagged_anomaly_names_its_own_features() -> None:
    b = bench()
    b.world.features_by_tx["a"] = {"cust_amount_zscore_30d": 6.2}
    b.world.scores_by_tx["a"] = Scores(
        fraud=0.1,
        anomaly=0.98,
        fraud_attributions=(("amount", 0.02),),
        anomaly_attributions=(("cust_amount_zscore_30d", 0.4),),
    )
    assert [(r.code, r.detail) for r in b.one(tx("a")).decision.reasons] == [
        ("anomaly_score_high", "anomaly score 0.98 at or above the challenge threshold 0.97"),
        ("model_feature", "cust_amount_zscore_30d = 6.2 raised the anomaly score (+0.40)"),
    ]


def test_decisions_are_counted_by_outcome_with_their_latency() -> None:
    b = bench()
    b.world.scores_by_tx["b"] = scored(0.95)
    b.run([tx("a"), tx("b"), tx("c")])
    assert b.count("verdict_decisions_total", outcome="approve") == 2
    assert b.count("verdict_decisions_total", outcome="decline") == 1
    assert b.count("verdict_decision_latency_seconds_count") == 3


def test_an_approval_does_not_list_attributions() -> None:
    b = bench()
    b.world.default_scores = scored(0.1, cust_count_1h=0.05)
    assert codes(b.one(tx("a"))) == ["approved"]


@pytest.mark.parametrize(
    ("list_name", "field", "value", "outcome", "code"),
    [
        ("blocked_customers", "customer_id", "c1", "decline", "blocked_customer"),
        ("blocked_terminals", "terminal_id", "t1", "decline", "blocked_terminal"),
        ("blocked_devices", "device_id", "d9", "review", "blocked_device"),
    ],
)
def test_block_lists(list_name: str, field: str, value: str, outcome: str, code: str) -> None:
    b = bench()
    b.lists.add(list_name, [value])
    result = b.one(tx("a", device_id="d9"))
    assert result.decision.outcome == outcome
    assert result.decision.reasons[0].code == code
    detail = result.decision.reasons[0].detail
    assert detail == f"{field} is on the list {list_name} ({outcome})"
    assert value not in detail  # no raw identifiers in reasons


def test_lists_are_data_edited_at_run_time() -> None:
    b = bench()
    assert b.one(tx("a")).decision.outcome == "approve"
    b.lists.add("blocked_customers", ["c1"])
    assert b.one(tx("b", at=tx("a").ts + 60)).decision.outcome == "decline"
    b.lists.remove("blocked_customers", ["c1"])
    assert b.one(tx("c", at=tx("a").ts + 120)).decision.outcome == "approve"


def allow_policy() -> Policy:
    text = (
        "[thresholds]\nfraud_decline = 0.9\n"
        "[[rules.lists]]\nname = 'trusted_customers'\nfield = 'customer_id'\noutcome = 'approve'\n"
        "code = 'trusted_customer'\n"
        "[[rules.lists]]\nname = 'blocked_devices'\nfield = 'device_id'\noutcome = 'decline'\n"
        "[[rules.limits]]\ncode = 'amount_limit'\nfeature = 'amount'\nmax = 1000\n"
        "outcome = 'review'\n"
    )
    return parse_policy(text)


def test_an_allow_list_approves_whatever_the_scores_and_limits_say() -> None:
    b = bench(allow_policy())
    b.lists.add("trusted_customers", ["c1"])
    b.world.default_scores = scored(0.97)
    decision = b.one(tx("a", amount=5000.0)).decision
    assert decision.outcome == "approve"
    assert [(r.code, r.detail) for r in decision.reasons] == [
        ("trusted_customer", "customer_id is on the list trusted_customers (approve)")
    ]


def test_a_block_list_wins_over_an_allow_list() -> None:
    b = bench(allow_policy())
    b.lists.add("trusted_customers", ["c1"])
    b.lists.add("blocked_devices", ["d1"])
    decision = b.one(tx("a", device_id="d1")).decision
    assert decision.outcome == "decline"
    assert codes(b.one(tx("a", device_id="d1")))[:2] == ["trusted_customer", "blocked_devices"]


def test_velocity_limit_says_how_unusual_it_is() -> None:
    b = bench()
    b.world.features_by_tx["a"] = {"cust_count_1h": 12.0, "cust_count_30d": 288.0}
    decision = b.one(tx("a")).decision
    assert decision.outcome == "challenge"
    assert [(r.code, r.detail) for r in decision.reasons] == [
        ("velocity_1h", "12 transactions in 1 h, usual 0.4")
    ]


def test_a_limit_on_debits_ignores_credits() -> None:
    b = bench()
    b.world.features_by_tx["a"] = {"cust_count_1h": 12.0}
    b.world.features_by_tx["b"] = {"cust_count_1h": 12.0}
    assert b.one(tx("a", direction="credit")).decision.outcome == "approve"
    assert b.one(tx("b")).decision.outcome == "challenge"


def test_the_tier_is_used_in_rules_a_vip_may_pay_more() -> None:
    b = bench()
    b.world.features_by_tx["vip"] = {"cust_amount_sum_30d": 6000.0}
    assert b.one(tx("mass", amount=12_000.0)).decision.outcome == "review"
    vip = b.one(tx("vip", amount=12_000.0)).decision
    assert (vip.tier, vip.outcome) == ("vip", "approve")


def test_the_most_severe_outcome_wins_and_every_rule_is_listed() -> None:
    b = bench()
    b.world.features_by_tx["a"] = {"cust_count_1h": 12.0}
    b.world.scores_by_tx["a"] = scored(0.8)
    result = b.one(tx("a", amount=60_000.0))
    assert result.decision.outcome == "decline"
    assert codes(result) == [
        "velocity_1h",
        "amount_limit",
        "amount_review",
        "fraud_score_high",
    ]


def test_the_decision_matches_the_contract_exactly() -> None:
    decision = bench().one(tx("a")).decision
    body = orjson.loads(decision.model_dump_json())
    assert set(body) == {
        "tx_id", "customer_id", "ts", "outcome", "fraud_score", "anomaly_score", "reasons",
        "triggers", "features", "model_version", "degraded", "latency_ms", "policy_version",
        "tier",
    }  # fmt: skip
    assert body["ts"] == "2026-03-02T10:00:00Z"
    assert body["reasons"] == [{"code": "approved", "detail": decision.reasons[0].detail}]
    assert type(decision).model_validate(body) == decision


def test_the_fast_record_equals_the_one_pydantic_builds() -> None:
    decision = decide(tx("a"), {"amount": 50.0}, LOW_SCORES, DEFAULT)
    assert set(vars(decision)) == set(Decision.model_fields)  # every field given: fast path
    rebuilt = Decision.model_construct(**vars(decision))
    assert decision == rebuilt
    assert decision.model_dump_json() == rebuilt.model_dump_json()
    assert decision.model_fields_set == rebuilt.model_fields_set
    fewer: dict[str, Any] = {k: v for k, v in vars(decision).items() if k != "tier"}
    assert construct(Decision, **fewer) == Decision.model_construct(**fewer)  # a field unknown
    assert construct(Decision, **fewer).tier == ""


def test_fill_in_equals_pydantics_copy_and_refuses_an_unknown_field() -> None:
    decision = decide(tx("a"), {"amount": 50.0}, LOW_SCORES, DEFAULT)
    update: dict[str, Any] = {"triggers": ["travel_offer"], "latency_ms": 1.5}
    copied = decision.model_copy(update=update)
    filled = fill_in(decision, **update)
    assert filled is decision  # in place: the caller's own record
    assert filled == copied
    assert filled.model_dump_json() == copied.model_dump_json()
    assert filled.model_fields_set == copied.model_fields_set
    with pytest.raises(ValueError, match="no field 'latency'"):
        fill_in(decision, latency=2.0)
    assert "latency" not in vars(decision)


def test_approvals_share_one_reason_per_detail() -> None:
    first = decide(tx("a"), {"amount": 50.0}, LOW_SCORES, DEFAULT)
    second = decide(tx("b"), {"amount": 60.0}, LOW_SCORES, DEFAULT)
    other = decide(tx("c"), {"amount": 50.0}, Scores(fraud=0.02, anomaly=0.03), DEFAULT)
    assert first.reasons[0] is second.reasons[0]
    assert first.reasons[0].detail != other.reasons[0].detail
    assert other.reasons[0] == Reason(code="approved", detail=other.reasons[0].detail)


def test_decide_is_pure() -> None:
    features = {"amount": 50.0, "cust_count_1h": 12.0}
    before = dict(features)
    first = decide(tx("a"), features, LOW_SCORES, DEFAULT)
    second = decide(tx("a"), features, LOW_SCORES, DEFAULT)
    assert first == second
    assert features == before
    assert first.features is not features


def test_decide_takes_list_hits_from_its_context() -> None:
    context = DecisionContext(list_hits=frozenset({"blocked_terminals"}))
    assert decide(tx("a"), {"amount": 50.0}, LOW_SCORES, DEFAULT, context).outcome == "decline"


@given(
    low=st.floats(0.0, 1.0),
    high=st.floats(0.0, 1.0),
    anomaly=st.floats(0.0, 1.0),
    velocity=st.integers(0, 30),
)
def test_a_higher_fraud_score_is_never_a_milder_outcome(
    low: float, high: float, anomaly: float, velocity: int
) -> None:
    low, high = min(low, high), max(low, high)
    features = {"amount": 50.0, "cust_count_1h": float(velocity), "cust_count_30d": 30.0}
    milder = decide(tx("a"), features, Scores(low, anomaly), DEFAULT)
    harsher = decide(tx("a"), features, Scores(high, anomaly), DEFAULT)
    assert severity(harsher.outcome) >= severity(milder.outcome)
    assert milder.reasons  # every decision says why


def test_rules_probe_only_the_fields_a_transaction_has() -> None:
    rules = Rules(
        lists=(
            ListRule(name="a", field="device_id", outcome="review"),
            ListRule(name="b", field="terminal_id", outcome="decline"),
        )
    )
    assert rules.probes(tx("x")) == [("b", "t1")]
    assert World().update_and_get(tx("x"))["amount"] == 50.0


def test_a_large_unusual_credit_is_not_held_by_the_anomaly_thresholds_by_default() -> None:
    salary = tx("s", amount=3200.0, direction="credit", type="transfer", purpose="SALA")
    unusual = Scores(fraud=0.02, anomaly=0.99, model_version="v")
    decision = decide(salary, {"amount": 3200.0}, unusual, DEFAULT)
    assert decision.outcome == "approve"
    assert decision.anomaly_score == pytest.approx(0.99)  # scored and recorded all the same
    assert "anomaly" not in decision.reasons[0].detail  # the approval names what was checked
    debit = decide(tx("d", amount=3200.0), {"amount": 3200.0}, unusual, DEFAULT)
    assert debit.outcome == "review"

    strict = parse_policy("[thresholds]\nanomaly_review = 0.98\nanomaly_direction = 'any'\n")
    assert decide(salary, {"amount": 3200.0}, unusual, strict).outcome == "review"
    policy = parse_policy("[thresholds]\nfraud_decline = 0.9\nfraud_direction = 'credit'\n")
    risky = Scores(fraud=0.99, anomaly=0.1, model_version="v")
    assert decide(tx("d2", amount=50.0), {"amount": 50.0}, risky, policy).outcome == "approve"
    assert decide(salary, {"amount": 3200.0}, risky, policy).outcome == "decline"
    copied = DEFAULT.model_copy(update={"thresholds": strict.thresholds})  # caches not copied
    assert decide(salary, {"amount": 3200.0}, unusual, copied).outcome == "review"
    assert copied.policy_version != DEFAULT.policy_version  # other content, other hash
