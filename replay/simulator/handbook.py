"""The handbook's everyday card spending and its three fraud scenarios.

After "Reproducible Machine Learning for Credit Card Fraud Detection - Practical Handbook"
(Le Borgne, Siblini, Lebichot, Bontempi), chapter "Simulated data", written from its
description with numpy's vectorised generators:

- each day a customer makes ``Poisson(mean_tx_per_day)`` payments, each at a time of day drawn
  from ``Normal(43200, 20000)`` seconds (dropped outside the day), of an amount drawn from
  ``Normal(mean, std)`` (redrawn uniformly in ``[0, 2 * mean]`` when negative), at a terminal
  chosen uniformly among those within reach (customers with none make no payment);
- scenario 1: every payment above 220 is fraud;
- scenario 2: each day 2 terminals are compromised; their payments of that day and the next 27
  are fraud;
- scenario 3: each day 3 cards are compromised; of their payments that day and the next 13, a
  third (chosen at random) are multiplied by 5 and are fraud.

A later scenario overrides an earlier one's name on the same transaction, as in the handbook.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from replay.simulator.config import SCENARIO_NAMES
from replay.simulator.table import CARD, DEBIT, POS, Transactions
from replay.simulator.world import DAY, DaySpans, World

TIME_OF_DAY_MEAN: Final = DAY / 2
TIME_OF_DAY_STD: Final = 20000.0
TERMINAL_FRAUD_DAYS: Final = 28
CARD_FRAUD_DAYS: Final = 14
#: One payment in this many of a compromised card (in its window) is fraud.
CARD_FRAUD_EVERY: Final = 3
CARD_FRAUD_FACTOR: Final = 5.0


def daily_counts(rate: float, days: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """How many things happen each day at ``rate`` a day: the integer part every day, the
    fractional part as a chance of one more.

    >>> daily_counts(2.0, 3, np.random.default_rng(0)).tolist()
    [2, 2, 2]
    """
    whole = int(rate)
    extra = rng.random(days) < rate - whole
    return whole + extra.astype(np.int64)


def everyday_spending(world: World) -> Transactions:
    """The handbook's card payments of every customer on every day, in generation order."""
    config, people = world.config, world.population
    rng = config.rng("handbook.spending")
    n, days = people.customers, config.days
    per_day = rng.poisson(people.mean_tx_per_day, size=(days, n)).ravel()
    customer = np.repeat(np.tile(np.arange(n, dtype=np.int32), days), per_day)
    day = np.repeat(np.arange(days, dtype=np.int64), per_day.reshape(days, n).sum(axis=1))
    seconds = rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_STD, size=len(customer))
    reach = people.available_count
    keep = (seconds >= 0) & (seconds < DAY) & (reach[customer] > 0)
    customer, day, seconds = customer[keep], day[keep], seconds[keep]

    mean = people.mean_amount[customer]
    amount = rng.normal(mean, people.std_amount[customer])
    negative = np.flatnonzero(amount < 0)
    amount[negative] = rng.uniform(0.0, 2.0 * mean[negative])
    amount = np.round(amount, 2)

    pick = (rng.random(len(customer)) * reach[customer]).astype(np.int64)
    terminal = people.available[people.available_start[customer] + pick]
    return Transactions.make(
        ts=world.start_epoch + day * DAY + seconds.astype(np.int64),
        customer=customer,
        amount=amount,
        direction=DEBIT,
        tx_type=CARD,
        channel=POS,
        terminal=terminal,
        mcc=people.terminal_mcc[terminal],
        country=world.home,
    )


def day_index(world: World, tx: Transactions) -> NDArray[np.int64]:
    """The day of the run (0-based) of each transaction."""
    return (tx.ts - world.start_epoch) // DAY


def amount_fraud(world: World, tx: Transactions) -> int:
    """Scenario 1: mark every card payment above the threshold as fraud; how many."""
    threshold = world.config.rate("handbook_amount")
    hit = (tx.amount > threshold) & (tx.tx_type == CARD)
    tx.fraud[hit] = SCENARIO_NAMES.index("handbook_amount")
    return int(hit.sum())


def terminal_fraud(world: World, tx: Transactions) -> list[tuple[int, int]]:
    """Scenario 2: compromise terminals day after day; their payments become fraud.

    Returns
    -------
    list of (day, terminal)
        When each terminal was compromised (terminal codes are :class:`Names` codes).
    """
    config = world.config
    rng = config.rng("handbook_terminal")
    terminals, days = config.terminals, config.days
    counts = daily_counts(config.rate("handbook_terminal"), days, rng)
    schedule = [
        (day, int(terminal))
        for day, count in enumerate(counts.tolist())
        for terminal in rng.choice(terminals, size=min(count, terminals), replace=False)
    ]
    compromised = np.array(schedule, dtype=np.int64).reshape(-1, 2)
    active = DaySpans.build(
        entity=compromised[:, 1],
        first_day=compromised[:, 0],
        length=np.full(len(compromised), TERMINAL_FRAUD_DAYS),
        value=np.zeros(len(compromised), dtype=np.int64),
        days=days,
    )
    rows = np.flatnonzero((tx.terminal >= 0) & (tx.terminal < terminals))
    hit = rows[active.at(tx.terminal[rows], day_index(world, tx)[rows]) >= 0]
    tx.fraud[hit] = SCENARIO_NAMES.index("handbook_terminal")
    return schedule


def card_fraud(world: World, tx: Transactions) -> list[tuple[int, int]]:
    """Scenario 3: compromise cards day after day; a third of their payments x5, fraud.

    Returns
    -------
    list of (day, customer)
        When each card was compromised.
    """
    config = world.config
    rng = config.rng("handbook_card")
    n, days = config.customers, config.days
    counts = daily_counts(config.rate("handbook_card"), days, rng)
    order = np.lexsort((tx.ts, tx.customer))
    first_row = np.searchsorted(tx.customer[order], np.arange(n + 1))
    day = day_index(world, tx)
    code = SCENARIO_NAMES.index("handbook_card")
    schedule: list[tuple[int, int]] = []
    for start, count in enumerate(counts.tolist()):
        for customer in rng.choice(n, size=min(count, n), replace=False).tolist():
            schedule.append((start, customer))
            rows = order[first_row[customer] : first_row[customer + 1]]
            lo, hi = np.searchsorted(day[rows], [start, start + CARD_FRAUD_DAYS])
            window = rows[lo:hi]
            chosen = rng.choice(window, size=len(window) // CARD_FRAUD_EVERY, replace=False)
            tx.amount[chosen] = np.round(tx.amount[chosen] * CARD_FRAUD_FACTOR, 2)
            tx.fraud[chosen] = code
    return schedule
