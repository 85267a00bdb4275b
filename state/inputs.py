"""What a feature store needs from one transaction, computed once, the same for every store.

A :class:`PreparedTx` holds the transaction in the units the state works in: whole seconds,
whole cents, the calendar month in the bank's time zone, 32-bit hashes of the terminal, device
and customer identifiers (what the customer and device remember of them), and the
transaction's own features. Both stores are fed the same :class:`PreparedTx`, so time zones and
rounding are decided in one place, in Python.

>>> from events.records import Transaction
>>> calendar = Calendar(StateSettings())
>>> tx = Transaction(tx_id="t1", ts=1772362800.5, customer_id="c42", amount=129.95)
>>> p = prepare(tx, calendar)
>>> p.ts, p.cents, p.debit, p.month, p.features["is_weekend"]
(1772362800, 12995, True, 674, 1.0)
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from events.records import Transaction
from state.settings import StateSettings
from state.windows import DAY, MAX_CENTS

_HASH: Final = struct.Struct("<I")
#: Calendar months are numbered from January 1970 (month 0).
EPOCH_YEAR: Final = 1970


def id_hash(identifier: str) -> bytes:
    """The 4-byte key an identifier is remembered by inside another entity (CRC-32, LE).

    Two of one customer's terminals colliding needs ~2^16 of them; a collision would merge two
    terminals in the distinct counts, never break a window.
    """
    return _HASH.pack(zlib.crc32(identifier.encode()))


def to_cents(amount: float) -> int:
    """Whole cents of an amount (half to even), clamped to 48 bits for window sums."""
    return min(round(amount * 100), MAX_CENTS)


@dataclass(frozen=True, slots=True)
class LocalTime:
    """What the bank's calendar says about one moment."""

    month: int
    month_next: int
    is_night: bool
    is_weekend: bool


class Calendar:
    """Calendar months, night and weekend in the configured time zone.

    Cached per quarter hour of event time: every zone's offset is a multiple of 15 minutes, so
    everything a :class:`LocalTime` says is constant within one.
    """

    def __init__(self, settings: StateSettings) -> None:
        self.zone = ZoneInfo(settings.timezone)
        self.night_end_hour = settings.night_end_hour
        self._month_next: dict[tuple[int, int], int] = {}
        self._quarters: dict[int, LocalTime] = {}

    def at(self, ts: float) -> LocalTime:
        """The local calendar at epoch seconds ``ts``."""
        quarter = int(ts // 900)
        local_time = self._quarters.get(quarter)
        if local_time is None:
            if len(self._quarters) > 100_000:
                self._quarters.clear()
            local_time = self._quarters[quarter] = self._compute(quarter * 900)
        return local_time

    def _compute(self, ts: float) -> LocalTime:
        local = datetime.fromtimestamp(ts, self.zone)
        key = (local.year, local.month)
        month_next = self._month_next.get(key)
        if month_next is None:
            year, month = (
                (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            )
            month_next = int(datetime(year, month, 1, tzinfo=self.zone).timestamp())
            self._month_next[key] = month_next
        return LocalTime(
            month=(local.year - EPOCH_YEAR) * 12 + local.month - 1,
            month_next=month_next,
            is_night=local.hour < self.night_end_hour,
            is_weekend=local.weekday() >= 5,
        )


@dataclass(slots=True)
class PreparedTx:
    """One transaction in the state's units. ``None`` / ``b""`` mark absent optional fields."""

    tx_id: str
    customer_id: str
    terminal_id: str | None
    device_id: str | None
    ts: int
    day: int
    debit: bool
    cents: int
    month: int
    month_next: int
    country: str
    terminal_hash: bytes
    device_hash: bytes
    customer_hash: bytes
    features: dict[str, float]


def transaction_features(tx: Transaction, local: LocalTime) -> dict[str, float]:
    """The transaction's own features: amount, direction, night, weekend, ``attr_<name>``."""
    features = {
        "amount": tx.amount,
        "is_credit": 0.0 if tx.is_debit else 1.0,
        "is_night": 1.0 if local.is_night else 0.0,
        "is_weekend": 1.0 if local.is_weekend else 0.0,
    }
    for name, value in tx.attributes.items():
        features["attr_" + name] = value
    return features


def prepare(tx: Transaction, calendar: Calendar) -> PreparedTx:
    """Turn a validated transaction into what the stores compute with."""
    ts = math.floor(tx.ts)
    local = calendar.at(tx.ts)
    return PreparedTx(
        tx_id=tx.tx_id,
        customer_id=tx.customer_id,
        terminal_id=tx.terminal_id,
        device_id=tx.device_id,
        ts=ts,
        day=ts // DAY,
        debit=tx.is_debit,
        cents=to_cents(tx.amount),
        month=local.month,
        month_next=local.month_next,
        country=tx.country or "",
        terminal_hash=id_hash(tx.terminal_id) if tx.terminal_id else b"",
        device_hash=id_hash(tx.device_id) if tx.device_id else b"",
        customer_hash=id_hash(tx.customer_id),
        features=transaction_features(tx, local),
    )
