"""How good a backtest's decisions were: the handbook's quality metrics and the outcome counts.

The truth is the labels file's: a transaction is fraud when its latest label says so; a
transaction with no label is legitimate (a chargebacks-only feed). The ranking metrics follow
the fraud handbook's protocol, on event time:

- a card (``customer_id``) is *known compromised* from the first day that starts after a fraud
  label of it became known (the label's ``ts``): its transactions of later days are left out
  of the ranking metrics, as the handbook leaves known-defrauded customers out of its test set;
- card precision@k is computed per UTC day over the cards left, each card scored by its highest
  ``fraud_score`` of the day, and averaged over the days
  (:func:`models.evaluation.card_precision_at_k`, which also leaves out, from the next day on,
  the cards it found among a day's top ``k``); ties keep the order in which the cards first
  appear that day;
- ROC AUC and average precision are computed over the same transactions; ``*_all`` over
  every transaction.

An *alert* is a decision that is not ``approve``; a fraud is *caught* when it was not approved;
a good customer is *blocked* when one of their legitimate transactions was declined.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from events.errors import EventValidationError
from events.outputs import Decision
from events.parsing import parse_label
from models.evaluation import average_precision, card_precision_at_k, roc_auc

DAY_S: Final = 86_400
OUTCOMES: Final = ("approve", "challenge", "review", "decline")
_CODE: Final = {name: code for code, name in enumerate(OUTCOMES)}
_DECLINE: Final = _CODE["decline"]
#: No shadow decision for the row.
_NONE: Final = -1


@dataclass
class Truth:
    """The frauds of a labels file: ``tx_id`` -> when the first fraud label became known."""

    frauds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_labels(cls, path: Path) -> Truth:
        """Read the frauds of a labels file (JSONL; CSV through :mod:`replay.sources`).

        Lines are read in file order, so a later label corrects an earlier one. A line that is
        not a valid label is not truth (the backtest reports it as a bad line).
        """
        truth = cls()
        for body in _label_bodies(path):
            tx_id, is_fraud = body.get("tx_id"), body.get("is_fraud")
            if not isinstance(tx_id, str) or (is_fraud is not True and tx_id not in truth.frauds):
                continue  # the common case, a legitimate transaction: no full parse needed
            try:
                label = parse_label(body)
            except EventValidationError:
                continue
            if not label.is_fraud:
                truth.frauds.pop(label.tx_id, None)
            elif label.tx_id not in truth.frauds:
                truth.frauds[label.tx_id] = label.ts
        return truth

    def is_fraud(self, tx_id: str) -> bool:
        """Whether the labels say ``tx_id`` was fraud."""
        return tx_id in self.frauds


def _label_bodies(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        from replay.sources import read_records

        for record in read_records(path, "labels", on_bad=lambda _: None):
            yield orjson.loads(record.value)
        return
    with path.open("rb") as handle:
        for line in handle:
            try:
                body = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(body, dict):
                yield body


class Ledger:
    """One compact row per decision, in decision order: what the quality is computed from."""

    def __init__(self, truth: Truth | None = None) -> None:
        self.truth = truth
        self.cards: dict[str, int] = {}
        self.card = array("q")
        self.ts = array("d")
        self.score = array("d")
        self.outcome = array("b")
        self.shadow = array("b")
        self.fraud = array("b")
        self.triggers: Counter[str] = Counter()
        #: card -> when it became known compromised (its earliest fraud label's ts)
        self.known: dict[int, float] = {}

    def add(self, decision: Decision, shadow: Decision | None = None) -> None:
        """Record one decision (and the shadow policy's on the same transaction)."""
        card = self.cards.setdefault(decision.customer_id, len(self.cards))
        self.card.append(card)
        self.ts.append(decision.ts)
        self.score.append(decision.fraud_score)
        self.outcome.append(_CODE[decision.outcome])
        self.shadow.append(_NONE if shadow is None else _CODE[shadow.outcome])
        self.triggers.update(decision.triggers)
        known = None if self.truth is None else self.truth.frauds.get(decision.tx_id)
        self.fraud.append(known is not None)
        if known is not None and known < self.known.get(card, math.inf):
            self.known[card] = known

    def __len__(self) -> int:
        return len(self.card)


@dataclass(frozen=True)
class Outcomes:
    """What one policy's outcomes did, against the truth."""

    decisions: int
    by_outcome: dict[str, int]
    alerts: int
    alert_rate: float
    frauds: int
    frauds_caught: int
    good_declined: int
    good_customers_blocked: int

    @classmethod
    def of(cls, outcome: np.ndarray, fraud: np.ndarray, card: np.ndarray) -> Outcomes:
        """Count ``outcome`` codes (``OUTCOMES`` indices) against ``fraud``."""
        alerts = outcome != _CODE["approve"]
        good_declined = (outcome == _DECLINE) & ~fraud
        counts = np.bincount(outcome, minlength=len(OUTCOMES))
        return cls(
            decisions=len(outcome),
            by_outcome={name: int(n) for name, n in zip(OUTCOMES, counts, strict=True)},
            alerts=int(alerts.sum()),
            alert_rate=float(alerts.mean()) if len(outcome) else math.nan,
            frauds=int(fraud.sum()),
            frauds_caught=int((alerts & fraud).sum()),
            good_declined=int(good_declined.sum()),
            good_customers_blocked=len(np.unique(card[good_declined])),
        )


@dataclass(frozen=True)
class Quality:
    """The quality of a backtest (see the module docstring for the protocol)."""

    transactions: int
    frauds: int
    days: int
    evaluated: int
    roc_auc: float
    average_precision: float
    card_precision: float
    card_precision_per_day: list[float]
    k: int
    roc_auc_all: float
    average_precision_all: float
    outcomes: Outcomes
    triggers: dict[str, int]
    shadow: Outcomes | None = None
    changed: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (NaN as ``None``)."""
        body: dict[str, Any] = _finite(asdict(self))
        return body


def quality(ledger: Ledger, *, k: int = 100, skip_days: int = 0) -> Quality:
    """The quality of the decisions in ``ledger``.

    Parameters
    ----------
    k
        Cards investigated per day (card precision@k).
    skip_days
        Days left out at the start (a warm-up: labels arrive only after their delay).
    """
    card = _column(ledger.card, np.int64)
    ts = _column(ledger.ts, np.float64)
    day = np.floor(ts / DAY_S).astype(np.int64)
    keep = day >= (day.min() + skip_days if len(day) else 0)
    card, day = card[keep], day[keep]
    score = _column(ledger.score, np.float64)[keep]
    fraud = _column(ledger.fraud, np.int8)[keep].astype(bool)
    outcome = _column(ledger.outcome, np.int8)[keep].astype(np.int64)
    shadow = _column(ledger.shadow, np.int8)[keep].astype(np.int64)

    known_at = np.full(len(ledger.cards), np.inf)
    for known_card, known_ts in ledger.known.items():
        known_at[known_card] = known_ts
    fresh = known_at[card] >= day * DAY_S if len(card) else np.zeros(0, bool)
    cp, per_day = (
        card_precision_at_k(day[fresh], card[fresh], fraud[fresh], score[fresh], k)
        if fresh.any()
        else (math.nan, [])
    )
    changed: Counter[str] = Counter()
    has_shadow = bool(len(shadow)) and bool((shadow >= 0).all())
    if has_shadow:
        moved = np.flatnonzero(shadow != outcome)
        pairs = Counter(zip(outcome[moved].tolist(), shadow[moved].tolist(), strict=True))
        changed.update({f"{OUTCOMES[a]}->{OUTCOMES[b]}": n for (a, b), n in pairs.items()})
    return Quality(
        transactions=len(card),
        frauds=int(fraud.sum()),
        days=len(np.unique(day)),
        evaluated=int(fresh.sum()),
        roc_auc=_metric(roc_auc, fraud[fresh], score[fresh]),
        average_precision=_metric(average_precision, fraud[fresh], score[fresh]),
        card_precision=cp,
        card_precision_per_day=per_day,
        k=k,
        roc_auc_all=_metric(roc_auc, fraud, score),
        average_precision_all=_metric(average_precision, fraud, score),
        outcomes=Outcomes.of(outcome, fraud, card),
        triggers=dict(ledger.triggers.most_common()),
        shadow=Outcomes.of(shadow, fraud, card) if has_shadow else None,
        changed=dict(changed.most_common()),
    )


def _column(values: array[Any], dtype: type[np.generic]) -> np.ndarray:
    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype)


def _metric(metric: Any, y: np.ndarray, score: np.ndarray) -> float:
    return float(metric(y, score)) if len(y) else math.nan


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _share(part: int, whole: int) -> str:
    return f"{part:,} ({part / whole:.2%})" if whole else f"{part:,}"


def report_lines(q: Quality, *, with_truth: bool = True) -> list[str]:
    """The quality as short, aligned lines of text (what ``verdict backtest`` prints)."""
    lines: list[str] = []
    o = q.outcomes
    if with_truth:
        lines += [
            f"{'transactions':<26}{q.transactions:,} over {q.days} days, "
            f"frauds {_share(q.frauds, q.transactions)}",
            f"{'evaluated':<26}{q.evaluated:,} (cards known compromised left out)",
            f"{'ROC AUC':<26}{_number(q.roc_auc)}   (all transactions {_number(q.roc_auc_all)})",
            f"{'average precision':<26}{_number(q.average_precision)}   "
            f"(all transactions {_number(q.average_precision_all)})",
            f"{f'card precision@{q.k}':<26}{_number(q.card_precision)}   "
            f"(mean of {len(q.card_precision_per_day)} days)",
        ]
    else:
        lines.append(f"{'transactions':<26}{q.transactions:,} over {q.days} days")
    lines.append(f"{'alert rate':<26}{_number(o.alert_rate)}   ({o.alerts:,} alerts)")
    lines.append(f"{'outcomes':<26}" + ", ".join(f"{k} {v:,}" for k, v in o.by_outcome.items()))
    if with_truth:
        lines.append(f"{'frauds caught':<26}{_share(o.frauds_caught, o.frauds)}")
        lines.append(
            f"{'good declined':<26}{o.good_declined:,} transactions, "
            f"{o.good_customers_blocked:,} customers"
        )
    triggers = ", ".join(f"{code} {n:,}" for code, n in q.triggers.items()) or "none"
    lines.append(f"{'triggers':<26}{triggers}")
    if q.shadow is not None:
        lines += _shadow_lines(o, q.shadow, q.changed, with_truth)
    return lines


def _shadow_lines(o: Outcomes, s: Outcomes, changed: dict[str, int], truth: bool) -> list[str]:
    def row(name: str, primary: int, shadow: int) -> str:
        return f"  {name:<24}{primary:>12,}{shadow:>12,}{shadow - primary:>+12,}"

    lines = [
        "shadow policy: how the outcomes would differ",
        f"  {'':<24}{'policy':>12}{'shadow':>12}{'difference':>12}",
        row("alerts", o.alerts, s.alerts),
    ]
    lines += [row(name, o.by_outcome[name], s.by_outcome[name]) for name in OUTCOMES[1:]]
    if truth:
        lines += [
            row("frauds caught", o.frauds_caught, s.frauds_caught),
            row("good declined", o.good_declined, s.good_declined),
            row("good customers blocked", o.good_customers_blocked, s.good_customers_blocked),
        ]
    moves = ", ".join(f"{pair} {n:,}" for pair, n in changed.items()) or "none"
    lines.append(f"  {'changed outcomes':<24}{moves}")
    return lines
