"""Each trigger of DESIGN.md's table, its thresholds, its stable id and its offer variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest

from decisions.policy import Policy
from decisions.policy_file import load_policy
from decisions.sources import Scores
from decisions.triggers import TravelOffer, TriggersPolicy, trigger_id
from models.propensity import ThompsonPolicy
from tests.unit.decisions.harness import DAY, HOUR, T0, bench, held, medical, salary, tx

DEFAULT = load_policy()


def fired(result: object) -> list[str]:
    return [t.code for t in result.triggers]  # type: ignore[attr-defined]


def test_a_salary_credit_fires_the_wealth_offer() -> None:
    result = bench().one(salary("s"))
    assert result.decision.triggers == ["salary_wealth_offer"]
    trigger = result.triggers[0]
    assert (trigger.audience, trigger.customer_id, trigger.tx_id) == ("customer", "c1", "s")
    assert trigger.trigger_id == trigger_id("salary_wealth_offer", "s")
    assert trigger.offer_id == "wealth_managed_portfolio"  # no propensity model: the first
    assert trigger.score is None
    assert trigger.expires_at == pytest.approx(T0 + 72 * HOUR)
    assert [(r.code, r.detail) for r in trigger.reasons] == [
        ("salary_wealth_offer", "salary credit of 3,200.00 EUR")
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"purpose": "SUPP"},  # not a salary
        {"direction": "debit"},  # a payment, not a credit
    ],
)
def test_not_a_salary_no_wealth_offer(fields: dict[str, Any]) -> None:
    assert fired(bench().one(salary("s", **fields))) == []


@pytest.mark.parametrize(
    ("fields", "fires"),
    [
        ({"mcc": "8062", "amount": 2000.0}, True),
        ({"mcc": "8011", "amount": 2500.0}, True),
        ({"mcc": "8099", "amount": 1999.99}, False),
        ({"mcc": "5411", "amount": 5000.0}, False),
        ({"mcc": None, "type": "transfer", "purpose": "MDCS", "amount": 3000.0}, True),
        ({"mcc": "8062", "amount": 3000.0, "direction": "credit"}, False),  # a refund
    ],
)
def test_a_large_medical_expense_fires_the_protection_offer(
    fields: dict[str, Any], fires: bool
) -> None:
    result = bench().one(medical("m", **fields))
    assert fired(result) == (["medical_protection_offer"] if fires else [])


def test_the_medical_detail_says_what_and_where() -> None:
    trigger = bench().one(medical("m")).triggers[0]
    assert trigger.reasons[0].detail == "medical expense of 2,400.00 EUR (MCC 8062)"


@pytest.mark.parametrize(
    ("months", "fires"),
    [((25_000.0, 21_000.0, 30_000.0), True), ((25_000.0, 20_000.0, 30_000.0), False)],
)
def test_sustained_deposits_fire_high_potential_for_the_manager(
    months: tuple[float, float, float], fires: bool
) -> None:
    b = bench()
    b.world.features_by_tx["s"] = {
        f"cust_net_deposit_month_{i}": value for i, value in enumerate(months)
    }
    result = b.one(salary("s", amount=25_000.0))
    hp = [t for t in result.triggers if t.code == "high_potential_customer"]
    assert bool(hp) == fires
    if fires:
        assert hp[0].audience == "relationship_manager"
        assert hp[0].offer_id is None
        assert hp[0].reasons[0].detail == (
            "net deposits 30,000 / 21,000 / 25,000 in the last 3 calendar months, each above 20,000"
        )


@pytest.mark.parametrize(
    ("amount", "inflow", "bank", "fires"),
    [
        (6000.0, 10_000.0, "BNPAFRPP", True),
        (4999.0, 8000.0, "BNPAFRPP", False),  # below 5,000
        (6000.0, 13_000.0, "BNPAFRPP", False),  # below half the 90-day inflow
        (6500.0, 13_000.0, "BNPAFRPP", True),
        (9000.0, 10_000.0, "own", False),  # stays in the bank
    ],
)
def test_a_large_outflow_to_another_bank_fires_churn_risk(
    amount: float, inflow: float, bank: str, fires: bool
) -> None:
    b = bench()
    b.world.features_by_tx["o"] = {"cust_inflow_sum_90d": inflow}
    b.world.default_scores = Scores(fraud=0.01, anomaly=0.1)
    t = tx("o", amount=amount, type="transfer", counterparty_bank=bank, terminal_id=None)
    result = b.one(t)
    assert ("churn_risk_outflow" in fired(result)) == fires
    if fires:
        assert result.triggers[0].audience == "relationship_manager"


def test_no_churn_trigger_on_a_transfer_that_is_not_approved() -> None:
    b = bench()
    b.world.features_by_tx["o"] = {"cust_inflow_sum_90d": 1000.0}
    b.world.default_scores = Scores(fraud=0.8, anomaly=0.1)
    t = tx("o", amount=8000.0, type="transfer", counterparty_bank="BNPAFRPP")
    assert fired(b.one(t)) == []


@pytest.mark.parametrize(
    ("foreign", "new_country", "fires"), [(1.0, 1.0, True), (1.0, 0.0, False), (0.0, 1.0, False)]
)
def test_first_foreign_country_in_90_days_fires_the_travel_offer(
    foreign: float, new_country: float, fires: bool
) -> None:
    b = bench()
    b.world.features_by_tx["t"] = {"cust_foreign": foreign, "cust_new_country_90d": new_country}
    result = b.one(tx("t", country="JP"))
    assert fired(result) == (["travel_offer"] if fires else [])
    if fires:
        assert result.triggers[0].reasons[0].detail == (
            "first transaction in JP in 90 days, away from home"
        )
        assert result.triggers[0].expires_at == pytest.approx(T0 + DAY)


def test_no_travel_offer_on_a_transaction_that_is_not_approved() -> None:
    b = bench()
    b.world.features_by_tx["t"] = {"cust_foreign": 1.0, "cust_new_country_90d": 1.0}
    b.world.scores_by_tx["t"] = Scores(fraud=0.6, anomaly=0.1)
    assert fired(b.one(tx("t", country="JP"))) == ["fraud_confirmation"]


def test_a_challenge_fires_fraud_confirmation_for_customer_service() -> None:
    b = bench()
    b.world.default_scores = Scores(fraud=0.6, anomaly=0.1)
    first = b.one(tx("a"))
    second = b.one(tx("b", at=T0 + 60))
    assert fired(first) == fired(second) == ["fraud_confirmation"]  # no cooldown
    trigger = first.triggers[0]
    assert trigger.audience == "customer_service"
    assert trigger.expires_at == pytest.approx(T0 + HOUR)
    assert trigger.reasons[0].detail == "confirm a card debit of 50.00 EUR"


@pytest.mark.parametrize("fraud", [0.1, 0.8, 0.95])
def test_no_fraud_confirmation_unless_the_outcome_is_challenge(fraud: float) -> None:
    b = bench()
    b.world.default_scores = Scores(fraud=fraud, anomaly=0.1)
    assert fired(b.one(tx("a"))) == []


def test_trigger_ids_are_stable_per_code_and_transaction() -> None:
    a = trigger_id("travel_offer", "tx1")
    assert a == trigger_id("travel_offer", "tx1")
    assert a != trigger_id("travel_offer", "tx2")
    assert a != trigger_id("salary_wealth_offer", "tx1")
    assert a.startswith("tr-")
    assert len(a) == 27
    first = bench().one(salary("s")).triggers[0]
    again = bench().one(salary("s")).triggers[0]
    assert first.trigger_id == again.trigger_id


class Propensity:
    """A greedy propensity model over fixed scores; or one that fails, or strays."""

    def __init__(self, scores: Mapping[str, float], mode: str = "ok") -> None:
        self.scores = scores
        self.mode = mode
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def choose(
        self, code: str, offers: Sequence[str], features: Mapping[str, float]
    ) -> tuple[str, float | None]:
        self.asked.append((code, tuple(offers)))
        if self.mode == "fail":
            raise RuntimeError("model not loaded")
        if self.mode == "stray":
            return "not_in_the_policy", 0.9
        best = max(offers, key=lambda offer: self.scores.get(offer, 0.0))
        return best, self.scores.get(best, 0.0)


def test_the_propensity_model_picks_the_offer_variant() -> None:
    model = Propensity({"wealth_term_deposit_12m": 0.31, "wealth_savings_plan": 0.12})
    trigger = bench(offers=model).one(salary("s")).triggers[0]
    assert (trigger.offer_id, trigger.score) == ("wealth_term_deposit_12m", 0.31)
    assert model.asked == [
        (
            "salary_wealth_offer",
            ("wealth_managed_portfolio", "wealth_term_deposit_12m", "wealth_savings_plan"),
        )
    ]


@pytest.mark.parametrize("mode", ["fail", "stray"])
def test_a_failing_or_straying_model_loses_no_offer(mode: str) -> None:
    trigger = bench(offers=Propensity({}, mode)).one(salary("s")).triggers[0]
    assert (trigger.offer_id, trigger.score) == ("wealth_managed_portfolio", None)


def test_service_triggers_are_not_sent_to_the_propensity_model() -> None:
    model = Propensity({})
    b = bench(offers=model)
    b.world.default_scores = Scores(fraud=0.6, anomaly=0.1)
    b.one(tx("a"))
    assert model.asked == []


class Thompson:
    """The adapter the front door needs for models.propensity: one policy per offer code."""

    def __init__(self, policies: Mapping[str, ThompsonPolicy]) -> None:
        self.policies = policies

    def choose(
        self, code: str, offers: Sequence[str], features: Mapping[str, float]
    ) -> tuple[str, float | None]:
        policy = self.policies[code]
        variant = policy.choose(features)
        return variant, policy.scores(features)[variant]


def test_the_thompson_sampling_model_of_models_propensity_plugs_in() -> None:
    offers = DEFAULT.triggers.salary_wealth_offer.offers
    model = Thompson({"salary_wealth_offer": ThompsonPolicy(offers, seed=7)})
    trigger = bench(offers=model).one(salary("s")).triggers[0]
    assert trigger.offer_id in offers
    assert trigger.score is not None
    assert 0.0 <= trigger.score <= 1.0


def test_a_disabled_trigger_never_fires() -> None:
    off = DEFAULT.triggers.salary_wealth_offer.model_copy(update={"enabled": False})
    triggers = DEFAULT.triggers.model_copy(update={"salary_wealth_offer": off})
    policy = DEFAULT.model_copy(update={"triggers": triggers})
    assert fired(bench(policy).one(salary("s"))) == []


def test_a_trigger_may_be_limited_to_tiers() -> None:
    policy = Policy(triggers=TriggersPolicy(travel_offer=TravelOffer(tiers=("vip",))))
    b = bench(policy)
    foreign = {"cust_foreign": 1.0, "cust_new_country_90d": 1.0}
    b.world.features_by_tx["potential"] = foreign
    b.world.features_by_tx["vip"] = {**foreign, "cust_amount_sum_30d": 9000.0}
    assert fired(b.one(tx("potential", country="JP"))) == []
    assert fired(b.one(tx("vip", country="JP"))) == ["travel_offer"]


def test_the_trigger_event_matches_the_contract() -> None:
    trigger = bench().one(salary("s")).triggers[0]
    body = orjson.loads(trigger.model_dump_json())
    assert set(body) == {
        "trigger_id", "code", "audience", "customer_id", "tx_id", "ts", "offer_id", "score",
        "reasons", "expires_at",
    }  # fmt: skip
    assert body["expires_at"] == "2026-03-05T10:00:00Z"
    assert type(trigger).model_validate(body) == trigger


def test_trigger_counts_are_recorded_by_code() -> None:
    b = bench()
    b.one(salary("s"))
    assert b.count("verdict_triggers_total", code="salary_wealth_offer") == 1
    assert held(b.one(salary("s2", at=T0 + DAY))) == {"salary_wealth_offer": "offer_cap"}
