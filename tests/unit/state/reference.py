"""A naive recomputation of the features from the raw stream, for the stores to be checked by.

It keeps every transaction it has counted and answers each new one by filtering lists: no
pointers, no running sums, no buckets, no retention. It implements the documented semantics
(docs/features.md) for transactions that arrive in event-time order per entity, which is what
the stores promise to match exactly (terminal 7- and 30-day counts within the stated accuracy).
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass, field

from events.records import CustomerProfile, Transaction
from state.inputs import Calendar, PreparedTx, prepare
from state.settings import StateSettings

HOUR, DAY = 3600, 86_400


@dataclass
class _Seen:
    tx: Transaction
    p: PreparedTx


@dataclass
class Reference:
    """Every counted transaction; features by brute force."""

    settings: StateSettings = field(default_factory=StateSettings)
    by_customer: dict[str, list[_Seen]] = field(default_factory=lambda: defaultdict(list))
    terminal_times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_device: dict[str, list[_Seen]] = field(default_factory=lambda: defaultdict(list))
    profiles: dict[str, CustomerProfile] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    first: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.calendar = Calendar(self.settings)

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember a profile (the latest put wins)."""
        self.profiles[profile.customer_id] = profile

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        """The features of ``tx`` given everything counted before it; then count it."""
        if tx.tx_id in self.seen:
            return self.first[tx.tx_id]
        p = prepare(tx, self.calendar)
        features = self._features(tx, p)
        self.seen.add(tx.tx_id)
        self.first[tx.tx_id] = features
        seen = _Seen(tx, p)
        self.by_customer[tx.customer_id].append(seen)
        if tx.terminal_id:
            insort(self.terminal_times[tx.terminal_id], p.ts)
        if tx.device_id:
            self.by_device[tx.device_id].append(seen)
        return features

    def _features(self, tx: Transaction, p: PreparedTx) -> dict[str, float]:
        ts = p.ts
        before = [s for s in self.by_customer[tx.customer_id] if ts - 90 * DAY < s.p.ts <= ts]
        mine = [*before, _Seen(tx, p)]

        def inside(s: _Seen, width: int) -> bool:
            return ts - width < s.p.ts

        out: dict[str, float] = dict(p.features)
        debits = [s for s in mine if s.p.debit and ts - 30 * DAY < s.p.ts]
        for name, width in (("1h", HOUR), ("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
            amounts = [s.tx.amount for s in debits if inside(s, width)]
            out[f"cust_count_{name}"] = float(len(amounts))
            if name != "1h":
                out[f"cust_amount_sum_{name}"] = math.fsum(amounts)
            if name in ("7d", "30d"):
                out[f"cust_amount_mean_{name}"] = (
                    math.fsum(amounts) / len(amounts) if amounts else 0.0
                )
        last30 = [s.tx.amount for s in debits]
        out["cust_amount_zscore_30d"] = _zscore(tx.amount, last30) if tx.is_debit else 0.0
        earlier = [s.p.ts for s in self.by_customer[tx.customer_id] if s.p.ts <= ts]
        out["cust_seconds_since_last"] = float(ts - max(earlier)) if earlier else -1.0
        recent = [s for s in mine if inside(s, 30 * DAY)]
        out["cust_distinct_terminals_30d"] = float(
            len({s.tx.terminal_id for s in recent if s.tx.terminal_id})
        )
        out["cust_distinct_countries_30d"] = float(
            len({s.tx.country for s in recent if s.tx.country})
        )
        novelty = before
        out["cust_new_device"] = float(
            tx.device_id is not None and all(s.tx.device_id != tx.device_id for s in novelty)
        )
        out["cust_new_country_90d"] = float(
            tx.country is not None and all(s.tx.country != tx.country for s in novelty)
        )
        profile = self.profiles.get(tx.customer_id)
        out["cust_foreign"] = float(
            profile is not None and tx.country is not None and tx.country != profile.home_country
        )
        out["cust_marketing_consent"] = float(profile is not None and profile.marketing_consent)
        inflow = [s.tx.amount for s in mine if not s.p.debit]
        out["cust_inflow_sum_90d"] = math.fsum(inflow)
        out["cust_inflow_count_90d"] = float(len(inflow))
        for k in range(3):
            month = p.month - k
            net = [
                (-s.tx.amount if s.p.debit else s.tx.amount)
                for s in self.by_customer[tx.customer_id] + [_Seen(tx, p)]
                if s.p.month == month and s.p.ts <= ts
            ]
            out[f"cust_net_deposit_month_{k}"] = math.fsum(net)
        out["cust_fraud_confirmed_7d"] = 0.0
        out["cust_fraud_confirmed_30d"] = 0.0
        times = self.terminal_times[tx.terminal_id] if tx.terminal_id else []
        for name, width in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
            count = bisect_right(times, ts) - bisect_right(times, ts - width) + 1
            out[f"term_count_{name}"] = float(count if tx.terminal_id else 0)
        for name in ("7d", "30d"):
            out[f"term_fraud_count_{name}"] = 0.0
            out[f"term_fraud_rate_{name}"] = 0.0
        device = self.by_device[tx.device_id] if tx.device_id else []
        customers = {s.tx.customer_id for s in device if inside(s, DAY)}
        if tx.device_id:
            customers.add(tx.customer_id)
        out["device_distinct_customers_1d"] = float(len(customers))
        out["device_fraud_count_30d"] = 0.0
        return out


def _zscore(amount: float, amounts: list[float]) -> float:
    if len(amounts) < 2:
        return 0.0
    mean = math.fsum(amounts) / len(amounts)
    variance = math.fsum((a - mean) ** 2 for a in amounts) / len(amounts)
    if variance <= 1e-12 * max(1.0, mean * mean):
        return 0.0
    return (amount - mean) / math.sqrt(variance)


#: Features whose values are sums of money (compared with a relative tolerance for rounding).
MONEY = frozenset(
    {
        "cust_amount_sum_1d", "cust_amount_sum_7d", "cust_amount_sum_30d",
        "cust_amount_mean_7d", "cust_amount_mean_30d", "cust_inflow_sum_90d",
        "cust_net_deposit_month_0", "cust_net_deposit_month_1", "cust_net_deposit_month_2",
    }
)  # fmt: skip
#: Terminal counts that come from buckets: compared within the stated accuracy, not exactly.
BUCKETED = frozenset({"term_count_7d", "term_count_30d"})


def differences(
    expected: dict[str, float], actual: dict[str, float], skip: frozenset[str] = frozenset()
) -> dict[str, tuple[float, float]]:
    """Features that differ beyond float rounding (money: 1e-9 relative; z-score: 1e-6)."""
    out: dict[str, tuple[float, float]] = {}
    for name, want in expected.items():
        if name in skip:
            continue
        got = actual[name]
        if name in MONEY:
            ok = math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)
        elif name == "cust_amount_zscore_30d":
            ok = math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
        else:
            ok = got == want
        if not ok:
            out[name] = (want, got)
    return out
