"""A terminal's and a device's rolling state in plain Python (mirrored by their Lua scripts).

Terminal, relative to its latest event time ``now`` (``m`` = late margin, ``B`` = bucket):

- per-second counts ``(t, n)`` for 1 d + m: the exact 1-day count, with a pointer and a running
  count as of now (busy terminals stay bounded: one entry per second that had a transaction);
- buckets of ``B`` seconds ``(h, n, lo, hi)`` for 30 d + m, ``lo``/``hi`` the first and last
  second used inside the bucket, with pointers and running counts of the buckets wholly inside
  the 7- and 30-day windows; the bucket cut by a window edge is shared by
  :func:`~state.windows.later_than`, exact unless the edge falls between events of one bucket;
- event times of its transactions labelled fraud (30 d + m), counted exactly.

Device: the customers it served with their last-seen time (1 d + m), and the event times of
its transactions labelled fraud (30 d + m).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from state.features import DevicePart, TerminalPart
from state.inputs import PreparedTx
from state.lastseen import (
    add_time,
    count_in,
    distinct_as_if_seen,
    drop_through,
    forget,
    remove_time,
    touch,
)
from state.store import IN_ORDER, LATE, TOO_LATE
from state.windows import (
    DEVICE_CUSTOMER_WINDOW,
    DEVICE_FRAUD_WINDOW,
    TERMINAL_FRAUD_WINDOWS,
    TERMINAL_WINDOWS,
    Retention,
    later_than,
)

_DAY = TERMINAL_WINDOWS["1d"]
_LONG = (TERMINAL_WINDOWS["7d"], TERMINAL_WINDOWS["30d"])


class TerminalLedger:
    """One terminal's state; :meth:`process` is the whole per-transaction algorithm."""

    def __init__(self, retention: Retention, idle_expiry: int, bucket: int) -> None:
        self.retention = retention
        self.idle_expiry = idle_expiry
        self.bucket = bucket
        self.reset()

    def reset(self) -> None:
        """Forget everything (an idle terminal, in event time)."""
        self.now = 0
        self.sec_ts: list[int] = []
        self.sec_n: list[int] = []
        self.p1d = 0
        self.c1d = 0
        self.b_h: list[int] = []
        self.b_n: list[int] = []
        self.b_lo: list[int] = []
        self.b_hi: list[int] = []
        self.bp = [0, 0]
        self.bc = [0, 0]
        self.fraud: list[int] = []

    def process(self, tx: PreparedTx | None) -> tuple[int, TerminalPart]:
        """Record ``tx`` and return its status and features; the live view when ``tx`` is None."""
        if tx is not None and self.now and tx.ts - self.now >= self.idle_expiry:
            self.reset()
        prev = self.now
        ts = tx.ts if tx is not None else prev
        late = prev > 0 and ts < prev
        status = IN_ORDER
        if late:
            cutoff = prev - self.retention.terminal_buckets
            status = TOO_LATE if (ts // self.bucket + 1) * self.bucket <= cutoff else LATE
        own = 1 if tx is not None else 0
        if tx is not None and not late:
            self._advance(ts)
        if late:
            counts = self._scan(ts)
        else:
            counts = [self.c1d] + [self._running(i, ts) for i in range(len(_LONG))]
        fraud = [count_in(self.fraud, ts - w, ts) for w in TERMINAL_FRAUD_WINDOWS.values()]
        if tx is not None and status != TOO_LATE:
            self._insert(ts, late)
        c1d, c7d, c30d = (c + own for c in counts)
        return status, (c1d, c7d, c30d, fraud[0], fraud[1], max(prev, ts))

    def label(self, ts: int, fraud: bool) -> None:
        """A transaction at ``ts`` became known as fraud (``True``) or as not fraud any more."""
        if fraud:
            add_time(self.fraud, ts, self.now - self.retention.terminal_fraud)
        else:
            remove_time(self.fraud, ts)

    def _edge_bucket(self, edge: int) -> int:
        return edge // self.bucket

    def _running(self, i: int, ts: int) -> int:
        edge = ts - _LONG[i]
        count, p = self.bc[i], self.bp[i]
        h = self._edge_bucket(edge)
        if p > 0 and self.b_h[p - 1] == h:
            base = h * self.bucket
            count += later_than(
                self.b_n[p - 1], base + self.b_lo[p - 1], base + self.b_hi[p - 1], edge
            )
        return count

    def _scan(self, ts: int) -> list[int]:
        lo = bisect_right(self.sec_ts, ts - _DAY)
        hi = bisect_right(self.sec_ts, ts)
        counts = [sum(self.sec_n[lo:hi])]
        own = ts // self.bucket
        for width in _LONG:
            edge = ts - width
            first = self._edge_bucket(edge)
            count = 0
            for k in range(bisect_left(self.b_h, first), len(self.b_h)):
                h = self.b_h[k]
                if h > own:
                    break
                n, base = self.b_n[k], h * self.bucket
                if h == first:
                    count += later_than(n, base + self.b_lo[k], base + self.b_hi[k], edge)
                elif h == own:
                    count += n - later_than(n, base + self.b_lo[k], base + self.b_hi[k], ts)
                else:
                    count += n
            counts.append(count)
        return counts

    def _advance(self, ts: int) -> None:
        ret = self.retention
        edge, p, n = ts - _DAY, self.p1d, len(self.sec_ts)
        while p < n and self.sec_ts[p] <= edge:
            self.c1d -= self.sec_n[p]
            p += 1
        self.p1d = p
        n = len(self.b_h)
        for i, width in enumerate(_LONG):
            h, p = self._edge_bucket(ts - width), self.bp[i]
            while p < n and self.b_h[p] <= h:
                self.bc[i] -= self.b_n[p]
                p += 1
            self.bp[i] = p
        self.now = ts
        dropped = drop_through(self.sec_ts, ts - ret.terminal_seconds)
        if dropped:
            del self.sec_n[:dropped]
            self.p1d -= dropped
        # a bucket goes when all of it is at or before the cutoff
        dropped = drop_through(self.b_h, (ts - ret.terminal_buckets) // self.bucket - 1)
        if dropped:
            for values in (self.b_n, self.b_lo, self.b_hi):
                del values[:dropped]
            self.bp = [p - dropped for p in self.bp]
        drop_through(self.fraud, ts - ret.terminal_fraud)

    def _insert(self, ts: int, late: bool) -> None:
        now, ret = self.now, self.retention
        h = ts // self.bucket
        offset = ts - h * self.bucket
        if not late:
            if self.sec_ts and self.sec_ts[-1] == ts:
                self.sec_n[-1] += 1
            else:
                self.sec_ts.append(ts)
                self.sec_n.append(1)
            self.c1d += 1
            if self.b_h and self.b_h[-1] == h:
                self.b_n[-1] += 1
                self.b_hi[-1] = max(self.b_hi[-1], offset)
            else:
                for values, value in ((self.b_h, h), (self.b_n, 1), (self.b_lo, offset),
                                      (self.b_hi, offset)):  # fmt: skip
                    values.append(value)
            self.bc = [c + 1 for c in self.bc]
            return
        if ts > now - ret.terminal_seconds:
            k = bisect_left(self.sec_ts, ts)
            if k < len(self.sec_ts) and self.sec_ts[k] == ts:
                self.sec_n[k] += 1
                if ts > now - _DAY:
                    self.c1d += 1
            else:
                self.sec_ts.insert(k, ts)
                self.sec_n.insert(k, 1)
                if ts > now - _DAY:
                    self.c1d += 1
                else:
                    self.p1d += 1
        k = bisect_left(self.b_h, h)
        found = k < len(self.b_h) and self.b_h[k] == h
        if found:
            self.b_n[k] += 1
            self.b_lo[k] = min(self.b_lo[k], offset)
            self.b_hi[k] = max(self.b_hi[k], offset)
        else:
            for values, value in ((self.b_h, h), (self.b_n, 1), (self.b_lo, offset),
                                  (self.b_hi, offset)):  # fmt: skip
                values.insert(k, value)
        for i, width in enumerate(_LONG):
            if h > self._edge_bucket(now - width):
                self.bc[i] += 1
            elif not found:
                self.bp[i] += 1

    def canonical(self) -> tuple[object, ...]:
        """Everything this terminal remembers, in an order-independent form (for tests)."""
        return (
            self.now, tuple(self.sec_ts), tuple(self.sec_n), self.p1d, self.c1d,
            tuple(zip(self.b_h, self.b_n, self.b_lo, self.b_hi, strict=True)),
            tuple(self.bp), tuple(self.bc), tuple(self.fraud),
        )  # fmt: skip


class DeviceLedger:
    """One device's state: the customers it served, and its confirmed frauds."""

    def __init__(self, retention: Retention, idle_expiry: int) -> None:
        self.retention = retention
        self.idle_expiry = idle_expiry
        self.reset()

    def reset(self) -> None:
        """Forget everything (an idle device, in event time)."""
        self.now = 0
        self.customers: dict[bytes, int] = {}
        self.fraud: list[int] = []

    def process(self, tx: PreparedTx | None) -> tuple[int, DevicePart]:
        """Record ``tx`` and return its status and features; the live view when ``tx`` is None."""
        if tx is not None and self.now and tx.ts - self.now >= self.idle_expiry:
            self.reset()
        prev, ret = self.now, self.retention
        ts = tx.ts if tx is not None else prev
        late = prev > 0 and ts < prev
        status = IN_ORDER
        if late:
            status = TOO_LATE if ts <= prev - ret.too_late("device") else LATE
        if tx is not None and not late:
            self.now = ts
            forget(self.customers, ts - ret.device_customers)
            drop_through(self.fraud, ts - ret.device_fraud)
        key = tx.customer_hash if tx is not None else None
        customers = distinct_as_if_seen(self.customers, key, ts - DEVICE_CUSTOMER_WINDOW)
        fraud = count_in(self.fraud, ts - DEVICE_FRAUD_WINDOW, ts)
        if tx is not None and status != TOO_LATE:
            touch(self.customers, tx.customer_hash, ts, self.now - ret.device_customers)
        return status, (customers, fraud, max(prev, ts))

    def label(self, ts: int, fraud: bool) -> None:
        """A transaction at ``ts`` became known as fraud (``True``) or as not fraud any more."""
        if fraud:
            add_time(self.fraud, ts, self.now - self.retention.device_fraud)
        else:
            remove_time(self.fraud, ts)

    def canonical(self) -> tuple[object, ...]:
        """Everything this device remembers, in an order-independent form (for tests)."""
        return self.now, sorted(self.customers.items()), tuple(self.fraud)
