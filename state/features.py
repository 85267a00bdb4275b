"""Feature names, and the one function that turns an entity's raw counters into features.

Each entity (customer, terminal, device) answers with a *part*: a fixed tuple of integer
counters and sums in cents, the same bytes from the Lua scripts and the in-memory store. This
module is the only place where parts become the named, flat ``dict[str, float]`` of DESIGN.md
(means, rates, z-score, cents to currency units), so both stores give identical features.
docs/features.md describes every name.
"""

from __future__ import annotations

import math
import struct
from typing import Final

from state.inputs import to_cents

#: Customer part, Python ``struct`` layout. The Lua scripts write the same bytes ("<i4i4...").
CUSTOMER_PART: Final = struct.Struct("<iiiiddddiiiBdidddiiI")
#: Terminal part: counts 1d/7d/30d, fraud 7d/30d, latest event time.
TERMINAL_PART: Final = struct.Struct("<iiiiiI")
#: Device part: distinct customers 1d, fraud 30d, latest event time.
DEVICE_PART: Final = struct.Struct("<iiI")

CustomerPart = tuple[
    int, int, int, int, float, float, float, float, int, int, int, int, float, int, float,
    float, float, int, int, int,
]  # fmt: skip
TerminalPart = tuple[int, int, int, int, int, int]
DevicePart = tuple[int, int, int]

# bits of the customer part's flags byte
FLAG_NEW_DEVICE: Final = 1
FLAG_NEW_COUNTRY: Final = 2
FLAG_FOREIGN: Final = 4
FLAG_CONSENT: Final = 8

EMPTY_CUSTOMER: Final[CustomerPart] = (
    0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, -1, 0, 0, 0, 0.0, 0, 0.0, 0.0, 0.0, 0, 0, 0,
)  # fmt: skip
EMPTY_TERMINAL: Final[TerminalPart] = (0, 0, 0, 0, 0, 0)
EMPTY_DEVICE: Final[DevicePart] = (0, 0, 0)

#: Customer features of a transaction, in order.
CUSTOMER_FEATURES: Final = (
    "cust_count_1h", "cust_count_1d", "cust_count_7d", "cust_count_30d",
    "cust_amount_sum_1d", "cust_amount_sum_7d", "cust_amount_sum_30d",
    "cust_amount_mean_7d", "cust_amount_mean_30d", "cust_amount_zscore_30d",
    "cust_seconds_since_last", "cust_distinct_terminals_30d", "cust_distinct_countries_30d",
    "cust_new_device", "cust_new_country_90d", "cust_foreign", "cust_marketing_consent",
    "cust_inflow_sum_90d", "cust_inflow_count_90d",
    "cust_net_deposit_month_0", "cust_net_deposit_month_1", "cust_net_deposit_month_2",
    "cust_fraud_confirmed_7d", "cust_fraud_confirmed_30d",
)  # fmt: skip
TERMINAL_FEATURES: Final = (
    "term_count_1d", "term_count_7d", "term_count_30d",
    "term_fraud_count_7d", "term_fraud_count_30d", "term_fraud_rate_7d", "term_fraud_rate_30d",
)  # fmt: skip
DEVICE_FEATURES: Final = ("device_distinct_customers_1d", "device_fraud_count_30d")
TRANSACTION_FEATURES: Final = ("amount", "is_credit", "is_night", "is_weekend")
#: Prefix of the features made from a transaction's numeric ``attributes``.
ATTRIBUTE_PREFIX: Final = "attr_"
#: Features that only make sense for a transaction, absent from the live view of ``get``.
TRANSACTION_ONLY: Final = frozenset(
    {
        "cust_amount_zscore_30d",
        "cust_seconds_since_last",
        "cust_new_device",
        "cust_new_country_90d",
        "cust_foreign",
    }
)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def zscore(cents: int, count: int, total: float, squares: float) -> float:
    """How many standard deviations ``cents`` lies from the window's mean (0 if undefined).

    >>> round(zscore(300, 3, 600.0, 140000.0), 6)  # 100, 200, 300: mean 200, sd 81.6
    1.224745
    """
    if count < 2:
        return 0.0
    mean = total / count
    variance = squares / count - mean * mean
    if variance <= 0.0:
        return 0.0
    return (cents - mean) / math.sqrt(variance)


def customer_features(part: CustomerPart, cents: int = 0, debit: bool = False) -> dict[str, float]:
    """Named customer features of a part; ``cents``/``debit`` of the transaction for the z-score."""
    (c1h, c1d, c7d, c30d, s1d, s7d, s30d, q30d, since, terminals, countries, flags,
     inflow, inflow_n, m0, m1, m2, fraud7, fraud30, _latest) = part  # fmt: skip
    return {
        "cust_count_1h": float(c1h),
        "cust_count_1d": float(c1d),
        "cust_count_7d": float(c7d),
        "cust_count_30d": float(c30d),
        "cust_amount_sum_1d": s1d / 100,
        "cust_amount_sum_7d": s7d / 100,
        "cust_amount_sum_30d": s30d / 100,
        "cust_amount_mean_7d": _ratio(s7d, c7d) / 100,
        "cust_amount_mean_30d": _ratio(s30d, c30d) / 100,
        "cust_amount_zscore_30d": zscore(cents, c30d, s30d, q30d) if debit else 0.0,
        "cust_seconds_since_last": float(since),
        "cust_distinct_terminals_30d": float(terminals),
        "cust_distinct_countries_30d": float(countries),
        "cust_new_device": 1.0 if flags & FLAG_NEW_DEVICE else 0.0,
        "cust_new_country_90d": 1.0 if flags & FLAG_NEW_COUNTRY else 0.0,
        "cust_foreign": 1.0 if flags & FLAG_FOREIGN else 0.0,
        "cust_marketing_consent": 1.0 if flags & FLAG_CONSENT else 0.0,
        "cust_inflow_sum_90d": inflow / 100,
        "cust_inflow_count_90d": float(inflow_n),
        "cust_net_deposit_month_0": m0 / 100,
        "cust_net_deposit_month_1": m1 / 100,
        "cust_net_deposit_month_2": m2 / 100,
        "cust_fraud_confirmed_7d": float(fraud7),
        "cust_fraud_confirmed_30d": float(fraud30),
    }


def terminal_features(part: TerminalPart) -> dict[str, float]:
    """Named terminal features of a part."""
    c1d, c7d, c30d, fraud7, fraud30, _latest = part
    return {
        "term_count_1d": float(c1d),
        "term_count_7d": float(c7d),
        "term_count_30d": float(c30d),
        "term_fraud_count_7d": float(fraud7),
        "term_fraud_count_30d": float(fraud30),
        "term_fraud_rate_7d": _ratio(fraud7, c7d),
        "term_fraud_rate_30d": _ratio(fraud30, c30d),
    }


def device_features(part: DevicePart) -> dict[str, float]:
    """Named device features of a part."""
    customers, fraud30, _latest = part
    return {
        "device_distinct_customers_1d": float(customers),
        "device_fraud_count_30d": float(fraud30),
    }


def assemble(
    tx_features: dict[str, float],
    customer: CustomerPart,
    terminal: TerminalPart,
    device: DevicePart,
    cents: int,
    debit: bool,
) -> dict[str, float]:
    """The full, flat feature vector of one transaction: always the same keys, plus ``attr_*``.

    A transaction without a terminal or device gets zeros for those features.
    """
    features = dict(tx_features)
    features.update(customer_features(customer, cents, debit))
    features.update(terminal_features(terminal))
    features.update(device_features(device))
    return features


def vector(
    tx_features: dict[str, float],
    customer: CustomerPart,
    terminal: TerminalPart,
    device: DevicePart,
) -> dict[str, float]:
    """:func:`assemble` with the z-score's amount and direction read from ``tx_features``.

    On a repeat the stores pass the first delivery's own features, so the whole vector is the
    first one's.
    """
    cents = to_cents(tx_features["amount"])
    debit = tx_features["is_credit"] == 0.0
    return assemble(tx_features, customer, terminal, device, cents, debit)


def live_view(entity: str, part: CustomerPart | TerminalPart | DevicePart) -> dict[str, float]:
    """The live features of one entity (``get``): its windows as of its latest event time.

    ``<entity>_latest_ts`` is that time (0 for an entity never seen or expired).
    """
    if entity == "customer":
        features = customer_features(part)  # type: ignore[arg-type]
        for name in TRANSACTION_ONLY:
            del features[name]
        features["cust_latest_ts"] = float(part[-1])
    elif entity == "terminal":
        features = terminal_features(part)  # type: ignore[arg-type]
        features["term_latest_ts"] = float(part[-1])
    elif entity == "device":
        features = device_features(part)  # type: ignore[arg-type]
        features["device_latest_ts"] = float(part[-1])
    else:
        raise ValueError(f"unknown entity {entity!r}: customer, terminal or device")
    return features
