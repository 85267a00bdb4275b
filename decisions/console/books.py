"""What the alert console remembers: bounded, in-memory, pseudonymised.

:class:`AlertBook` keeps the newest alerts (deduplicated on ``alert_id``: at-least-once
delivery repeats them) and the analysts' verdicts on them, and tells its subscribers (the
open consoles) what changed. :class:`ActivityBook` keeps each customer's last few decisions
under the customer's pseudonym, for the "recent activity" of an alert; the raw customer id
stays on the server (a label names it so it keys the message and starts the marketing quiet
period), and no method returns it to a browser.

Both are bounded: the oldest alert, and the customer seen least recently, are forgotten first.

>>> book = AlertBook(capacity=2)
>>> book.add({"alert_id": "a1", "tx_id": "t1", "ts": 1.0})
True
>>> book.add({"alert_id": "a1", "tx_id": "t1", "ts": 1.0})  # a repeat changes nothing
False
>>> book.add({"alert_id": "a2", "tx_id": "t2", "ts": 2.0})
True
>>> book.add({"alert_id": "a3", "tx_id": "t3", "ts": 3.0})
True
>>> [a["alert_id"] for a in book.newest(10)]
['a3', 'a2']
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

from decisions.alerts import pseudonym

#: A change the consoles are told about: ``("alerts", [alert, ...])`` or
#: ``("verdict", {"alert_id": ..., "verdict": ...})``.
Change = tuple[str, Any]
Verdict = Literal["fraud", "legitimate"]

#: Customer features shown with the recent activity (none of them identifies anyone).
PROFILE_FEATURES: Final = (
    "cust_count_1d",
    "cust_count_30d",
    "cust_amount_mean_30d",
    "cust_amount_sum_30d",
    "cust_distinct_terminals_30d",
    "cust_distinct_countries_30d",
    "cust_seconds_since_last",
)
#: Changes a slow console may have waiting before it is dropped (it reconnects afresh).
SUBSCRIBER_BACKLOG: Final = 10_000
#: Default bounds of the activity book: decisions kept per customer, customers kept.
PER_CUSTOMER: Final = 20
CUSTOMERS: Final = 20_000


class AlertBook:
    """The newest alerts, deduplicated, with the verdicts analysts gave them.

    Parameters
    ----------
    capacity
        Alerts kept at most (the oldest go first).
    """

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._by_tx: dict[str, str] = {}
        self._verdicts: dict[str, Verdict] = {}
        self._subscribers: set[asyncio.Queue[Change]] = set()

    def __len__(self) -> int:
        return len(self._alerts)

    def add(self, alert: Mapping[str, Any]) -> bool:
        """Keep ``alert`` and tell the subscribers; ``False`` for one already known."""
        alert_id = str(alert["alert_id"])
        if alert_id in self._alerts:
            return False
        kept = dict(alert)
        verdict = self._verdicts.get(alert_id)
        if verdict is not None:
            kept["verdict"] = verdict
        self._alerts[alert_id] = kept
        self._by_tx[str(kept["tx_id"])] = alert_id
        while len(self._alerts) > self.capacity:
            _, old = self._alerts.popitem(last=False)
            self._by_tx.pop(str(old["tx_id"]), None)
            self._verdicts.pop(str(old["alert_id"]), None)
        self._tell(("alerts", [kept]))
        return True

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """The alert ``alert_id`` (with its verdict, if any), or ``None``."""
        return self._alerts.get(alert_id)

    def newest(self, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` alerts, newest first (by arrival: the order analysts see them)."""
        out: list[dict[str, Any]] = []
        for alert in reversed(self._alerts.values()):
            if len(out) >= limit:
                break
            out.append(alert)
        return out

    def mark(self, tx_id: str, verdict: Verdict) -> str | None:
        """Record an analyst's verdict on the alert of ``tx_id``; its ``alert_id`` or ``None``.

        A verdict already recorded is not announced again.
        """
        alert_id = self._by_tx.get(tx_id)
        if alert_id is None:
            return None
        alert = self._alerts[alert_id]
        if alert.get("verdict") != verdict:
            alert["verdict"] = verdict
            self._verdicts[alert_id] = verdict
            self._tell(("verdict", {"alert_id": alert_id, "verdict": verdict}))
        return alert_id

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Change]]:
        """A queue of the changes from now on, for as long as the ``with`` block lasts."""
        queue: asyncio.Queue[Change] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        """Consoles listening right now."""
        return len(self._subscribers)

    def _tell(self, change: Change) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:  # too slow: its backlog goes, it starts over afresh
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(("reset", None))


class ActivityBook:
    """Each customer's last decisions, under the customer's pseudonym.

    A decision is kept as a flat tuple of numbers and interned strings (about 300 bytes, and
    invisible to the garbage collector), with only the newest profile per customer: at the
    default bounds, 400,000 decisions held as dicts took ~600 MB and made the worker's memory
    climb for as long as the book was filling (a soak saw +130 MB in five minutes).

    Parameters
    ----------
    key
        The pseudonym key (``api.pseudonym_key``): the same as the alerts', so an alert's
        ``customer_ref`` finds its customer here.
    per_customer
        Decisions kept per customer.
    customers
        Customers kept at most (the one seen least recently goes first).
    """

    def __init__(
        self, key: bytes, per_customer: int = PER_CUSTOMER, customers: int = CUSTOMERS
    ) -> None:
        self._key = key
        self.per_customer = per_customer
        self.customers = customers
        self._recent: OrderedDict[str, deque[_Entry]] = OrderedDict()
        self._profiles: dict[str, dict[str, float]] = {}
        self._ids: dict[str, str] = {}

    def add(self, decision: Mapping[str, Any]) -> str:
        """Remember one decision (a ``decisions`` message); the customer's pseudonym."""
        customer_id = str(decision["customer_id"])
        ref = pseudonym(customer_id, self._key)
        recent = self._recent.get(ref)
        if recent is None:
            recent = self._recent[ref] = deque(maxlen=self.per_customer)
            self._ids[ref] = customer_id
            while len(self._recent) > self.customers:
                old, _ = self._recent.popitem(last=False)
                self._ids.pop(old, None)
                self._profiles.pop(old, None)
        else:
            self._recent.move_to_end(ref)
        tx_id = str(decision["tx_id"])
        if all(entry[0] != tx_id for entry in recent):  # a redelivery is not news
            features: Mapping[str, float] = decision.get("features") or {}
            recent.append(_entry(tx_id, decision, features))
            self._profiles[ref] = {n: features[n] for n in PROFILE_FEATURES if n in features}
        return ref

    def knows(self, customer_ref: str, tx_id: str) -> bool:
        """Whether the decision on ``tx_id`` is among the customer's recent ones."""
        return any(entry[0] == tx_id for entry in self._recent.get(customer_ref, ()))

    def recent(self, customer_ref: str) -> dict[str, Any]:
        """The customer's recent decisions (newest first) and profile, without their id."""
        entries = reversed(self._recent.get(customer_ref, ()))
        decisions = [
            dict(zip(ENTRY_FIELDS, (*entry[:6], list(entry[6]), *entry[7:]), strict=True))
            for entry in entries
        ]
        return {
            "customer_ref": customer_ref,
            "known": bool(decisions),
            "profile": dict(self._profiles.get(customer_ref, {})),
            "decisions": decisions,
        }

    def customer_id(self, customer_ref: str) -> str | None:
        """The raw id behind a pseudonym, for the server's own use (labels); never sent."""
        return self._ids.get(customer_ref)


#: What the activity shows of one decision: no customer id, card or account data.
ENTRY_FIELDS: Final = (
    "tx_id", "ts", "amount", "outcome", "fraud_score", "anomaly_score", "reasons", "foreign",
    "new_device", "night",
)  # fmt: skip
_Entry = tuple[Any, ...]


def _entry(tx_id: str, decision: Mapping[str, Any], features: Mapping[str, float]) -> _Entry:
    """One decision as a flat tuple in :data:`ENTRY_FIELDS` order (strings that repeat are
    interned: outcomes and reason codes are shared, not copied per decision)."""
    reasons = decision.get("reasons") or []
    codes = tuple(sys.intern(str(r.get("code", ""))) for r in reasons if isinstance(r, Mapping))[:4]
    outcome = decision.get("outcome")
    return (
        tx_id,
        decision.get("ts"),
        features.get("amount"),
        sys.intern(outcome) if isinstance(outcome, str) else outcome,
        decision.get("fraud_score"),
        decision.get("anomaly_score"),
        codes,
        bool(features.get("cust_foreign", 0.0)),
        bool(features.get("cust_new_device", 0.0)),
        bool(features.get("is_night", 0.0)),
    )
