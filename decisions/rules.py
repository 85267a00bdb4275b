"""Hard rules: block and allow lists, limits on features (amount, velocity), degraded mode.

Each rule is a frozen section of the policy file that also knows how to apply itself. Rules
are pure: the list memberships are looked up by the caller (one Redis round trip, see
:mod:`decisions.lists`) and passed in as the names of the lists that matched.

>>> rule = LimitRule(code="velocity_1h", feature="cust_count_1h", max=5, outcome="challenge",
...                  detail="{value:g} transactions in 1 h, usual {usual:.1f}",
...                  usual_feature="cust_count_30d", usual_divisor=720)
>>> out: list = []
>>> rule.apply({"cust_count_1h": 7.0, "cust_count_30d": 288.0}, "debit", "mass", out)
1
>>> out[0].detail
'7 transactions in 1 h, usual 0.4'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from pydantic import Field, field_validator, model_validator

from decisions import reasons
from decisions.schema import (
    APPROVE,
    FeatureName,
    FiniteFloat,
    ListName,
    PolicyModel,
    Quantity,
    ReasonCode,
    Severe,
    TierName,
    check_template,
    invalid,
    severity,
)
from events.outputs import Outcome, Reason
from events.records import Transaction

#: Transaction fields a list can hold.
ListField = Literal["customer_id", "terminal_id", "device_id", "counterparty_id", "ip", "country"]
Direction = Literal["any", "debit", "credit"]
#: Dependencies a decision can go without (also ``decisions.core``'s names).
Dependency = Literal["features", "lists", "fraud_model", "anomaly_model"]

_LIMIT_SAMPLES: Final = {"feature": "cust_count_1h", "value": 1.5, "limit": 1.5, "usual": 1.5}


class ListRule(PolicyModel):
    """A list of identifiers (a Redis set, editable at run time) and what a member means.

    ``outcome`` ``approve`` makes an allow list: a member is approved whatever the scores and
    limits say, unless a block list names the transaction too.
    """

    name: ListName = Field(description="The list; Redis set <prefix>:list:<name>.")
    field: ListField = Field(description="The transaction field looked up in the list.")
    outcome: Outcome = Field(description="Outcome for a member; approve makes an allow list.")
    code: ReasonCode | None = Field(None, description="Reason code; the list's name if unset.")

    @property
    def reason_code(self) -> str:
        """The code of the reason this rule gives."""
        return self.code or self.name

    @property
    def allows(self) -> bool:
        """Whether this is an allow list."""
        return self.outcome == "approve"


class LimitRule(PolicyModel):
    """A feature above a limit forces an outcome (amount limits, velocity limits...).

    ``detail`` is a ``str.format`` template over ``{feature}``, ``{value}``, ``{limit}`` and
    ``{usual}`` (``usual_feature / usual_divisor``, e.g. the 30-day count / 720 = usual per
    hour). The rule is skipped when its feature is missing (degraded mode keeps the rules
    over ``amount``, which the transaction itself carries).
    """

    code: ReasonCode = Field(description="Reason code when the limit is exceeded.")
    feature: FeatureName = Field(description="The feature compared with the limit.")
    max: FiniteFloat = Field(description="The rule fires when the feature is above this.")
    outcome: Severe = Field(description="Outcome when the rule fires.")
    direction: Direction = Field("any", description="Only debits, only credits, or any.")
    tiers: tuple[TierName, ...] = Field((), description="Only these tiers; empty for all.")
    detail: str = Field("{feature} = {value:g}, above the limit {limit:g}")
    usual_feature: FeatureName | None = Field(None, description="Baseline for {usual}.")
    usual_divisor: float = Field(1.0, gt=0, allow_inf_nan=False)

    @field_validator("detail")
    @classmethod
    def _check_detail(cls, detail: str) -> str:
        return check_template(detail, _LIMIT_SAMPLES)

    @model_validator(mode="after")
    def _check_usual(self) -> LimitRule:
        if "{usual" in self.detail and self.usual_feature is None:
            message = "uses {usual} but usual_feature is not set"
            raise invalid([(("detail",), message, self.detail)], type(self).__name__)
        return self

    def apply(
        self, features: Mapping[str, float], direction: str, tier: str, out: list[Reason]
    ) -> int:
        """Append a reason and return the outcome's severity if the rule fires, else 0."""
        if self.direction not in ("any", direction):
            return APPROVE
        if self.tiers and tier not in self.tiers:
            return APPROVE
        value = features.get(self.feature)
        if value is None or value <= self.max:
            return APPROVE
        usual = 0.0
        if self.usual_feature is not None:
            usual = features.get(self.usual_feature, 0.0) / self.usual_divisor
        detail = self.detail.format(feature=self.feature, value=value, limit=self.max, usual=usual)
        out.append(reasons.reason(self.code, detail))
        return severity(self.outcome)


class Rules(PolicyModel):
    """The hard rules: lists first, then limits."""

    lists: tuple[ListRule, ...] = ()
    limits: tuple[LimitRule, ...] = ()

    def probes(self, tx: Transaction) -> list[tuple[str, str]]:
        """``(list name, value)`` pairs to look up for ``tx`` (fields it leaves empty skipped)."""
        out = []
        for rule in self.lists:
            value = getattr(tx, rule.field)
            if value is not None:
                out.append((rule.name, value))
        return out

    def apply_lists(self, hits: frozenset[str], out: list[Reason]) -> tuple[int, bool]:
        """Severity of the block lists that matched, and whether an allow list matched."""
        worst, allowed = APPROVE, False
        if not hits:
            return worst, allowed
        for rule in self.lists:
            if rule.name not in hits:
                continue
            out.append(reasons.list_reason(rule.reason_code, rule.field, rule.name, rule.outcome))
            if rule.allows:
                allowed = True
            else:
                worst = max(worst, severity(rule.outcome))
        return worst, allowed

    def apply_limits(
        self, features: Mapping[str, float], direction: str, tier: str, out: list[Reason]
    ) -> int:
        """Severity of the limits that fired (each appends its reason)."""
        worst = APPROVE
        for rule in self.limits:
            worst = max(worst, rule.apply(features, direction, tier, out))
        return worst


class DegradedPolicy(PolicyModel):
    """What to do without Redis or a model: decide from the transaction alone.

    When one of ``dependencies`` is missing, amounts at or above ``high_amount`` (of debits,
    by default: money leaving the customer) get ``closed_outcome`` when the policy fails
    closed, and are approved when it fails open; smaller amounts follow the rules that still
    apply.
    """

    dependencies: tuple[Dependency, ...] = Field(
        ("features", "lists", "fraud_model", "anomaly_model"),
        description="Dependencies whose absence puts high amounts under this rule.",
    )
    high_amount: Quantity = Field(500.0, description="Amounts from here on are high.")
    direction: Direction = Field("debit", description="Which transactions the rule reads.")
    fail: Literal["open", "closed"] = Field("closed", description="High amounts: open or closed.")
    closed_outcome: Severe = Field("review", description="Outcome of a high amount, closed.")

    def apply(self, amount: float, direction: str, out: list[Reason]) -> int:
        """Severity for a transaction in degraded mode (appends a reason for a high amount)."""
        if amount < self.high_amount or self.direction not in ("any", direction):
            return APPROVE
        outcome = self.closed_outcome if self.fail == "closed" else "approve"
        out.append(reasons.degraded_amount_reason(amount, self.high_amount, outcome))
        return severity(outcome)
