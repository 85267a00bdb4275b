"""Reason codes and their short human details: why a decision came out as it did.

Codes are stable and machine-readable (analysts filter on them, alerts carry them); details
are one short sentence a person reads. Details never carry raw identifiers: a list hit names
the field and the list, not the customer. Rules written in the policy bring their own codes
(a limit's ``code``, a block or allow list's ``code``); the fixed codes are the constants
below.

>>> score_reason("fraud", 0.934, "decline", 0.9)
Reason(code='fraud_score_high', detail='fraud score 0.93 at or above the decline threshold 0.90')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from events.outputs import Reason, construct

#: No rule fired and every score is below its thresholds.
APPROVED: Final = "approved"
#: A score at or above one of its thresholds (``fraud_score_high``, ``anomaly_score_high``).
FRAUD_SCORE_HIGH: Final = "fraud_score_high"
ANOMALY_SCORE_HIGH: Final = "anomaly_score_high"
#: A feature that pushed a model's score up (one reason per feature, the strongest first).
MODEL_FEATURE: Final = "model_feature"
#: Degraded mode: a dependency did not answer, and what the decision did about it.
DEGRADED_FEATURES: Final = "degraded_features"
DEGRADED_LISTS: Final = "degraded_lists"
DEGRADED_FRAUD_MODEL: Final = "degraded_fraud_model"
DEGRADED_ANOMALY_MODEL: Final = "degraded_anomaly_model"
DEGRADED_CAPS: Final = "degraded_caps"
DEGRADED_HIGH_AMOUNT: Final = "degraded_high_amount"
DEGRADED_FAIL_OPEN: Final = "degraded_fail_open"

_DEGRADED_DETAILS: Final[dict[str, str]] = {
    DEGRADED_FEATURES: "feature store unavailable: decided from the transaction alone",
    DEGRADED_LISTS: "block and allow lists unavailable: not checked",
    DEGRADED_FRAUD_MODEL: "fraud model unavailable: its thresholds were not applied",
    DEGRADED_ANOMALY_MODEL: "anomaly model unavailable: its thresholds were not applied",
    DEGRADED_CAPS: "marketing caps unavailable: capped triggers held back",
}


def reason(code: str, detail: str) -> Reason:
    """A :class:`~events.outputs.Reason` (the core's own strings: not validated again)."""
    return construct(Reason, code=code, detail=detail)


#: Reasons are frozen: the fixed ones are built once and shared.
_DEGRADED: Final[dict[str, Reason]] = {
    code: Reason(code=code, detail=detail) for code, detail in _DEGRADED_DETAILS.items()
}


#: Approvals' reasons by detail, each built once and shared (most decisions are approvals).
_APPROVED: Final[dict[str, Reason]] = {}


def degraded_reason(code: str) -> Reason:
    """The reason for one missing dependency (``DEGRADED_FEATURES``...)."""
    return _DEGRADED[code]


def approved_reason(fraud: float | None, anomaly: float | None) -> Reason:
    """Why an approval: every score below its thresholds, no rule fired."""
    parts = []
    if fraud is not None:
        parts.append(f"fraud score {fraud:.2f}")
    if anomaly is not None:
        parts.append(f"anomaly score {anomaly:.2f}")
    scores = " and ".join(parts)
    detail = f"{scores} below every threshold; no rule fired" if scores else "no rule fired"
    found = _APPROVED.get(detail)
    if found is None:  # at most 101 x 101 score pairs (two decimals, scores in [0, 1]), + Nones
        found = _APPROVED[detail] = reason(APPROVED, detail)
    return found


def score_reason(model: str, score: float, outcome: str, threshold: float) -> Reason:
    """A score at or above the threshold of ``outcome``."""
    return reason(
        f"{model}_score_high",
        f"{model} score {score:.2f} at or above the {outcome} threshold {threshold:.2f}",
    )


def attribution_reasons(
    model: str,
    attributions: Iterable[tuple[str, float]],
    features: Mapping[str, float],
    limit: int,
) -> list[Reason]:
    """Up to ``limit`` features that pushed ``model``'s score up, the strongest first.

    >>> [r.detail for r in attribution_reasons("fraud", [("cust_count_1h", 0.21)],
    ...                                        {"cust_count_1h": 7.0}, 3)]
    ['cust_count_1h = 7 raised the fraud score (+0.21)']
    """
    out: list[Reason] = []
    for name, push in attributions:
        if len(out) >= limit:
            break
        if push <= 0.0:
            continue
        value = features.get(name)
        shown = f"{name} = {value:g}" if value is not None else name
        out.append(reason(MODEL_FEATURE, f"{shown} raised the {model} score (+{push:.2f})"))
    return out


def list_reason(code: str, field: str, list_name: str, outcome: str) -> Reason:
    """A block (or allow) list named the transaction's ``field``."""
    return reason(code, f"{field} is on the list {list_name} ({outcome})")


def degraded_amount_reason(amount: float, high_amount: float, outcome: str) -> Reason:
    """Degraded mode met a high amount: what the policy chose (fail closed or open)."""
    if outcome == "approve":
        return reason(
            DEGRADED_FAIL_OPEN,
            f"amount {amount:,.2f} at or above {high_amount:,.2f} while degraded: approved, "
            "the policy fails open",
        )
    return reason(
        DEGRADED_HIGH_AMOUNT,
        f"amount {amount:,.2f} at or above {high_amount:,.2f} while degraded: {outcome}, "
        "the policy fails closed",
    )
