"""The policy: thresholds, hard rules, degraded mode, marketing rules, triggers, segments.

A policy is a TOML file (``decisions/default_policy.toml`` is the packaged default, copied to
``policies/default.toml``; docs/policy.md describes every key) validated into the frozen
:class:`Policy` below. :mod:`decisions.policy_file` loads it with errors that name the line and
reloads it without a restart. Every decision records :attr:`Policy.policy_version`: the file's
explicit ``version`` plus a hash of its content, so two different files never share a version.

>>> policy = Policy(thresholds=Thresholds(fraud_review=0.7, fraud_decline=0.9))
>>> out: list = []
>>> policy.thresholds.apply_fraud(0.95, out), out[0].code
(3, 'fraud_score_high')
>>> from pydantic import ValidationError
>>> try:
...     Thresholds(fraud_review=0.9, fraud_decline=0.7)
... except ValidationError as error:
...     print(error.errors()[0]["loc"], error.errors()[0]["msg"])
('fraud_decline',) Value error, must be at least fraud_review (0.9)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from decisions import reasons
from decisions.rules import DegradedPolicy, Direction, Rules
from decisions.schema import (
    APPROVE,
    CHALLENGE,
    DECLINE,
    REVIEW,
    Days,
    FeatureName,
    Loc,
    PolicyModel,
    Threshold,
    invalid,
)
from decisions.segments import SegmentsPolicy
from decisions.triggers import TriggersPolicy
from events.outputs import Reason

_STEPS = ((DECLINE, "decline"), (REVIEW, "review"), (CHALLENGE, "challenge"))


class Thresholds(PolicyModel):
    """Score thresholds (section ``thresholds``); a threshold left out never fires.

    A score at or above a threshold gives that outcome; the most severe one crossed wins. For
    each model, challenge <= review <= decline.
    """

    fraud_challenge: Threshold | None = None
    fraud_review: Threshold | None = None
    fraud_decline: Threshold | None = None
    anomaly_challenge: Threshold | None = None
    anomaly_review: Threshold | None = None
    anomaly_decline: Threshold | None = None
    fraud_direction: Direction = Field(
        "any", description="Transactions the fraud thresholds apply to: debit, credit or any."
    )
    anomaly_direction: Direction = Field(
        "debit",
        description="Transactions the anomaly thresholds apply to. Credits (a salary, a "
        "refund) are often unusual without being a risk: by default only debits are held.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        problems: list[tuple[Loc, str, Any]] = []
        for model in ("fraud", "anomaly"):
            below: tuple[str, float] | None = None
            for step in ("challenge", "review", "decline"):
                name = f"{model}_{step}"
                value = getattr(self, name)
                if value is None:
                    continue
                if below is not None and value < below[1]:
                    problems.append(((name,), f"must be at least {below[0]} ({below[1]})", value))
                below = (name, value)
        if problems:
            raise invalid(problems, type(self).__name__)
        return self

    @cached_property
    def _fraud_steps(self) -> tuple[tuple[int, str, float], ...]:
        return self._steps("fraud")

    @cached_property
    def _anomaly_steps(self) -> tuple[tuple[int, str, float], ...]:
        return self._steps("anomaly")

    def _steps(self, model: str) -> tuple[tuple[int, str, float], ...]:
        steps = ((rank, step, getattr(self, f"{model}_{step}")) for rank, step in _STEPS)
        return tuple((rank, step, value) for rank, step, value in steps if value is not None)

    def apply_fraud(self, score: float, out: list[Reason]) -> int:
        """Severity from the fraud score (appends the reason of the most severe threshold)."""
        return self._apply("fraud", self._fraud_steps, score, out)

    def apply_anomaly(self, score: float, out: list[Reason]) -> int:
        """Severity from the anomaly score (appends the reason of the most severe threshold)."""
        return self._apply("anomaly", self._anomaly_steps, score, out)

    @staticmethod
    def _apply(
        model: str, steps: tuple[tuple[int, str, float], ...], score: float, out: list[Reason]
    ) -> int:
        for rank, step, threshold in steps:
            if score >= threshold:
                out.append(reasons.score_reason(model, score, step, threshold))
                return rank
        return APPROVE


class MarketingPolicy(PolicyModel):
    """The marketing rules (section ``marketing``), on by default; a 0 in days switches one off.

    They apply to marketing triggers only: consent, approved transactions only, quiet periods
    after a decline or a confirmed fraud, one offer code per ``offer_cooldown_days``, at most
    ``max_per_window`` marketing triggers per ``window_days``.
    """

    require_consent: bool = Field(True, description="Marketing only with consent.")
    consent_feature: FeatureName = Field("cust_marketing_consent", description="1 = consent.")
    approved_only: bool = Field(True, description="No marketing on a transaction not approved.")
    quiet_days_after_decline: Days = Field(7.0, description="No marketing after a decline.")
    quiet_days_after_fraud: Days = Field(7.0, description="No marketing after confirmed fraud.")
    fraud_features: tuple[FeatureName, ...] = Field(
        ("cust_fraud_confirmed_7d",),
        description="Features that, above 0, mean a recent confirmed fraud (a quiet period).",
    )
    offer_cooldown_days: Days = Field(30.0, description="The same offer code at most this often.")
    window_days: Days = Field(7.0, description="Rolling window of the marketing cap.")
    max_per_window: int = Field(3, ge=1, le=1000, description="Marketing triggers per window.")


class ReasonsPolicy(PolicyModel):
    """How much a decision explains (section ``reasons``)."""

    max_features: int = Field(
        3, ge=0, le=20, description="Features that pushed a score up, named per flagged model."
    )


class Policy(PolicyModel):
    """The whole policy file. See docs/policy.md."""

    version: str = Field("", pattern=r"^[A-Za-z0-9_.:-]{0,64}$", description="Your version.")
    description: str = Field("", max_length=500)
    thresholds: Thresholds = Thresholds()
    rules: Rules = Rules()
    degraded: DegradedPolicy = DegradedPolicy()
    marketing: MarketingPolicy = MarketingPolicy()
    triggers: TriggersPolicy = TriggersPolicy()
    segments: SegmentsPolicy = SegmentsPolicy()
    reasons: ReasonsPolicy = ReasonsPolicy()

    _digest: str = PrivateAttr("")

    @model_validator(mode="after")
    def _cross_check(self) -> Policy:
        problems = list(self._problems())
        if problems:
            raise invalid(problems, type(self).__name__)
        return self

    def _problems(self) -> Iterator[tuple[Loc, str, Any]]:
        tiers = self.segments.tier_names
        known = ", ".join(sorted(tiers))
        seen: set[str] = set()
        for i, rule in enumerate(self.rules.lists):
            if rule.name in seen:
                yield ("rules", "lists", i, "name"), "a list may appear only once", rule.name
            seen.add(rule.name)
        for i, limit in enumerate(self.rules.limits):
            for tier in limit.tiers:
                if tier not in tiers:
                    yield ("rules", "limits", i, "tiers"), f"unknown tier; known: {known}", tier
        for name in type(self.triggers).model_fields:
            trigger = getattr(self.triggers, name)
            for tier in trigger.tiers:
                if tier not in tiers:
                    yield ("triggers", name, "tiers"), f"unknown tier; known: {known}", tier
            if len(set(trigger.offers)) != len(trigger.offers):
                yield ("triggers", name, "offers"), "offers must be unique", trigger.offers

    def with_digest(self, digest: str) -> Policy:
        """This policy, marked with the hash of the file it was read from."""
        self._digest = digest
        self.__dict__.pop("policy_version", None)
        return self

    @property
    def digest(self) -> str:
        """SHA-256 of the policy file (or of this policy's JSON when built in code)."""
        if not self._digest:
            self._digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._digest

    @cached_property
    def policy_version(self) -> str:
        """What every decision records: ``<version>+<hash>``, or the hash alone."""
        short = self.digest[:12]
        return f"{self.version}+{short}" if self.version else short
