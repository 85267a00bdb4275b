"""Real-time triggers (DESIGN.md, "Trigger codes"): one small rule class per trigger.

A trigger class is both its section of the policy file (its thresholds, audience, cooldown,
offer variants) and its rule (:meth:`TriggerRule.check`). A new trigger is one new class here
plus its line in :class:`TriggersPolicy`. Rules are pure; the marketing rules (consent, caps,
quiet periods) are applied afterwards, in one place: :mod:`decisions.marketing`.

>>> from events.records import Transaction
>>> tx = Transaction(tx_id="t1", ts=1.77e9, customer_id="c1", amount=3200.0, direction="credit",
...                  type="transfer", purpose="SALA")
>>> SalaryWealthOffer().check(tx, {})
'salary credit of 3,200.00 EUR'
>>> trigger_id("salary_wealth_offer", "t1") == trigger_id("salary_wealth_offer", "t1")
True
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Final

from pydantic import Field

from decisions.schema import OUTCOMES, Days, FeatureName, OfferId, PolicyModel, Quantity, TierName
from events.outputs import Audience, Outcome, TriggerCode
from events.records import Transaction

HOUR_S: Final = 3600.0
DAY_S: Final = 86_400.0


def trigger_id(code: str, tx_id: str) -> str:
    """A stable id for the trigger ``code`` on transaction ``tx_id`` (consumers dedupe on it)."""
    digest = hashlib.blake2b(f"{code}\x00{tx_id}".encode(), digest_size=12).hexdigest()
    return f"tr-{digest}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A trigger whose rule fired on a transaction, before the caps decide whether it goes out."""

    trigger_id: str
    code: TriggerCode
    audience: Audience
    marketing: bool
    cooldown_s: float
    ttl_s: float
    offers: tuple[str, ...]
    detail: str


class TriggerRule(PolicyModel, abc.ABC):
    """What every trigger has: switch, audience, outcomes, tiers, cooldown, lifetime, offers.

    ``marketing`` triggers are subject to every marketing rule; the others (service actions for
    relationship managers or customer service) only to their own ``cooldown_days``.
    """

    code: ClassVar[TriggerCode]

    enabled: bool = Field(True, description="Whether the trigger fires at all.")
    audience: Audience
    marketing: bool
    outcomes: tuple[Outcome, ...] = Field(OUTCOMES, description="Outcomes it may fire on.")
    tiers: tuple[TierName, ...] = Field((), description="Only these tiers; empty for all.")
    cooldown_days: Days = Field(0.0, description="At most once per this many days; 0 no limit.")
    ttl_hours: float = Field(72.0, gt=0, le=24 * 365, description="expires_at = ts + ttl.")
    offers: tuple[OfferId, ...] = Field((), description="Offer variants; propensity picks one.")

    @abc.abstractmethod
    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        """A short detail when the rule fires on ``tx``, else ``None``."""

    def candidate(
        self, tx: Transaction, features: Mapping[str, float], outcome: str, tier: str
    ) -> Candidate | None:
        """The candidate trigger for ``tx``, or ``None`` when the rule does not fire."""
        if outcome not in self.outcomes or (self.tiers and tier not in self.tiers):
            return None
        detail = self.check(tx, features)
        if detail is None:
            return None
        return Candidate(
            trigger_id=trigger_id(self.code, tx.tx_id),
            code=self.code,
            audience=self.audience,
            marketing=self.marketing,
            cooldown_s=self.cooldown_days * DAY_S,
            ttl_s=self.ttl_hours * HOUR_S,
            offers=self.offers,
            detail=detail,
        )


class SalaryWealthOffer(TriggerRule):
    """A salary credit arrived: offer a wealth product."""

    code: ClassVar[TriggerCode] = "salary_wealth_offer"
    audience: Audience = "customer"
    marketing: bool = True
    purposes: tuple[str, ...] = Field(("SALA",), description="ISO 20022 purposes of a salary.")
    min_amount: Quantity = Field(0.0, description="Smallest salary that counts.")

    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        if tx.direction != "credit" or tx.purpose not in self.purposes:
            return None
        if tx.amount < self.min_amount:
            return None
        return f"salary credit of {tx.amount:,.2f} {tx.currency}"


class MedicalProtectionOffer(TriggerRule):
    """A large medical expense: offer health protection."""

    code: ClassVar[TriggerCode] = "medical_protection_offer"
    audience: Audience = "customer"
    marketing: bool = True
    mccs: tuple[str, ...] = Field(("8011", "8062", "8099"), description="Medical merchant codes.")
    purposes: tuple[str, ...] = Field(("MDCS",), description="Medical transfer purposes.")
    min_amount: Quantity = Field(2000.0, description="Smallest expense that counts.")

    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        if tx.direction != "debit" or tx.amount < self.min_amount:
            return None
        if tx.mcc in self.mccs:
            where = f"MCC {tx.mcc}"
        elif tx.purpose in self.purposes:
            where = f"purpose {tx.purpose}"
        else:
            return None
        return f"medical expense of {tx.amount:,.2f} {tx.currency} ({where})"


class HighPotentialCustomer(TriggerRule):
    """Net deposits above a floor in each of the last calendar months: a manager calls."""

    code: ClassVar[TriggerCode] = "high_potential_customer"
    audience: Audience = "relationship_manager"
    marketing: bool = False
    min_net_deposit: Quantity = Field(20_000.0, description="Floor of each month's net deposits.")
    months: int = Field(3, ge=1, le=3, description="Consecutive months, the current one included.")
    month_feature_prefix: FeatureName = "cust_net_deposit_month_"

    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        values = []
        for month in range(self.months):
            value = features.get(f"{self.month_feature_prefix}{month}")
            if value is None or value <= self.min_net_deposit:
                return None
            values.append(value)
        shown = " / ".join(f"{value:,.0f}" for value in reversed(values))
        return (
            f"net deposits {shown} in the last {self.months} calendar months, "
            f"each above {self.min_net_deposit:,.0f}"
        )


class ChurnRiskOutflow(TriggerRule):
    """A large transfer to another bank relative to the money brought in: retention call."""

    code: ClassVar[TriggerCode] = "churn_risk_outflow"
    audience: Audience = "relationship_manager"
    marketing: bool = False
    outcomes: tuple[Outcome, ...] = ("approve",)
    inflow_share: float = Field(0.5, gt=0, le=10, description="Share of the inflow that counts.")
    min_amount: Quantity = Field(5000.0, description="Smallest outflow that counts.")
    inflow_feature: FeatureName = "cust_inflow_sum_90d"

    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        if tx.direction != "debit" or tx.type != "transfer" or not tx.to_other_bank:
            return None
        inflow = features.get(self.inflow_feature)
        if inflow is None or tx.amount < max(self.min_amount, self.inflow_share * inflow):
            return None
        return (
            f"transfer of {tx.amount:,.2f} {tx.currency} to another bank; "
            f"{inflow:,.2f} brought in over 90 days"
        )


class TravelOffer(TriggerRule):
    """First transaction in a foreign country within 90 days: offer travel services."""

    code: ClassVar[TriggerCode] = "travel_offer"
    audience: Audience = "customer"
    marketing: bool = True
    outcomes: tuple[Outcome, ...] = ("approve",)
    foreign_feature: FeatureName = "cust_foreign"
    new_country_feature: FeatureName = "cust_new_country_90d"

    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        if tx.country is None:
            return None
        if features.get(self.foreign_feature, 0.0) < 1.0:
            return None
        if features.get(self.new_country_feature, 0.0) < 1.0:
            return None
        return f"first transaction in {tx.country} in 90 days, away from home"


class FraudConfirmation(TriggerRule):
    """The decision is a challenge: customer service asks the customer to confirm."""

    code: ClassVar[TriggerCode] = "fraud_confirmation"
    audience: Audience = "customer_service"
    marketing: bool = False
    outcomes: tuple[Outcome, ...] = ("challenge",)
    ttl_hours: float = Field(1.0, gt=0, le=24 * 365)

    def check(self, tx: Transaction, features: Mapping[str, float]) -> str | None:
        return f"confirm a {tx.type} {tx.direction} of {tx.amount:,.2f} {tx.currency}"


class TriggersPolicy(PolicyModel):
    """Every trigger's section (``[triggers.<code>]``); a section left out keeps its defaults."""

    salary_wealth_offer: SalaryWealthOffer = SalaryWealthOffer()
    medical_protection_offer: MedicalProtectionOffer = MedicalProtectionOffer()
    high_potential_customer: HighPotentialCustomer = HighPotentialCustomer()
    churn_risk_outflow: ChurnRiskOutflow = ChurnRiskOutflow()
    travel_offer: TravelOffer = TravelOffer()
    fraud_confirmation: FraudConfirmation = FraudConfirmation()

    @cached_property
    def enabled(self) -> tuple[TriggerRule, ...]:
        """The rules that are switched on, in the order of this class."""
        rules = (getattr(self, name) for name in type(self).model_fields)
        return tuple(rule for rule in rules if rule.enabled)

    def candidates(
        self, tx: Transaction, features: Mapping[str, float], outcome: str, tier: str
    ) -> list[Candidate]:
        """Every trigger whose rule fires on ``tx``."""
        out = []
        for rule in self.enabled:
            found = rule.candidate(tx, features, outcome, tier)
            if found is not None:
                out.append(found)
        return out
