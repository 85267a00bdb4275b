"""Alerts for the risk team: one per decision that is not an approval, pseudonymised.

An alert never carries the raw customer id: ``customer_ref`` is a keyed pseudonym (HMAC-SHA256
with a secret from settings), stable for a customer so analysts can group alerts, and not
reversible without the key. Its id is derived from the transaction, so a repeated decision
(at-least-once delivery) gives the same alert, which consumers can collapse.

>>> from events.outputs import Decision
>>> decision = Decision(tx_id="t1", customer_id="c42", ts=1.77e9, outcome="decline",
...                     fraud_score=0.97, anomaly_score=0.4, features={"amount": 900.0})
>>> alert = build_alert(decision, b"secret")
>>> alert.severity, alert.customer_ref == pseudonym("c42", b"secret")
('critical', True)
>>> "c42" in alert.model_dump_json()
False
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from events.outputs import Alert, Decision, Outcome, Severity

#: Features an alert carries to explain itself when the reasons name none.
EXPLAINING_FEATURES: Final = (
    "amount",
    "cust_count_1h",
    "cust_amount_zscore_30d",
    "cust_new_device",
    "cust_foreign",
    "term_fraud_rate_7d",
    "device_distinct_customers_1d",
)
#: At most this many features in an alert.
MAX_ALERT_FEATURES: Final = 8
_RAISED: Final[dict[Severity, Severity]] = {
    "low": "medium",
    "medium": "high",
    "high": "critical",
    "critical": "critical",
}
_BASE_SEVERITY: Final[dict[Outcome, Severity]] = {
    "decline": "high",
    "review": "medium",
    "challenge": "low",
    "approve": "low",
}


def pseudonym(customer_id: str, key: bytes) -> str:
    """A keyed, stable, irreversible reference to a customer (``cr_`` + 24 hex digits)."""
    digest = hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()
    return f"cr_{digest[:24]}"


def alert_id(tx_id: str) -> str:
    """The alert's id: the same for every delivery of the same transaction's decision."""
    return "al_" + hashlib.sha256(f"alert:{tx_id}".encode()).hexdigest()[:24]


def severity(decision: Decision) -> Severity:
    """How urgent: from the outcome, raised one step by a very high fraud score."""
    base = _BASE_SEVERITY[decision.outcome]
    return _RAISED[base] if decision.fraud_score >= 0.9 else base


def _explaining(decision: Decision) -> dict[str, float]:
    named = [
        name
        for reason in decision.reasons
        for name in decision.features
        if name in reason.detail or name == reason.code
    ]
    chosen = list(dict.fromkeys([*named, *EXPLAINING_FEATURES]))
    return {name: decision.features[name] for name in chosen if name in decision.features}


def build_alert(decision: Decision, key: bytes, *, always: bool = False) -> Alert | None:
    """The alert for ``decision``, or ``None`` for an approval (unless ``always``)."""
    if decision.outcome == "approve" and not always:
        return None
    features = dict(list(_explaining(decision).items())[:MAX_ALERT_FEATURES])
    return Alert(
        alert_id=alert_id(decision.tx_id),
        tx_id=decision.tx_id,
        customer_ref=pseudonym(decision.customer_id, key),
        ts=decision.ts,
        severity=severity(decision),
        outcome=decision.outcome,
        fraud_score=decision.fraud_score,
        reasons=decision.reasons,
        features=features,
    )
