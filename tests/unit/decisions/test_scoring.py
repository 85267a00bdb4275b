"""The models behind the engine: cold start, batch scoring, offers learnt from responses."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from decisions.scoring import COLD_FRAUD_SCORE, WARM_AFTER_LABELS, SuiteScorer, ThompsonOffers
from events.metrics import Metrics
from events.records import Label, OfferResponse, Transaction
from models.anomaly import AnomalyModel
from models.fraud import FraudModel
from models.suite import ModelSuite
from verdict.settings import Settings
from verdict.wiring import build_engine

T0 = 1_772_445_600.0


def _suite() -> ModelSuite:
    return ModelSuite(AnomalyModel(n_trees=3, height=3, window_size=20, seed=1), FraudModel())


def test_a_cold_fraud_model_scores_the_base_rate_and_says_so() -> None:
    suite = _suite()
    cold = SuiteScorer(lambda: ("suite:v0", suite), warm=lambda: False)
    scores = cold.score({"amount": 900.0, "cust_count_1h": 4.0})
    assert scores.fraud == COLD_FRAUD_SCORE
    assert scores.model_version == "suite:v0 (cold)"
    assert scores.anomaly is not None
    warm = SuiteScorer(lambda: ("suite:v1", suite))
    assert warm.score({"amount": 900.0}).model_version == "suite:v1"


def test_batch_scores_equal_one_by_one_on_equal_models() -> None:
    one, many = _suite(), _suite()
    xs = [{"amount": float(10 + i % 70), "cust_count_1d": float(i % 5)} for i in range(60)]
    explain = {"explain_above": 0.0, "explain_anomaly_above": 0.0}  # every score explained
    singles = [SuiteScorer(lambda: ("v", one), **explain).score(x) for x in xs]
    batch = SuiteScorer(lambda: ("v", many), **explain).score_many(xs)
    assert [s.fraud for s in singles] == [s.fraud for s in batch]
    assert [s.anomaly for s in singles] == [s.anomaly for s in batch]
    # the reasons of a score are those of the models that gave it, not of the models after
    # they learnt the rest of the batch
    assert [s.fraud_attributions for s in singles] == [s.fraud_attributions for s in batch]
    assert [s.anomaly_attributions for s in singles] == [s.anomaly_attributions for s in batch]


def test_the_engine_warms_up_after_enough_labels() -> None:
    parts = build_engine(Settings(), Metrics(CollectorRegistry()), state="memory")
    txs = [
        Transaction(tx_id=f"t{i}", ts=T0 + i * 60, customer_id=f"c{i % 20}", amount=20.0 + i % 9)
        for i in range(WARM_AFTER_LABELS + 10)
    ]
    first = parts.engine.decide_many(txs)
    assert {r.decision.fraud_score for r in first} == {COLD_FRAUD_SCORE}
    for tx in txs:
        parts.feedback.on_label(
            Label(tx_id=tx.tx_id, is_fraud=False, ts=tx.ts + 1, source="customer")
        )
    later = parts.engine.decide(
        Transaction(tx_id="next", ts=T0 + 10**5, customer_id="c1", amount=25.0)
    )
    assert "(cold)" not in later.decision.model_version
    assert later.decision.fraud_score < 0.5


def test_an_offer_response_teaches_the_variant_its_trigger_carried() -> None:
    offers = ThompsonOffers(seed=3)
    variant, chance = offers.choose("salary_wealth_offer", ["a", "b"], {"amount": 3000.0})
    assert variant in ("a", "b")
    assert chance is not None
    offers.remember("g1", "salary_wealth_offer", variant, {"amount": 3000.0})
    response = OfferResponse(trigger_id="g1", customer_id="c1", ts=T0, accepted=True)
    assert offers.learn(response) is True
    assert offers.learn(response) is False  # answered already: unknown now
    assert offers.policies["salary_wealth_offer"].accepted[variant] == 1
