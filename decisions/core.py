"""The decision core: transaction + features + scores + policy -> decision. Pure and synchronous.

The HTTP API, the stream agents and the backtest all decide through :func:`propose` (via
:class:`~decisions.engine.DecisionEngine`, which adds the I/O). Nothing here reads a clock, a
setting or a store: the same inputs give the same decision, on event time.

The outcome is the most severe of: degraded mode (a high amount without a dependency), block
lists, limits, and the score thresholds. An allow list approves unless a block list matched.
Every decision says why: the rules that fired, the features that pushed a flagged score up,
and ``approved`` when nothing fired.

>>> from events.records import Transaction
>>> from decisions.policy import Policy, Thresholds
>>> from decisions.sources import Scores
>>> policy = Policy(thresholds=Thresholds(fraud_challenge=0.5))
>>> tx = Transaction(tx_id="t1", ts=1.77e9, customer_id="c1", amount=80.0)
>>> d = decide(tx, {"amount": 80.0}, Scores(fraud=0.7, anomaly=0.1), policy)
>>> d.outcome, [r.code for r in d.reasons], d.triggers
('challenge', ['fraud_score_high'], ['fraud_confirmation'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from decisions import marketing, reasons
from decisions.marketing import Suppression
from decisions.policy import Policy
from decisions.schema import APPROVE, OUTCOMES
from decisions.sources import Scores
from decisions.triggers import Candidate
from events.outputs import Decision, Reason, construct
from events.records import Transaction

#: Dependencies, as named in ``DecisionContext.unavailable`` and the degraded-decisions metric.
FEATURES: Final = "features"
LISTS: Final = "lists"
FRAUD_MODEL: Final = "fraud_model"
ANOMALY_MODEL: Final = "anomaly_model"
CAPS: Final = "caps"

M = TypeVar("M", bound=BaseModel)

_DEGRADED_CODES: Final = {
    FEATURES: reasons.DEGRADED_FEATURES,
    LISTS: reasons.DEGRADED_LISTS,
    FRAUD_MODEL: reasons.DEGRADED_FRAUD_MODEL,
    ANOMALY_MODEL: reasons.DEGRADED_ANOMALY_MODEL,
    CAPS: reasons.DEGRADED_CAPS,
}


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """What the caller learnt besides features and scores.

    Attributes
    ----------
    list_hits
        Names of the lists that hold one of the transaction's fields.
    unavailable
        Dependencies that did not answer (``FEATURES``, ``LISTS``); a model that did not
        answer shows as a ``None`` score instead.
    """

    list_hits: frozenset[str] = frozenset()
    unavailable: frozenset[str] = frozenset()


NO_CONTEXT: Final = DecisionContext()


@dataclass(frozen=True, slots=True)
class Proposal:
    """The pure part of a decision, before the shared caps are asked.

    Attributes
    ----------
    decision
        The decision; its ``triggers`` are those that passed every rule needing no shared
        state (the engine narrows them with the caps).
    candidates
        Those triggers in full.
    suppressed
        Triggers held back by the marketing rules applied here (consent, not approved...).
    missing
        The dependencies this decision went without (empty unless ``decision.degraded``).
    """

    decision: Decision
    candidates: tuple[Candidate, ...]
    suppressed: tuple[Suppression, ...]
    missing: tuple[str, ...]


def _score(value: float | None) -> float | None:
    """A usable score in [0, 1], or ``None`` for a missing or non-finite one."""
    if value is None or not math.isfinite(value):
        return None
    return min(max(value, 0.0), 1.0)


def propose(
    tx: Transaction,
    features: Mapping[str, float],
    scores: Scores,
    policy: Policy,
    context: DecisionContext = NO_CONTEXT,
) -> Proposal:
    """Decide on ``tx``: outcome, reasons, tier and the triggers that may go out."""
    fraud, anomaly = _score(scores.fraud), _score(scores.anomaly)
    missing: tuple[str, ...] = ()
    if context.unavailable or fraud is None or anomaly is None:
        missing = tuple(name for name in (FEATURES, LISTS) if name in context.unavailable)
        if fraud is None:
            missing += (FRAUD_MODEL,)
        if anomaly is None:
            missing += (ANOMALY_MODEL,)
    tier = "" if FEATURES in context.unavailable else policy.segments.rfm(features).tier
    rule_tier = tier or policy.segments.default_tier  # unknown: the default, usually strictest

    thresholds = policy.thresholds  # the scores whose thresholds apply to this direction
    held_fraud = fraud if thresholds.fraud_direction in ("any", tx.direction) else None
    held_anomaly = anomaly if thresholds.anomaly_direction in ("any", tx.direction) else None

    out: list[Reason] = [reasons.degraded_reason(_DEGRADED_CODES[name]) for name in missing]
    notes = len(out)
    block, allowed = policy.rules.apply_lists(context.list_hits, out)
    worst = block
    if not allowed or block > APPROVE:
        if missing and any(name in policy.degraded.dependencies for name in missing):
            worst = max(worst, policy.degraded.apply(tx.amount, tx.direction, out))
        worst = max(worst, policy.rules.apply_limits(features, tx.direction, rule_tier, out))
        worst = max(worst, _apply_scores(held_fraud, held_anomaly, scores, features, policy, out))
    if worst == APPROVE and len(out) == notes:
        out.append(reasons.approved_reason(held_fraud, held_anomaly))
    outcome = OUTCOMES[worst]

    fired = policy.triggers.candidates(tx, features, outcome, rule_tier)
    kept, held = marketing.screen(fired, outcome, features, policy.marketing)
    decision = construct(
        Decision,
        tx_id=tx.tx_id,
        customer_id=tx.customer_id,
        ts=tx.ts,
        outcome=outcome,
        fraud_score=0.0 if fraud is None else fraud,
        anomaly_score=0.0 if anomaly is None else anomaly,
        reasons=out,
        triggers=[candidate.code for candidate in kept],
        features=dict(features),
        model_version=scores.model_version,
        degraded=bool(missing),
        latency_ms=0.0,
        policy_version=policy.policy_version,
        tier=tier,
    )
    return Proposal(decision, tuple(kept), tuple(held), missing)


def fill_in(record: M, **update: Any) -> M:
    """Set fields of a record the caller has just built and shared with no one, in place.

    The engine completes each decision :func:`propose` made (the triggers the caps let
    through, the latency) this way: a copy of the whole record cost as much as building it,
    for an object nobody else had seen. Only fields the record has, of the right
    types (nothing is validated).
    """
    unknown = update.keys() - record.__dict__.keys()
    if unknown:
        raise ValueError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    record.__dict__.update(update)
    return record


def _apply_scores(
    fraud: float | None,
    anomaly: float | None,
    scores: Scores,
    features: Mapping[str, float],
    policy: Policy,
    out: list[Reason],
) -> int:
    """Severity from the score thresholds; a flagged score names the features behind it."""
    worst = APPROVE
    limit = policy.reasons.max_features
    if fraud is not None:
        rank = policy.thresholds.apply_fraud(fraud, out)
        if rank > APPROVE and limit:
            out += reasons.attribution_reasons("fraud", scores.fraud_attributions, features, limit)
        worst = rank
    if anomaly is not None:
        rank = policy.thresholds.apply_anomaly(anomaly, out)
        if rank > APPROVE and limit:
            pushed = scores.anomaly_attributions
            out += reasons.attribution_reasons("anomaly", pushed, features, limit)
        worst = max(worst, rank)
    return worst


def decide(
    tx: Transaction,
    features: Mapping[str, float],
    scores: Scores,
    policy: Policy,
    context: DecisionContext = NO_CONTEXT,
) -> Decision:
    """The decision on ``tx`` (see :func:`propose`); its triggers are before the shared caps."""
    return propose(tx, features, scores, policy, context).decision
