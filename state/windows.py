"""Window arithmetic on event time: the windows, how long each thing is kept, bucket shares.

Every window is trailing and closed on the right, ``(ts - W, ts]``: it holds the transactions
whose event time ``t`` satisfies ``ts - W < t <= ts``, the current one included. Times are whole
epoch seconds (``floor`` of the event's ``ts``), so window edges are exact integer comparisons
and the Redis scripts and the in-memory store agree to the bit.

>>> in_window(t=101, ts=3700, width=HOUR), in_window(t=100, ts=3700, width=HOUR)
(True, False)
>>> later_than(count=3, lo=0, hi=100, edge=50)  # three events spread over [0, 100]: one is > 50
1
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from state.settings import StateSettings

HOUR: Final = 3600
DAY: Final = 86_400

#: Customer spending windows (debits only), by feature suffix.
CUSTOMER_DEBIT_WINDOWS: Final = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
#: Customer inflow window (credits only).
CUSTOMER_INFLOW_WINDOW: Final = 90 * DAY
#: Distinct terminals and countries of a customer.
CUSTOMER_DISTINCT_WINDOW: Final = 30 * DAY
#: "New" country or device: not seen in this window before the transaction.
CUSTOMER_NOVELTY_WINDOW: Final = 90 * DAY
#: Confirmed-fraud counts of a customer, by label on its transactions.
CUSTOMER_FRAUD_WINDOWS: Final = {"7d": 7 * DAY, "30d": 30 * DAY}
#: Calendar months of net deposits kept: the current one and three before it.
MONTHS_KEPT: Final = 4
#: Terminal counts; the 1-day window is exact, the longer ones come from buckets.
TERMINAL_WINDOWS: Final = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
#: Terminal fraud-rate windows.
TERMINAL_FRAUD_WINDOWS: Final = {"7d": 7 * DAY, "30d": 30 * DAY}
#: Distinct customers of a device.
DEVICE_CUSTOMER_WINDOW: Final = DAY
#: Confirmed-fraud count of a device.
DEVICE_FRAUD_WINDOW: Final = 30 * DAY

#: Longest window of each entity: a transaction older than the entity's latest minus this
#: (and the late margin) is counted in nothing.
LONGEST_WINDOW: Final = {"customer": 90 * DAY, "terminal": 30 * DAY, "device": 30 * DAY}

#: Amounts are held as whole cents in at most 48 bits (2.8e12 currency units); a larger amount
#: is clamped to this in window sums (the ``amount`` feature itself is never clamped).
MAX_CENTS: Final = 2**48 - 1


def in_window(t: int, ts: int, width: int) -> bool:
    """Whether an event at ``t`` falls in the trailing window ``(ts - width, ts]``."""
    return ts - width < t <= ts


def later_than(count: int, lo: int, hi: int, edge: int) -> int:
    """How many of ``count`` events spread evenly over ``[lo, hi]`` are later than ``edge``.

    A bucket keeps only its count and its first and last event time; this is how much of it
    lies right of a window edge falling inside it. Exact for buckets of one or two events, and
    whenever the edge falls outside ``[lo, hi]``.

    >>> later_than(1, 10, 10, 9), later_than(1, 10, 10, 10)
    (1, 0)
    >>> later_than(2, 0, 10, 0), later_than(2, 0, 10, 9), later_than(2, 0, 10, 10)
    (1, 1, 0)
    """
    if edge < lo:
        return count
    if edge >= hi:
        return 0
    # float division on both sides (Python and Lua) so both round the same way
    return count - 1 - math.floor((edge - lo) * (count - 1) / (hi - lo))


@dataclass(frozen=True, slots=True)
class Retention:
    """How far back (seconds before an entity's latest event) each structure is kept.

    Each is its window plus the late margin, so that a transaction up to ``margin`` late still
    finds every event its own windows need.
    """

    margin: int
    customer_debits: int
    customer_credits: int
    customer_terminals: int
    customer_countries: int
    customer_devices: int
    customer_fraud: int
    terminal_seconds: int
    terminal_buckets: int
    terminal_fraud: int
    device_customers: int
    device_fraud: int
    snapshot_s: int

    @classmethod
    def from_settings(cls, settings: StateSettings) -> Retention:
        """Retention of every structure for these settings."""
        margin = settings.late_margin_s
        longest = max(LONGEST_WINDOW.values())
        return cls(
            margin=margin,
            customer_debits=CUSTOMER_DEBIT_WINDOWS["30d"] + margin,
            customer_credits=CUSTOMER_INFLOW_WINDOW + margin,
            customer_terminals=CUSTOMER_DISTINCT_WINDOW + margin,
            customer_countries=CUSTOMER_NOVELTY_WINDOW + margin,
            customer_devices=CUSTOMER_NOVELTY_WINDOW + margin,
            customer_fraud=CUSTOMER_FRAUD_WINDOWS["30d"] + margin,
            terminal_seconds=DAY + margin,
            terminal_buckets=TERMINAL_WINDOWS["30d"] + margin,
            terminal_fraud=TERMINAL_FRAUD_WINDOWS["30d"] + margin,
            device_customers=DEVICE_CUSTOMER_WINDOW + margin,
            device_fraud=DEVICE_FRAUD_WINDOW + margin,
            # a dedupe record must outlive the longest window, or a very late repeat would count
            snapshot_s=max(settings.label_horizon_s, longest + margin) + DAY,
        )

    def too_late(self, entity: str) -> int:
        """A transaction at or before ``latest - too_late(entity)`` is counted in nothing."""
        return LONGEST_WINDOW[entity] + self.margin
