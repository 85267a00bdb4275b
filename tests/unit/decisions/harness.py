"""Drive the decision engine in-process with lists of events and a clock, no services.

:class:`World` plays the feature store and the risk models (features and scores scripted per
transaction, either can be switched off to test degraded mode); :class:`Clock` ticks a fixed
step per read, so latencies are deterministic; :func:`run` feeds a list of transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.lists import InMemoryListStore
from decisions.policy import Policy
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import OfferChooser, Scores
from events.errors import DependencyUnavailableError
from events.metrics import Metrics
from events.records import Transaction

DAY = 86_400.0
HOUR = 3_600.0
#: 2026-03-02 10:00 UTC, a Monday: the start of every scenario.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()

#: A regular customer with consent, at home, seen yesterday; 30 debits in 30 days.
BASE_FEATURES: dict[str, float] = {
    "cust_count_1h": 1.0,
    "cust_count_1d": 2.0,
    "cust_count_7d": 8.0,
    "cust_count_30d": 30.0,
    "cust_amount_sum_1d": 120.0,
    "cust_amount_sum_7d": 400.0,
    "cust_amount_sum_30d": 1500.0,
    "cust_amount_zscore_30d": 0.1,
    "cust_seconds_since_last": 20 * HOUR,
    "cust_new_device": 0.0,
    "cust_new_country_90d": 0.0,
    "cust_foreign": 0.0,
    "cust_marketing_consent": 1.0,
    "cust_inflow_sum_90d": 9000.0,
    "cust_net_deposit_month_0": 500.0,
    "cust_net_deposit_month_1": 400.0,
    "cust_net_deposit_month_2": 300.0,
    "cust_fraud_confirmed_7d": 0.0,
    "term_fraud_rate_7d": 0.0,
    "device_distinct_customers_1d": 1.0,
    "is_night": 0.0,
}
LOW_SCORES = Scores(fraud=0.02, anomaly=0.10, model_version="fraud-v1/anomaly-v1")


def tx(tx_id: str, at: float = T0, **fields: Any) -> Transaction:
    """A transaction at event time ``at`` (a card debit of 50 unless told otherwise)."""
    values: dict[str, Any] = {
        "tx_id": tx_id,
        "ts": at,
        "customer_id": "c1",
        "amount": 50.0,
        "terminal_id": "t1",
        "country": "FR",
    }
    values.update(fields)
    return Transaction.model_validate(values)


def salary(tx_id: str, at: float = T0, **fields: Any) -> Transaction:
    """A salary credit (fires ``salary_wealth_offer``)."""
    values: dict[str, Any] = {
        "amount": 3200.0,
        "direction": "credit",
        "type": "transfer",
        "purpose": "SALA",
        "terminal_id": None,
    }
    values.update(fields)
    return tx(tx_id, at, **values)


def medical(tx_id: str, at: float = T0, **fields: Any) -> Transaction:
    """A hospital bill of 2,400 (fires ``medical_protection_offer``)."""
    values: dict[str, Any] = {"amount": 2400.0, "mcc": "8062"}
    values.update(fields)
    return tx(tx_id, at, **values)


class Clock:
    """A clock that advances ``step`` seconds at every read."""

    def __init__(self, step: float = 0.0005) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@dataclass
class World:
    """The feature store and the risk models, scripted per transaction."""

    base: dict[str, float] = field(default_factory=lambda: dict(BASE_FEATURES))
    features_by_tx: dict[str, dict[str, float]] = field(default_factory=dict)
    default_scores: Scores = LOW_SCORES
    scores_by_tx: dict[str, Scores] = field(default_factory=dict)
    features_down: bool = False
    models_down: bool = False
    seen: list[str] = field(default_factory=list)

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        if self.features_down:
            raise DependencyUnavailableError("redis: connection refused")
        self.seen.append(tx.tx_id)
        features = dict(self.base)
        features["amount"] = tx.amount
        features.update(self.features_by_tx.get(tx.tx_id, {}))
        return features

    def score(self, features: Mapping[str, float]) -> Scores:
        if self.models_down:
            raise RuntimeError("model snapshot missing")
        return self.scores_by_tx.get(self.seen[-1], self.default_scores)


class FailingCaps(InMemoryCapStore):
    """A cap store whose backend is down."""

    def admit(self, *args: Any, **kwargs: Any) -> list[str | None]:
        raise DependencyUnavailableError("redis: timeout")


@dataclass
class Bench:
    """An engine on in-memory stores, with its world, lists, caps and metrics at hand."""

    engine: DecisionEngine
    world: World
    lists: InMemoryListStore
    caps: InMemoryCapStore
    metrics: Metrics
    clock: Clock

    def run(self, txs: Iterable[Transaction]) -> list[DecisionResult]:
        """Decide on each transaction in order."""
        return [self.engine.decide(t) for t in txs]

    def one(self, t: Transaction) -> DecisionResult:
        """Decide on one transaction."""
        return self.engine.decide(t)

    def count(self, metric: str, **labels: str) -> float:
        """The value of a counter sample (0 when never incremented)."""
        value = self.metrics.registry.get_sample_value(metric, labels)
        return 0.0 if value is None else value


def bench(
    policy: Policy | None = None,
    world: World | None = None,
    caps: InMemoryCapStore | None = None,
    offers: OfferChooser | None = None,
) -> Bench:
    """A fresh engine on the default policy (or ``policy``) and in-memory stores."""
    world = world or World()
    lists = InMemoryListStore()
    caps = caps if caps is not None else InMemoryCapStore()
    metrics = Metrics(CollectorRegistry())
    clock = Clock()
    engine = DecisionEngine(
        PolicyHolder(policy or load_policy()),
        features=world,
        scorer=world,
        caps=caps,
        lists=lists,
        offers=offers,
        metrics=metrics,
        clock=clock,
    )
    return Bench(engine, world, lists, caps, metrics, clock)


def codes(result: DecisionResult) -> list[str]:
    """The reason codes of a decision."""
    return [reason.code for reason in result.decision.reasons]


def held(result: DecisionResult) -> dict[str, str]:
    """Suppressed trigger code -> rule."""
    return {s.code: s.rule for s in result.suppressed}
