"""The marketing rules, in one place: consent, caps, quiet periods (DESIGN.md, "Marketing rules").

Two steps. :func:`screen` applies the rules that need nothing but the transaction, its
features and its outcome (consent, approved only, a recent confirmed fraud in the features).
:func:`settle` asks a :class:`CapStore` for the rules that need the customer's history, which
several workers share: no marketing for a while after a decline or a confirmed fraud, one offer
code per ``offer_cooldown_days``, at most ``max_per_window`` marketing triggers per window, and
each service trigger's own cooldown. Caps run on event time (milliseconds), so a replay gives
the same answers; a trigger id admitted once is admitted again (redelivery changes nothing).

The suppression rules are stable names, used as metric labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from decisions.policy import MarketingPolicy
from decisions.triggers import DAY_S, Candidate

NO_CONSENT: Final = "no_consent"
NOT_APPROVED: Final = "not_approved"
QUIET_AFTER_DECLINE: Final = "quiet_after_decline"
QUIET_AFTER_FRAUD: Final = "quiet_after_fraud"
OFFER_CAP: Final = "offer_cap"
COOLDOWN: Final = "cooldown"
WINDOW_CAP: Final = "window_cap"
CAPS_UNAVAILABLE: Final = "caps_unavailable"

#: Quiet-period kinds a cap store records.
DECLINE: Final = "decline"
FRAUD: Final = "fraud"
#: History kept at least this long (event time), whatever the policy's windows.
MIN_RETENTION_MS: Final = 90 * 86_400_000


def to_ms(ts: float) -> int:
    """Event time in whole milliseconds: what the cap stores compare (exact in Lua too)."""
    return round(ts * 1000.0)


@dataclass(frozen=True, slots=True)
class Suppression:
    """A trigger that fired but was held back, and the rule that held it."""

    trigger_id: str
    code: str
    rule: str


@dataclass(frozen=True, slots=True)
class CapRequest:
    """One trigger asking to go out: marketing or not, and its per-code cooldown."""

    trigger_id: str
    code: str
    marketing: bool
    cooldown_ms: int


@dataclass(frozen=True, slots=True)
class CapLimits:
    """The shared-state marketing rules in milliseconds; 0 switches one off."""

    window_ms: int
    max_per_window: int
    quiet_decline_ms: int
    quiet_fraud_ms: int

    @classmethod
    def from_policy(cls, policy: MarketingPolicy) -> CapLimits:
        """The limits of a policy's marketing section."""
        return cls(
            window_ms=to_ms(policy.window_days * DAY_S),
            max_per_window=policy.max_per_window,
            quiet_decline_ms=to_ms(policy.quiet_days_after_decline * DAY_S),
            quiet_fraud_ms=to_ms(policy.quiet_days_after_fraud * DAY_S),
        )

    def retention_ms(self, requests: Sequence[CapRequest]) -> int:
        """How much history to keep: twice the longest window, at least 90 days."""
        longest = max(
            self.window_ms,
            self.quiet_decline_ms,
            self.quiet_fraud_ms,
            *(request.cooldown_ms for request in requests),
        )
        return max(2 * longest, MIN_RETENTION_MS)


class CapStore(Protocol):
    """The customer's trigger history, shared by every worker (atomic per customer)."""

    def admit(
        self,
        customer_id: str,
        ts_ms: int,
        requests: Sequence[CapRequest],
        limits: CapLimits,
        decline_ref: str | None = None,
    ) -> list[str | None]:
        """Decide and record, in order: ``None`` for each request admitted, else the rule.

        ``decline_ref`` (the tx_id of a declined transaction) first starts a quiet period at
        ``ts_ms``. Admitted requests count against the following ones.
        """
        ...

    def note_fraud(self, customer_id: str, ts_ms: int, ref: str) -> None:
        """A fraud on the customer was confirmed at ``ts_ms``: start a quiet period."""
        ...


def screen(
    candidates: Sequence[Candidate],
    outcome: str,
    features: Mapping[str, float],
    policy: MarketingPolicy,
) -> tuple[list[Candidate], list[Suppression]]:
    """The candidates that pass the rules needing no shared state, and those held back."""
    if not candidates:
        return [], []
    rule: str | None = None
    if policy.approved_only and outcome != "approve":
        rule = NOT_APPROVED
    elif policy.require_consent and features.get(policy.consent_feature, 0.0) < 1.0:
        rule = NO_CONSENT
    elif policy.quiet_days_after_fraud > 0 and any(
        features.get(name, 0.0) > 0.0 for name in policy.fraud_features
    ):
        rule = QUIET_AFTER_FRAUD
    if rule is None:
        return list(candidates), []
    kept, held = [], []
    for candidate in candidates:
        if candidate.marketing:
            held.append(Suppression(candidate.trigger_id, candidate.code, rule))
        else:
            kept.append(candidate)
    return kept, held


def requests_for(candidates: Sequence[Candidate], policy: MarketingPolicy) -> list[CapRequest]:
    """What to ask the cap store: marketing triggers also get the offer cooldown."""
    offer_cooldown_s = policy.offer_cooldown_days * DAY_S
    return [
        CapRequest(
            trigger_id=c.trigger_id,
            code=c.code,
            marketing=c.marketing,
            cooldown_ms=to_ms(max(c.cooldown_s, offer_cooldown_s) if c.marketing else c.cooldown_s),
        )
        for c in candidates
    ]


def needs_store(outcome: str, candidates: Sequence[Candidate], policy: MarketingPolicy) -> bool:
    """Whether :func:`settle` will call the cap store for this decision."""
    return (outcome == "decline" and policy.quiet_days_after_decline > 0) or any(
        c.marketing or c.cooldown_s > 0 for c in candidates
    )


def settle(
    store: CapStore,
    customer_id: str,
    tx_id: str,
    ts: float,
    outcome: str,
    candidates: Sequence[Candidate],
    policy: MarketingPolicy,
) -> tuple[list[Candidate], list[Suppression]]:
    """Apply the shared caps: the candidates admitted, and those held back.

    Triggers without a cap (service triggers with no cooldown) go out without asking; the
    store is called only when something needs it (a capped trigger, a decline), so most
    decisions cost no round trip here. Store errors propagate: the caller then holds back
    what needs the store (see :func:`unavailable`).
    """
    if not needs_store(outcome, candidates, policy):
        return list(candidates), []
    declined = outcome == "decline" and policy.quiet_days_after_decline > 0
    capped = [c for c in candidates if c.marketing or c.cooldown_s > 0]
    admitted = [c for c in candidates if not (c.marketing or c.cooldown_s > 0)]
    verdicts = store.admit(
        customer_id,
        to_ms(ts),
        requests_for(capped, policy),
        CapLimits.from_policy(policy),
        decline_ref=tx_id if declined else None,
    )
    held = []
    for candidate, rule in zip(capped, verdicts, strict=True):
        if rule is None:
            admitted.append(candidate)
        else:
            held.append(Suppression(candidate.trigger_id, candidate.code, rule))
    order = {c.trigger_id: n for n, c in enumerate(candidates)}
    admitted.sort(key=lambda c: order[c.trigger_id])
    return admitted, held


def unavailable(candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[Suppression]]:
    """Without the cap store: hold back every capped trigger, let the uncapped ones through."""
    admitted, held = [], []
    for candidate in candidates:
        if candidate.marketing or candidate.cooldown_s > 0:
            held.append(Suppression(candidate.trigger_id, candidate.code, CAPS_UNAVAILABLE))
        else:
            admitted.append(candidate)
    return admitted, held
