"""The feature store in the process: same semantics as Redis, for unit tests and fast backtests.

Every entity keeps its own dedupe record per transaction (its part of the feature snapshot,
filed under the event-time day of the transaction) exactly as the Redis scripts do, so a
repeated ``tx_id`` is recognised the same way by both stores. Where Redis expires dedupe
records and index keys a retention after writing them (wall clock), this store forgets them a
retention after the event-time day on which it wrote them; entities are never dropped (an idle
one starts afresh on its next transaction, as in Redis).

>>> from events.records import Transaction
>>> store = InMemoryFeatureStore()
>>> tx = Transaction(tx_id="t1", ts=1772362800, customer_id="c42", amount=12.5, terminal_id="T1")
>>> store.update_and_get(tx)["cust_count_1d"], store.update_and_get(tx)["term_count_1d"]
(1.0, 1.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from events.metrics import Metrics
from events.records import CustomerProfile, Label, Transaction
from state.customer import CustomerLedger, Profile
from state.features import (
    EMPTY_DEVICE,
    EMPTY_TERMINAL,
    CustomerPart,
    DevicePart,
    TerminalPart,
    live_view,
    vector,
)
from state.inputs import Calendar, PreparedTx, prepare
from state.settings import StateSettings
from state.store import (
    APPLIED,
    DUPLICATE,
    LABEL_OUTCOMES,
    LATE,
    MISSING,
    REPEATED,
    STALE,
    TOO_LATE,
    Entity,
)
from state.terminal import DeviceLedger, TerminalLedger
from state.windows import DAY, Retention

Part = CustomerPart | TerminalPart | DevicePart


@dataclass(slots=True)
class _Record:
    """One entity's dedupe record of one transaction: its part, and the latest label."""

    part: Part
    label: int = 0  # 0 none, 1 fraud, 2 not fraud
    label_ts: int = 0


@dataclass(frozen=True, slots=True)
class _Index:
    """Where the parts of a transaction's snapshot live, and its own features."""

    customer_id: str
    terminal_id: str | None
    device_id: str | None
    ts: int
    features: dict[str, float]


def label_outcome(record: _Record, fraud: bool, label_ts: int) -> int:
    """Apply a label to a record: the latest ``ts`` wins, a fraud verdict wins a tie."""
    verdict = 1 if fraud else 2
    if record.label:
        if label_ts < record.label_ts or (label_ts == record.label_ts and not fraud):
            if record.label == verdict:
                return REPEATED
            return STALE
        if record.label == verdict:
            record.label_ts = label_ts
            return REPEATED
    record.label, record.label_ts = verdict, label_ts
    return APPLIED


class InMemoryFeatureStore:
    """A :class:`~state.store.FeatureStore` in plain Python dictionaries.

    Parameters
    ----------
    settings
        Retention, margin, calendar; defaults when omitted.
    metrics
        Where late and duplicate transactions and ignored labels are counted (optional).
    """

    name: Final = "memory"

    def __init__(self, settings: StateSettings | None = None, metrics: Metrics | None = None):
        self.settings = settings or StateSettings()
        self.metrics = metrics
        self.retention = Retention.from_settings(self.settings)
        self.calendar = Calendar(self.settings)
        self.customers: dict[str, CustomerLedger] = {}
        self.terminals: dict[str, TerminalLedger] = {}
        self.devices: dict[str, DeviceLedger] = {}
        self.profiles: dict[str, Profile] = {}
        self._records: dict[tuple[str, str, int, str], _Record] = {}
        self._index: dict[str, _Index] = {}
        # what to forget, by the latest event-time day when it was written (Redis: TTL)
        self._written: dict[int, list[tuple[str, str, int, str]]] = {}
        self._latest_day = 0

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        """Record one transaction; return its features (see :class:`~state.store.FeatureStore`)."""
        started = time.perf_counter()
        features = self._update(prepare(tx, self.calendar))
        self._observe("update", started)
        return features

    def update_and_get_many(self, txs: Sequence[Transaction]) -> list[dict[str, float]]:
        """:meth:`update_and_get` for each transaction, in order."""
        started = time.perf_counter()
        out = [self._update(prepare(tx, self.calendar)) for tx in txs]
        self._observe("update_many", started)
        return out

    def get(self, entity: Entity, entity_id: str) -> dict[str, float]:
        """The live view of one entity; an unknown one reads as empty."""
        if entity == "customer":
            ledger = self.customers.get(entity_id) or self._customer_ledger()
            return live_view(entity, ledger.process(None, self.profiles.get(entity_id))[1])
        if entity == "terminal":
            terminal = self.terminals.get(entity_id) or self._terminal_ledger()
            return live_view(entity, terminal.process(None)[1])
        device = self.devices.get(entity_id) or self._device_ledger()
        return live_view(entity, device.process(None)[1])

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember home country and consent; an older profile (by ``ts``) is ignored."""
        ts = math.floor(profile.ts) if profile.ts is not None else 0
        known = self.profiles.get(profile.customer_id)
        if known is None or ts >= known.ts:
            self.profiles[profile.customer_id] = Profile(
                profile.home_country, profile.marketing_consent, ts
            )

    def learn_label(self, label: Label) -> dict[str, float] | None:
        """Apply a label to the fraud counts; the snapshot when the label is news, else None."""
        return self.snapshot(label.tx_id) if self.apply_label(label) else None

    def apply_label(self, label: Label) -> bool:
        """:meth:`learn_label` without building the snapshot: whether it would return one
        (the label is news and the decision's records are all still here)."""
        index = self._index.get(label.tx_id)
        if index is None:
            self._ignored("unknown")
            return False
        label_ts = math.floor(label.ts)
        if label_ts - index.ts > self.settings.label_horizon_s:
            self._ignored("expired")
            return False
        outcomes: list[int] = []
        day = index.ts // DAY
        entities: tuple[tuple[str, str | None, dict[str, Any]], ...] = (
            ("customer", index.customer_id, self.customers),
            ("terminal", index.terminal_id, self.terminals),
            ("device", index.device_id, self.devices),
        )
        for kind, entity_id, ledgers in entities:
            if entity_id is None:
                continue
            record = self._records.get((kind, entity_id, day, label.tx_id))
            if record is None:
                outcomes.append(MISSING)
                continue
            was_fraud = record.label == 1
            outcome = label_outcome(record, label.is_fraud, label_ts)
            if outcome == APPLIED and was_fraud != label.is_fraud:
                ledger = ledgers.get(entity_id)
                if ledger is not None:
                    ledger.label(index.ts, label.is_fraud)
            outcomes.append(outcome)
        if outcomes[0] != APPLIED:
            self._ignored(LABEL_OUTCOMES[outcomes[0]])
            return False
        return MISSING not in outcomes  # snapshot() needs every record the decision wrote

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        """:meth:`learn_label` of each, in order, as they are taken."""
        return (self.learn_label(label) for label in labels)

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        """The features first returned for ``tx_id``, or ``None`` when unknown or expired."""
        index = self._index.get(tx_id)
        if index is None:
            return None
        day = index.ts // DAY
        customer = self._records.get(("customer", index.customer_id, day, tx_id))
        terminal = self._records.get(("terminal", index.terminal_id or "", day, tx_id))
        device = self._records.get(("device", index.device_id or "", day, tx_id))
        if customer is None or (index.terminal_id and terminal is None):
            return None
        if index.device_id and device is None:
            return None
        return vector(
            index.features,
            customer.part,  # type: ignore[arg-type]
            terminal.part if terminal else EMPTY_TERMINAL,  # type: ignore[arg-type]
            device.part if device else EMPTY_DEVICE,  # type: ignore[arg-type]
        )

    def _update(self, p: PreparedTx) -> dict[str, float]:
        self._forget_old(p.day)
        known = self._index.get(p.tx_id)
        if known is None:
            self._index[p.tx_id] = _Index(
                p.customer_id, p.terminal_id, p.device_id, p.ts, p.features
            )
            self._remember(("index", "", 0, p.tx_id))
        customer = self.customers.get(p.customer_id)
        if customer is None:
            customer = self.customers[p.customer_id] = self._customer_ledger()
        profile = self.profiles.get(p.customer_id)
        status, customer_part = self._once(
            "customer", p.customer_id, p, lambda: customer.process(p, profile)
        )
        terminal_part: TerminalPart = EMPTY_TERMINAL
        if p.terminal_id is not None:
            terminal = self.terminals.get(p.terminal_id)
            if terminal is None:
                terminal = self.terminals[p.terminal_id] = self._terminal_ledger()
            terminal_part = self._once(  # type: ignore[assignment]
                "terminal", p.terminal_id, p, lambda: terminal.process(p)
            )[1]
        device_part: DevicePart = EMPTY_DEVICE
        if p.device_id is not None:
            device = self.devices.get(p.device_id)
            if device is None:
                device = self.devices[p.device_id] = self._device_ledger()
            device_part = self._once("device", p.device_id, p, lambda: device.process(p))[1]  # type: ignore[assignment]
        tx_features = known.features if status == DUPLICATE and known is not None else p.features
        if status == DUPLICATE and self.metrics is not None:
            self.metrics.duplicate_events.inc()
        return vector(tx_features, customer_part, terminal_part, device_part)  # type: ignore[arg-type]

    def _once(
        self, kind: str, entity_id: str, p: PreparedTx, process: Callable[[], tuple[int, Part]]
    ) -> tuple[int, Part]:
        key = (kind, entity_id, p.day, p.tx_id)
        record = self._records.get(key)
        if record is not None:
            return DUPLICATE, record.part
        status, part = process()
        self._records[key] = _Record(part)
        self._remember(key)
        if self.metrics is not None:
            if status == TOO_LATE:
                self.metrics.late_events.labels(entity=kind).inc()
            elif status == LATE:
                self.metrics.out_of_order_events.labels(entity=kind).inc()
        return status, part

    def _remember(self, key: tuple[str, str, int, str]) -> None:
        self._written.setdefault(self._latest_day, []).append(key)

    def _forget_old(self, day: int) -> None:
        """Forget records and index entries written more than the retention ago (event time)."""
        if day <= self._latest_day:
            return
        self._latest_day = day
        horizon = day - self.retention.snapshot_s // DAY
        for old in [d for d in self._written if d < horizon]:
            for key in self._written.pop(old):
                if key[0] == "index":
                    self._index.pop(key[3], None)
                else:
                    self._records.pop(key, None)

    def _customer_ledger(self) -> CustomerLedger:
        return CustomerLedger(self.retention, self.settings.idle_expiry_s)

    def _terminal_ledger(self) -> TerminalLedger:
        return TerminalLedger(
            self.retention, self.settings.idle_expiry_s, self.settings.terminal_bucket_s
        )

    def _device_ledger(self) -> DeviceLedger:
        return DeviceLedger(self.retention, self.settings.idle_expiry_s)

    def _ignored(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.labels_ignored.labels(reason=reason).inc()

    def _observe(self, op: str, started: float) -> None:
        if self.metrics is not None:
            elapsed = time.perf_counter() - started
            self.metrics.feature_store_latency.labels(store=self.name, op=op).observe(elapsed)
