"""The engine on the real in-memory feature store and the real models, through small adapters.

The engine is written against its own protocols (:mod:`decisions.sources`); these tests show
the feature store of :mod:`state` and the models of :mod:`models` plug in as they are, and run
a short customer story end to end on event time.
"""

from __future__ import annotations

from collections.abc import Mapping

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine
from decisions.lists import InMemoryListStore
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import FeatureSource, RiskScorer, Scores
from events.records import CustomerProfile
from models.anomaly import AnomalyModel
from models.fraud import FraudModel
from state.memory_store import InMemoryFeatureStore
from tests.unit.decisions.harness import DAY, HOUR, T0, held, salary, tx

MINUTE = 60.0


class Models:
    """The adapter the front door needs: fraud and anomaly models as one RiskScorer."""

    def __init__(self, fraud: FraudModel, anomaly: AnomalyModel, version: str) -> None:
        self.fraud = fraud
        self.anomaly = anomaly
        self.version = version

    def score(self, features: Mapping[str, float]) -> Scores:
        return Scores(
            fraud=self.fraud.score_one(features),
            anomaly=self.anomaly.score_one(features),
            model_version=self.version,
            fraud_attributions=tuple(
                (a.feature, a.contribution) for a in self.fraud.explain(features, 3)
            ),
            anomaly_attributions=tuple(self.anomaly.explain(features, 3)),
        )


def test_the_real_store_and_models_satisfy_the_protocols() -> None:
    store = InMemoryFeatureStore()
    models = Models(FraudModel("ftrl"), AnomalyModel(seed=1), "fraud-ftrl/anomaly-hst")
    assert isinstance(store, FeatureSource)
    assert isinstance(models, RiskScorer)


class Low:
    """Risk models that find nothing (the story is about features and triggers)."""

    def score(self, features: Mapping[str, float]) -> Scores:
        return Scores(fraud=0.01, anomaly=0.05, model_version="low")


def engine_on(store: InMemoryFeatureStore, scorer: RiskScorer) -> DecisionEngine:
    return DecisionEngine(
        PolicyHolder(load_policy()), store, scorer, InMemoryCapStore(), InMemoryListStore()
    )


def test_a_customer_story_on_the_real_feature_store() -> None:
    store = InMemoryFeatureStore()
    store.put_customer(CustomerProfile(customer_id="c1", home_country="FR", ts=T0 - DAY))
    engine = engine_on(store, Low())
    story = [
        salary("pay", T0),  # consent (the profile's default) and a salary: an offer
        tx("coffee", T0 + HOUR, amount=3.5),
        tx("abroad", T0 + 2 * HOUR, amount=120.0, country="JP"),  # first time abroad
        tx("abroad2", T0 + 3 * HOUR, amount=80.0, country="JP"),  # not the first any more
        salary("pay2", T0 + 5 * DAY),  # the same offer within 30 days: held
        tx("late", T0 + 90 * MINUTE, amount=9.0),  # out of order, still decided
    ]
    results = [engine.decide(t) for t in story]
    assert [r.decision.outcome for r in results] == ["approve"] * 6
    assert [[t.code for t in r.triggers] for r in results] == [
        ["salary_wealth_offer"], [], ["travel_offer"], [], [], [],
    ]  # fmt: skip
    assert held(results[4]) == {"salary_wealth_offer": "offer_cap"}
    assert results[1].decision.features["cust_seconds_since_last"] == HOUR
    assert results[2].decision.features["cust_foreign"] == 1.0


def test_the_real_models_explain_their_flags_in_the_reasons() -> None:
    fraud = FraudModel("ftrl")
    warm = InMemoryFeatureStore()
    for i in range(300):  # a little history so that the scores move
        features = warm.update_and_get(
            tx(f"w{i}", T0 - 40 * DAY + i * 3000, customer_id=f"w{i % 20}", amount=20.0 + i % 50)
        )
        fraud.learn_one(features, i % 50 == 0)
    engine = engine_on(InMemoryFeatureStore(), Models(fraud, AnomalyModel(seed=1), "real"))
    amounts = (3.5, 120.0, 2500.0, 9.0, 60.0, 700.0)
    results = [engine.decide(tx(f"t{i}", T0 + i * HOUR, amount=a)) for i, a in enumerate(amounts)]
    for result in results:
        decision = result.decision
        assert 0.0 <= decision.fraud_score <= 1.0
        assert 0.0 <= decision.anomaly_score <= 1.0
        assert decision.model_version == "real"
        assert decision.reasons
        assert not decision.degraded
        for reason in decision.reasons:
            if reason.code == "model_feature":
                assert reason.detail.split(" = ")[0] in decision.features
