"""Live segments: recency, frequency and monetary value (RFM) from the rolling features, in tiers.

Each dimension is scored 1 (worst) to ``len(cuts) + 1`` (best) by cut points in the policy:
recency in days since the customer's previous transaction (fewer is better), frequency and
monetary value from features (more is better). Tiers are tried in order; the first whose
minimum scores the customer meets is the customer's tier, else ``default_tier``.

>>> policy = SegmentsPolicy()
>>> rfm = policy.rfm({"cust_seconds_since_last": 3600.0, "cust_count_30d": 40.0,
...                   "cust_amount_sum_30d": 12000.0})
>>> (rfm.recency, rfm.frequency, rfm.monetary, rfm.tier)
(5, 5, 5, 'vip')
>>> policy.rfm({}).tier
'mass'
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from pydantic import Field, field_validator, model_validator

from decisions.schema import FeatureName, PolicyModel, Quantity, TierName

DAY_S: Final = 86_400.0
#: The live view's event time of the customer's latest transaction (``state``).
LATEST_FEATURE: Final = "cust_latest_ts"


def _ascending(cuts: tuple[float, ...]) -> tuple[float, ...]:
    if any(b <= a for a, b in pairwise(cuts)):
        raise ValueError("cut points must be strictly ascending")
    return cuts


@dataclass(frozen=True, slots=True)
class Rfm:
    """A customer's RFM scores (1 = worst) and tier."""

    recency: int
    frequency: int
    monetary: int
    tier: str

    @property
    def total(self) -> int:
        """Sum of the three scores."""
        return self.recency + self.frequency + self.monetary

    def as_features(self) -> dict[str, float]:
        """The scores as features (``rfm_recency``...), for views and models."""
        return {
            "rfm_recency": float(self.recency),
            "rfm_frequency": float(self.frequency),
            "rfm_monetary": float(self.monetary),
        }


class Tier(PolicyModel):
    """A tier and the minimum scores it needs (all of them)."""

    name: TierName
    min_recency: int = Field(1, ge=1)
    min_frequency: int = Field(1, ge=1)
    min_monetary: int = Field(1, ge=1)
    min_total: int = Field(3, ge=3)

    def admits(self, recency: int, frequency: int, monetary: int) -> bool:
        """Whether scores meet every minimum of this tier."""
        return (
            recency >= self.min_recency
            and frequency >= self.min_frequency
            and monetary >= self.min_monetary
            and recency + frequency + monetary >= self.min_total
        )


class SegmentsPolicy(PolicyModel):
    """RFM cut points and the tiers built on them (section ``segments``)."""

    recency_feature: FeatureName = "cust_seconds_since_last"
    recency_days: tuple[Quantity, ...] = Field(
        (1.0, 7.0, 30.0, 90.0), min_length=1, description="Days since last; fewer scores higher."
    )
    frequency_feature: FeatureName = "cust_count_30d"
    frequency_cuts: tuple[Quantity, ...] = Field((2.0, 5.0, 10.0, 20.0), min_length=1)
    monetary_feature: FeatureName = "cust_amount_sum_30d"
    monetary_cuts: tuple[Quantity, ...] = Field((100.0, 500.0, 2000.0, 5000.0), min_length=1)
    tiers: tuple[Tier, ...] = (
        Tier(name="vip", min_total=13, min_monetary=4),
        Tier(name="potential", min_total=9),
    )
    default_tier: TierName = "mass"

    @field_validator("recency_days", "frequency_cuts", "monetary_cuts")
    @classmethod
    def _check_cuts(cls, cuts: tuple[float, ...]) -> tuple[float, ...]:
        return _ascending(cuts)

    @model_validator(mode="after")
    def _check_tiers(self) -> SegmentsPolicy:
        names = [tier.name for tier in self.tiers] + [self.default_tier]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique: {', '.join(names)}")
        best = (
            len(self.recency_days) + 1,
            len(self.frequency_cuts) + 1,
            len(self.monetary_cuts) + 1,
        )
        for tier in self.tiers:
            if not tier.admits(*best):
                raise ValueError(f"tier {tier.name!r} needs more than the best scores {best}")
        return self

    @property
    def tier_names(self) -> frozenset[str]:
        """Every tier a customer can be in."""
        return frozenset(tier.name for tier in self.tiers) | {self.default_tier}

    def rfm(self, features: Mapping[str, float], recency_s: float | None = None) -> Rfm:
        """RFM scores and tier from features.

        ``recency_s`` overrides the recency feature (the live view passes ``now - latest``);
        a negative or missing recency (no previous transaction) scores 1.
        """
        since = features.get(self.recency_feature, -1.0) if recency_s is None else recency_s
        cuts = self.recency_days
        recency = 1 if since < 0 else len(cuts) + 1 - bisect_left(cuts, since / DAY_S)
        frequency = 1 + bisect_right(self.frequency_cuts, features.get(self.frequency_feature, 0))
        monetary = 1 + bisect_right(self.monetary_cuts, features.get(self.monetary_feature, 0))
        tier = self.default_tier
        for candidate in self.tiers:
            if candidate.admits(recency, frequency, monetary):
                tier = candidate.name
                break
        return Rfm(recency, frequency, monetary, tier)

    def live_rfm(self, features: Mapping[str, float], now: float | None = None) -> Rfm:
        """RFM of the live view (``state``'s ``get``), which has no per-transaction recency.

        Recency is then ``now - cust_latest_ts`` (event time), when ``now`` is given; without
        it, the time since the customer's latest transaction is taken as 0.
        """
        if self.recency_feature in features:
            return self.rfm(features)
        latest = features.get(LATEST_FEATURE, 0.0)
        if latest <= 0.0:
            return self.rfm(features, recency_s=-1.0)
        return self.rfm(features, recency_s=max((now or latest) - latest, 0.0))

    def customer_view(
        self, features: Mapping[str, float], now: float | None = None
    ) -> dict[str, float | str]:
        """The 360-degree view of one customer: live features, RFM scores and tier.

        >>> SegmentsPolicy().customer_view({"cust_latest_ts": 1.77e9, "cust_count_30d": 1.0},
        ...                                now=1.77e9 + 3 * DAY_S)["tier"]
        'mass'
        """
        rfm = self.live_rfm(features, now)
        view: dict[str, float | str] = dict(features)
        view.update(rfm.as_features())
        view["tier"] = rfm.tier
        return view
