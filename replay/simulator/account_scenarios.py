"""Scenarios on the account: salaries, medical bills, growing deposits, money leaving the bank.

They give the engine's service triggers (DESIGN.md, "Trigger codes") something to find:
``salary`` -> ``salary_wealth_offer``, ``medical`` -> ``medical_protection_offer``,
``deposit_growth`` -> ``high_potential_customer``, ``outflow_other_bank`` ->
``churn_risk_outflow``. All their transactions are legitimate.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from replay.simulator.config import SCENARIO_NAMES
from replay.simulator.table import (
    BANKS,
    BRANCH,
    CARD,
    CREDIT,
    DEBIT,
    HOSPITAL_MCC,
    MCCS,
    MOBILE,
    POS,
    SALA,
    TRANSFER,
    Transactions,
)
from replay.simulator.world import DAY, World

HOUR: Final = 3600
#: Salaries are paid on one of these days of the month (each customer has their own).
PAY_DAYS: Final = (25, 28)
SALARY_MEDIAN: Final = 2800.0
MEDICAL_MINIMUM: Final = 2000.0
#: Monthly net deposit of a growing customer before growth (the trigger needs 20,000).
DEPOSIT_BASE: Final = (25000.0, 40000.0)
DEPOSIT_GROWTH: Final = (1.05, 1.30)
DEPOSIT_MONTHS: Final = (3, 6)
#: Money brought in before it leaves, days between the two, share of the 90-day inflow leaving.
OUTFLOW_INFLOW: Final = (8000.0, 40000.0)
OUTFLOW_GAP_DAYS: Final = (3, 60)
OUTFLOW_SHARE: Final = (0.6, 1.0)
OUTFLOW_MINIMUM: Final = 5000.0
INFLOW_WINDOW_S: Final = 90 * DAY


def _other_banks(rng: np.random.Generator, size: int) -> NDArray[np.int64]:
    return rng.integers(1, len(BANKS), size=size)


def salary(world: World) -> Transactions:
    """A monthly salary for a share of customers: a transfer in with purpose ``SALA``."""
    config = world.config
    rng = config.rng("salary")
    n = config.customers
    paid = np.flatnonzero(rng.random(n) < config.rate("salary"))
    first_employer, employers = world.pool("employer", max(1, n // 40))
    employer_bank = rng.integers(0, len(BANKS), size=employers)
    employer = rng.integers(0, employers, size=len(paid))
    pay_day = rng.integers(PAY_DAYS[0], PAY_DAYS[1] + 1, size=len(paid))
    monthly = np.round(rng.lognormal(np.log(SALARY_MEDIAN), 0.35, size=len(paid)), 2)
    clock = rng.integers(2 * HOUR, 6 * HOUR, size=len(paid))

    day_of_month = world.day_of_month()
    who: list[NDArray[np.int64]] = []
    when: list[NDArray[np.int64]] = []
    for day_number in range(PAY_DAYS[0], PAY_DAYS[1] + 1):
        days = np.flatnonzero(day_of_month == day_number)
        payees = np.flatnonzero(pay_day == day_number)
        who.append(np.repeat(payees, len(days)))
        when.append(np.tile(days, len(payees)))
    payee, day = np.concatenate(who), np.concatenate(when)
    return Transactions.make(
        ts=world.start_epoch + day * DAY + clock[payee],
        customer=paid[payee],
        amount=monthly[payee],
        direction=CREDIT,
        tx_type=TRANSFER,
        purpose=SALA,
        counterparty=first_employer + employer[payee],
        bank=employer_bank[employer[payee]],
        country=world.home,
        origin=SCENARIO_NAMES.index("salary"),
    )


def medical(world: World) -> Transactions:
    """Large hospital bills (MCC 8062, at least 2,000) paid by card."""
    config = world.config
    rng = config.rng("medical")
    n, days = config.customers, config.days
    count = int(rng.poisson(config.rate("medical") * n * days / 365.0))
    customer = rng.integers(0, n, size=count)
    day = rng.integers(0, days, size=count)
    seconds = np.clip(rng.normal(DAY / 2, 3 * HOUR, size=count), 8 * HOUR, 20 * HOUR)
    amount = MEDICAL_MINIMUM + rng.lognormal(np.log(1500.0), 0.9, size=count)
    first_hospital, hospitals = world.pool("hospital", max(3, config.terminals // 1000))
    return Transactions.make(
        ts=world.start_epoch + day * DAY + seconds.astype(np.int64),
        customer=customer,
        amount=np.round(amount, 2),
        direction=DEBIT,
        tx_type=CARD,
        channel=POS,
        terminal=first_hospital + rng.integers(0, hospitals, size=count),
        mcc=MCCS.index(HOSPITAL_MCC),
        country=world.home,
        origin=SCENARIO_NAMES.index("medical"),
    )


def deposit_growth(world: World) -> Transactions:
    """Customers who bring in more each month, for 3-6 consecutive calendar months.

    Each month's deposits (1-3 transfers in from the customer's account at another bank) exceed
    the customer's expected card spending by at least 25,000, so the net deposit of the month
    stays above the trigger's 20,000.
    """
    config = world.config
    rng = config.rng("deposit_growth")
    months = world.full_months()
    growing = np.flatnonzero(rng.random(config.customers) < config.rate("deposit_growth"))
    if not months or not len(growing):
        return Transactions.empty()
    first_account = world.names.serial("a", len(growing))
    spending = world.population.monthly_spending
    ts: list[int] = []
    customer: list[int] = []
    amount: list[float] = []
    account: list[int] = []
    bank: list[int] = []
    for index, who in enumerate(growing.tolist()):
        first = int(rng.integers(0, max(1, len(months) - DEPOSIT_MONTHS[0] + 1)))
        length = min(
            int(rng.integers(DEPOSIT_MONTHS[0], DEPOSIT_MONTHS[1] + 1)), len(months) - first
        )
        base = rng.uniform(*DEPOSIT_BASE) + 1.2 * spending[who]
        growth = rng.uniform(*DEPOSIT_GROWTH)
        source_bank = int(_other_banks(rng, 1)[0])
        for month in range(length):
            parts = int(rng.integers(1, 4))
            shares = rng.dirichlet(np.ones(parts))
            days = rng.choice(months[first + month], size=parts, replace=False)
            seconds = rng.integers(9 * HOUR, 17 * HOUR, size=parts)
            ts.extend((world.start_epoch + days * DAY + seconds).tolist())
            amount.extend(np.round(base * growth**month * shares, 2).tolist())
            customer.extend([who] * parts)
            account.extend([first_account + index] * parts)
            bank.extend([source_bank] * parts)
    return Transactions.make(
        ts=np.array(ts, dtype=np.int64),
        customer=np.array(customer),
        amount=np.array(amount),
        direction=CREDIT,
        tx_type=TRANSFER,
        counterparty=np.array(account),
        bank=np.array(bank),
        country=world.home,
        origin=SCENARIO_NAMES.index("deposit_growth"),
    )


def outflow_other_bank(world: World, credits: Transactions) -> Transactions:
    """Money comes in, then at least half of the 90-day inflow (and 5,000) leaves the bank.

    Parameters
    ----------
    credits
        The money other scenarios bring in (salaries, deposits): the 90 days of inflow before
        a transfer out count them, as the engine's trigger does.
    """
    config = world.config
    rng = config.rng("outflow_other_bank")
    days = config.days
    leaving = np.flatnonzero(rng.random(config.customers) < config.rate("outflow_other_bank"))
    # Customers growing their deposits are not the ones leaving (keeps both signals clean).
    growing = credits.customer[credits.origin == SCENARIO_NAMES.index("deposit_growth")]
    leaving = leaving[~np.isin(leaving, growing)]
    count = len(leaving)
    if not count:
        return Transactions.empty()
    day_in = rng.integers(0, max(1, days - OUTFLOW_GAP_DAYS[0]), size=count)
    gap = rng.integers(OUTFLOW_GAP_DAYS[0], OUTFLOW_GAP_DAYS[1] + 1, size=count)
    day_out = np.minimum(day_in + gap, days - 1)
    ts_in = world.start_epoch + day_in * DAY + rng.integers(9 * HOUR, 17 * HOUR, size=count)
    ts_out = world.start_epoch + day_out * DAY + rng.integers(8 * HOUR, 22 * HOUR, size=count)
    ts_out = np.minimum(np.maximum(ts_out, ts_in + HOUR), world.end_epoch - 1)
    own_elsewhere = world.names.serial("a", count)
    inflow = Transactions.make(
        ts=ts_in,
        customer=leaving,
        amount=np.round(rng.uniform(*OUTFLOW_INFLOW, size=count), 2),
        direction=CREDIT,
        tx_type=TRANSFER,
        counterparty=own_elsewhere + np.arange(count),
        bank=_other_banks(rng, count),
        country=world.home,
        origin=SCENARIO_NAMES.index("outflow_other_bank"),
    )

    money_in = Transactions.concat([credits, inflow])
    money_in = money_in.take(np.flatnonzero(money_in.direction == CREDIT))
    share = rng.uniform(*OUTFLOW_SHARE, size=count)
    amount_out = np.empty(count)
    for index, (who, when) in enumerate(zip(leaving.tolist(), ts_out.tolist(), strict=True)):
        window = (
            (money_in.customer == who)
            & (money_in.ts > when - INFLOW_WINDOW_S)
            & (money_in.ts <= when)
        )
        brought_in = float(money_in.amount[window].sum())
        amount_out[index] = max(OUTFLOW_MINIMUM, np.ceil(share[index] * brought_in * 100) / 100)
    outflow = Transactions.make(
        ts=ts_out,
        customer=leaving,
        amount=np.round(amount_out, 2),
        direction=DEBIT,
        tx_type=TRANSFER,
        channel=np.where(rng.random(count) < 0.7, MOBILE, BRANCH),
        counterparty=world.names.serial("a", count) + np.arange(count),
        bank=_other_banks(rng, count),
        country=world.home,
        origin=SCENARIO_NAMES.index("outflow_other_bank"),
    )
    return Transactions.concat([inflow, outflow])
