"""Streams of transactions for the state tests: hypothesis strategies and a seeded generator."""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import strategies as st

from events.records import Transaction

T0 = 1_772_362_800  # 2026-03-01T11:00:00Z
DAY = 86_400
COUNTRIES = ("FR", "DE", "ES", "US")


@st.composite
def transactions(
    draw: st.DrawFn,
    span_s: int = 20 * DAY,
    max_size: int = 40,
    customers: int = 3,
    terminals: int = 3,
    devices: int = 2,
) -> list[Transaction]:
    """Distinct transactions of a few entities within ``span_s`` of each other, in time order."""
    size = draw(st.integers(min_value=1, max_value=max_size))
    out = []
    for i in range(size):
        offset = draw(st.integers(min_value=0, max_value=span_s))
        out.append(
            Transaction(
                tx_id=f"h{i}",
                ts=T0 + offset + draw(st.sampled_from([0.0, 0.5])),
                customer_id=f"c{draw(st.integers(0, customers - 1))}",
                amount=draw(st.integers(min_value=0, max_value=500_000)) / 100,
                direction=draw(st.sampled_from(["debit", "debit", "debit", "credit"])),
                terminal_id=draw(st.sampled_from([None, *[f"T{k}" for k in range(terminals)]])),
                device_id=draw(st.sampled_from([None, *[f"D{k}" for k in range(devices)]])),
                country=draw(st.sampled_from([None, *COUNTRIES])),
            )
        )
    return sorted(out, key=lambda tx: tx.ts)


def realistic(
    seed: int,
    customers: int = 40,
    days: int = 30,
    per_day: float = 4.0,
    late_share: float = 0.0,
    max_late_s: int = 6 * 3600,
    repeat_share: float = 0.0,
    terminals: int | None = None,
) -> list[Transaction]:
    """A month of a small population, in arrival order.

    Customers pay at their own few terminals (Poisson times), a few get salaries and transfers,
    some use a device, some travel. ``late_share`` of the transactions arrive up to
    ``max_late_s`` after their event time; ``repeat_share`` are delivered a second time.
    ``terminals`` (default twice the customers) sets how busy the terminals are.
    """
    rnd = random.Random(seed)
    events: list[tuple[float, Transaction]] = []
    pool = [f"T{k:03d}" for k in range(terminals or customers * 2)]
    n = 0
    for c in range(customers):
        own = rnd.sample(pool, min(6, len(pool)))
        device = f"D{c}" if rnd.random() < 0.5 else None
        t = T0 + rnd.uniform(0, DAY)
        while t < T0 + days * DAY:
            t += rnd.expovariate(per_day / DAY)
            credit = rnd.random() < 0.05
            n += 1
            tx = Transaction(
                tx_id=f"r{n:06d}",
                ts=round(t, 3),
                customer_id=f"c{c:03d}",
                amount=round(rnd.lognormvariate(3.5, 1.0), 2) * (40 if credit else 1),
                direction="credit" if credit else "debit",
                type="transfer" if credit else "card",
                terminal_id=None if credit else rnd.choice(own),
                device_id=device if rnd.random() < 0.3 else None,
                country=None if credit else ("FR" if rnd.random() < 0.9 else rnd.choice(COUNTRIES)),
                attributes={"risk": round(rnd.random(), 3)},
            )
            arrival = t + (rnd.uniform(0, max_late_s) if rnd.random() < late_share else 0.0)
            events.append((arrival, tx))
            if rnd.random() < repeat_share:
                events.append((arrival + rnd.uniform(0, 3 * 3600), tx))
    events.sort(key=lambda pair: pair[0])
    return [tx for _, tx in events]


def shuffled(txs: Sequence[Transaction], seed: int) -> list[Transaction]:
    """The same transactions in another arrival order."""
    out = list(txs)
    random.Random(seed).shuffle(out)
    return out
