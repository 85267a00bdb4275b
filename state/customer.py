"""A customer's rolling state in plain Python: the reference the Lua script mirrors line by line.

What is kept, relative to the customer's latest event time ``now`` (``m`` = late margin):

- debits ``(t, cents)`` sorted by ``t``, for 30 d + m, with a pointer and a running sum per
  spending window (1 h, 1 d, 7 d, 30 d) *as of now* and the 30-day sum of squares;
- credits ``(t, cents)`` for 90 d + m, with the 90-day inflow as of now;
- last-seen tables of terminals (30 d + m), countries and devices (90 d + m);
- net deposits per calendar month (the latest month seen and the three before it);
- event times of the customer's transactions labelled fraud (30 d + m).

A transaction at or after ``now`` (the common case) advances the pointers and reads the running
sums; an out-of-order one scans the logs for its own windows and is inserted in place. Sums are
whole cents in doubles: exact below 2^53, so the order of arrival never changes a bit.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from state.features import (
    FLAG_CONSENT,
    FLAG_FOREIGN,
    FLAG_NEW_COUNTRY,
    FLAG_NEW_DEVICE,
    CustomerPart,
)
from state.inputs import PreparedTx
from state.lastseen import (
    add_time,
    count_in,
    distinct_as_if_seen,
    drop_through,
    forget,
    remove_time,
    seen_after,
    touch,
)
from state.store import IN_ORDER, LATE, TOO_LATE
from state.windows import (
    CUSTOMER_DEBIT_WINDOWS,
    CUSTOMER_DISTINCT_WINDOW,
    CUSTOMER_FRAUD_WINDOWS,
    CUSTOMER_INFLOW_WINDOW,
    CUSTOMER_NOVELTY_WINDOW,
    MONTHS_KEPT,
    Retention,
)

_WINDOWS = tuple(CUSTOMER_DEBIT_WINDOWS.values())
_THIRTY = len(_WINDOWS) - 1  # index of the 30-day window, the one with a sum of squares


@dataclass(frozen=True, slots=True)
class Profile:
    """What the features need of a customer profile."""

    home_country: str
    marketing_consent: bool
    ts: int = 0


class CustomerLedger:
    """One customer's state; :meth:`process` is the whole per-transaction algorithm."""

    def __init__(self, retention: Retention, idle_expiry: int) -> None:
        self.retention = retention
        self.idle_expiry = idle_expiry
        self.reset()

    def reset(self) -> None:
        """Forget everything (an idle customer, in event time)."""
        self.now = 0
        self.deb_ts: list[int] = []
        self.deb_c: list[int] = []
        self.dp = [0] * len(_WINDOWS)
        self.ds = [0.0] * len(_WINDOWS)
        self.dq = 0.0
        self.cred_ts: list[int] = []
        self.cred_c: list[int] = []
        self.cp = 0
        self.cs = 0.0
        self.terminals: dict[bytes, int] = {}
        self.countries: dict[str, int] = {}
        self.devices: dict[bytes, int] = {}
        self.months: dict[int, float] = {}
        self.mmax: int | None = None
        self.fraud: list[int] = []

    def process(self, tx: PreparedTx | None, profile: Profile | None) -> tuple[int, CustomerPart]:
        """Record ``tx`` and return its status and features; the live view when ``tx`` is None."""
        if tx is not None and self.now and tx.ts - self.now >= self.idle_expiry:
            self.reset()
        prev = self.now
        ts = tx.ts if tx is not None else prev
        late = prev > 0 and ts < prev
        status = IN_ORDER
        if late:
            too_late = ts <= prev - self.retention.too_late("customer")
            status = TOO_LATE if too_late else LATE
        if tx is not None and not late:
            self._advance(ts)
        part = self._features(tx, ts, prev, profile, late)
        if tx is not None and status != TOO_LATE:
            self._insert(tx, late)
        return status, part

    def label(self, ts: int, fraud: bool) -> None:
        """A transaction at ``ts`` became known as fraud (``True``) or as not fraud any more."""
        if fraud:
            add_time(self.fraud, ts, self.now - self.retention.customer_fraud)
        else:
            remove_time(self.fraud, ts)

    def _advance(self, ts: int) -> None:
        ret = self.retention
        n = len(self.deb_ts)
        for i, width in enumerate(_WINDOWS):
            edge, p = ts - width, self.dp[i]
            while p < n and self.deb_ts[p] <= edge:
                cents = self.deb_c[p]
                self.ds[i] -= cents
                if i == _THIRTY:
                    self.dq -= float(cents) * float(cents)
                p += 1
            self.dp[i] = p
        edge, p, n = ts - CUSTOMER_INFLOW_WINDOW, self.cp, len(self.cred_ts)
        while p < n and self.cred_ts[p] <= edge:
            self.cs -= self.cred_c[p]
            p += 1
        self.cp = p
        self.now = ts
        dropped = drop_through(self.deb_ts, ts - ret.customer_debits)
        if dropped:
            del self.deb_c[:dropped]
            self.dp = [p - dropped for p in self.dp]
        dropped = drop_through(self.cred_ts, ts - ret.customer_credits)
        if dropped:
            del self.cred_c[:dropped]
            self.cp -= dropped
        forget(self.terminals, ts - ret.customer_terminals)
        forget(self.countries, ts - ret.customer_countries)
        forget(self.devices, ts - ret.customer_devices)
        drop_through(self.fraud, ts - ret.customer_fraud)

    def _features(
        self,
        tx: PreparedTx | None,
        ts: int,
        prev: int,
        profile: Profile | None,
        late: bool,
    ) -> CustomerPart:
        debit = tx is not None and tx.debit
        credit = tx is not None and not tx.debit
        cents = tx.cents if tx is not None else 0
        if late:
            counts, sums, squares, since = self._scan_debits(ts)
            inflow, inflow_n = self._scan_credits(ts)
        else:
            n = len(self.deb_ts)
            counts = [n - p for p in self.dp]
            sums, squares = list(self.ds), self.dq
            since = ts - prev if prev > 0 else -1
            inflow, inflow_n = self.cs, len(self.cred_ts) - self.cp
        if debit:
            counts = [c + 1 for c in counts]
            sums = [s + cents for s in sums]
            squares = squares + float(cents) * float(cents)
        if credit:
            inflow, inflow_n = inflow + cents, inflow_n + 1
        terminal = tx.terminal_hash if tx is not None and tx.terminal_hash else None
        country = tx.country if tx is not None and tx.country else None
        device = tx.device_hash if tx is not None and tx.device_hash else None
        edge = ts - CUSTOMER_DISTINCT_WINDOW
        terminals = distinct_as_if_seen(self.terminals, terminal, edge)
        countries = distinct_as_if_seen(self.countries, country, edge)
        novelty_edge = ts - CUSTOMER_NOVELTY_WINDOW
        flags = 0
        if device is not None and not seen_after(self.devices, device, novelty_edge):
            flags |= FLAG_NEW_DEVICE
        if country is not None and not seen_after(self.countries, country, novelty_edge):
            flags |= FLAG_NEW_COUNTRY
        if profile is not None:
            if country is not None and country != profile.home_country:
                flags |= FLAG_FOREIGN
            if profile.marketing_consent:
                flags |= FLAG_CONSENT
        m0, m1, m2 = self._months(tx, ts, late)
        fraud7 = count_in(self.fraud, ts - CUSTOMER_FRAUD_WINDOWS["7d"], ts)
        fraud30 = count_in(self.fraud, ts - CUSTOMER_FRAUD_WINDOWS["30d"], ts)
        latest = max(prev, ts) if tx is not None else prev
        return (
            counts[0], counts[1], counts[2], counts[3], sums[1], sums[2], sums[3], squares,
            since, terminals, countries, flags, inflow, inflow_n, m0, m1, m2, fraud7, fraud30,
            latest,
        )  # fmt: skip

    def _scan_debits(self, ts: int) -> tuple[list[int], list[float], float, int]:
        hi = bisect_right(self.deb_ts, ts)
        counts: list[int] = []
        sums: list[float] = []
        squares = 0.0
        for i, width in enumerate(_WINDOWS):
            lo = bisect_right(self.deb_ts, ts - width)
            total = 0.0
            for k in range(lo, hi):
                total += self.deb_c[k]
                if i == _THIRTY:
                    squares += float(self.deb_c[k]) * float(self.deb_c[k])
            counts.append(hi - lo)
            sums.append(total)
        before = self.deb_ts[hi - 1] if hi else -1
        credit_hi = bisect_right(self.cred_ts, ts)
        if credit_hi:
            before = max(before, self.cred_ts[credit_hi - 1])
        return counts, sums, squares, ts - before if before >= 0 else -1

    def _scan_credits(self, ts: int) -> tuple[float, int]:
        lo = bisect_right(self.cred_ts, ts - CUSTOMER_INFLOW_WINDOW)
        hi = bisect_right(self.cred_ts, ts)
        total = 0.0
        for k in range(lo, hi):
            total += self.cred_c[k]
        return total, hi - lo

    def _months(self, tx: PreparedTx | None, ts: int, late: bool) -> tuple[float, float, float]:
        if tx is None:
            month, net = (self.mmax if self.mmax is not None else 0), 0
        else:
            month, net = tx.month, (tx.cents if not tx.debit else -tx.cents)
        m0 = self.months.get(month, 0.0)
        if late and tx is not None:
            if self.mmax is not None and month >= self.mmax - (MONTHS_KEPT - 1):
                # the month's bucket holds everything known; take back what came after ts
                for k in range(bisect_right(self.deb_ts, ts), len(self.deb_ts)):
                    if self.deb_ts[k] < tx.month_next:
                        m0 += self.deb_c[k]
                for k in range(bisect_right(self.cred_ts, ts), len(self.cred_ts)):
                    if self.cred_ts[k] < tx.month_next:
                        m0 -= self.cred_c[k]
            else:
                m0 = 0.0
        return m0 + net, self.months.get(month - 1, 0.0), self.months.get(month - 2, 0.0)

    def _insert(self, tx: PreparedTx, late: bool) -> None:
        ret, ts, cents, now = self.retention, tx.ts, tx.cents, self.now
        if tx.debit:
            if not late:
                self.deb_ts.append(ts)
                self.deb_c.append(cents)
                self.ds = [s + cents for s in self.ds]
                self.dq += float(cents) * float(cents)
            elif ts > now - ret.customer_debits:
                k = bisect_right(self.deb_ts, ts)
                self.deb_ts.insert(k, ts)
                self.deb_c.insert(k, cents)
                for i, width in enumerate(_WINDOWS):
                    if ts > now - width:
                        self.ds[i] += cents
                        if i == _THIRTY:
                            self.dq += float(cents) * float(cents)
                    else:
                        self.dp[i] += 1
        elif not late:
            self.cred_ts.append(ts)
            self.cred_c.append(cents)
            self.cs += cents
        elif ts > now - ret.customer_credits:
            k = bisect_right(self.cred_ts, ts)
            self.cred_ts.insert(k, ts)
            self.cred_c.insert(k, cents)
            if ts > now - CUSTOMER_INFLOW_WINDOW:
                self.cs += cents
            else:
                self.cp += 1
        if tx.terminal_hash:
            touch(self.terminals, tx.terminal_hash, ts, now - ret.customer_terminals)
        if tx.country:
            touch(self.countries, tx.country, ts, now - ret.customer_countries)
        if tx.device_hash:
            touch(self.devices, tx.device_hash, ts, now - ret.customer_devices)
        if self.mmax is None or tx.month >= self.mmax - (MONTHS_KEPT - 1):
            net = -cents if tx.debit else cents
            self.months[tx.month] = self.months.get(tx.month, 0.0) + net
            if self.mmax is None or tx.month > self.mmax:
                self.mmax = tx.month
                for month in [m for m in self.months if m < tx.month - (MONTHS_KEPT - 1)]:
                    del self.months[month]

    def canonical(self) -> tuple[object, ...]:
        """Everything this customer remembers, in an order-independent form (for tests)."""
        return (
            self.now,
            sorted(zip(self.deb_ts, self.deb_c, strict=True)),
            tuple(self.dp), tuple(self.ds), self.dq,
            sorted(zip(self.cred_ts, self.cred_c, strict=True)), self.cp, self.cs,
            sorted(self.terminals.items()), sorted(self.countries.items()),
            sorted(self.devices.items()), sorted(self.months.items()), self.mmax,
            tuple(self.fraud),
        )  # fmt: skip
