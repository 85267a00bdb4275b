"""Scenarios on card payments: online purchases, travel, account takeover, shared devices.

``card_not_present`` and ``travel`` change the handbook's everyday payments in place (before
the handbook's fraud is marked, so the handbook's mechanics stay whole); ``account_takeover``
and ``shared_device`` add fraudulent online purchases of their own.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from replay.simulator.config import SCENARIO_NAMES
from replay.simulator.handbook import daily_counts, day_index
from replay.simulator.table import (
    CARD,
    COUNTRY_CODES,
    DEBIT,
    ECOM,
    MCCS,
    ONLINE_RISKY_MCCS,
    Transactions,
)
from replay.simulator.world import DAY, DaySpans, World

TRIP_DAYS: Final = (3, 14)
#: Purchases per takeover and the hours they are spread over.
TAKEOVER_PURCHASES: Final = (3, 8)
TAKEOVER_HOURS: Final = (0.5, 4.0)
TAKEOVER_AMOUNT: Final = (80.0, 1500.0)
#: Cards one ring device uses in its day, and the hours the ring is active.
RING_CARDS: Final = (5, 20)
RING_HOURS: Final = 6
RING_AMOUNT: Final = (20.0, 500.0)
_RISKY_CODES: Final = np.array([MCCS.index(mcc) for mcc in ONLINE_RISKY_MCCS], dtype=np.int16)


def _everyday(tx: Transactions) -> NDArray[np.bool_]:
    everyday: NDArray[np.bool_] = (tx.tx_type == CARD) & (tx.fraud < 0)
    return everyday


def travel(world: World, tx: Transactions) -> int:
    """Move the payments made during each trip abroad to terminals of the destination.

    Returns
    -------
    int
        How many payments were made abroad.
    """
    config = world.config
    rng = config.rng("travel")
    n, days = config.customers, config.days
    trips = rng.poisson(config.rate("travel") * days / 365.0, size=n)
    customer = np.repeat(np.arange(n), trips)
    start = rng.integers(0, days, size=len(customer))
    length = rng.integers(TRIP_DAYS[0], TRIP_DAYS[1] + 1, size=len(customer))
    destination = rng.integers(0, len(world.destinations), size=len(customer))
    abroad = DaySpans.build(customer, start, length, destination, days)

    rows = np.flatnonzero(_everyday(tx))
    where_of_row = abroad.at(tx.customer[rows], day_index(world, tx)[rows])
    moved = where_of_row >= 0
    rows, where_of_row = rows[moved], where_of_row[moved]
    pools = [world.pool(f"foreign:{COUNTRY_CODES[c]}") for c in world.destinations.tolist()]
    first_code = np.array([first for first, _ in pools], dtype=np.int64)
    pool_size = np.array([size for _, size in pools], dtype=np.int64)
    pick = (rng.random(len(rows)) * pool_size[where_of_row]).astype(np.int64)
    tx.terminal[rows] = first_code[where_of_row] + pick
    tx.country[rows] = world.destinations[where_of_row]
    tx.origin[rows] = SCENARIO_NAMES.index("travel")
    return len(rows)


def card_not_present(world: World, tx: Transactions) -> int:
    """Turn a share of payments into online purchases from one of the customer's devices.

    Each customer owns 1-3 devices, each with its own IP address.

    Returns
    -------
    int
        How many payments became online purchases.
    """
    config = world.config
    rng = config.rng("card_not_present")
    n = config.customers
    owned = 1 + rng.binomial(2, 0.3, size=n)
    first_owned = np.concatenate([[0], np.cumsum(owned)[:-1]])
    first_device = world.names.serial("d", int(owned.sum()))
    first_ip = world.names.ips(rng, int(owned.sum()))

    rows = np.flatnonzero(_everyday(tx) & (rng.random(len(tx)) < config.rate("card_not_present")))
    customer = tx.customer[rows]
    device = first_owned[customer] + (rng.random(len(rows)) * owned[customer]).astype(np.int64)
    tx.channel[rows] = ECOM
    tx.device[rows] = first_device + device
    tx.ip[rows] = first_ip + device
    tx.origin[rows] = SCENARIO_NAMES.index("card_not_present")
    return len(rows)


def account_takeover(world: World) -> Transactions:
    """Takeovers: a device never seen, abroad, makes several online purchases within hours."""
    config = world.config
    rng = config.rng("account_takeover")
    n, days = config.customers, config.days
    count = int(rng.poisson(config.rate("account_takeover") * n * days / 365.0))
    victim = rng.integers(0, n, size=count)
    last_start = days * DAY - int(TAKEOVER_HOURS[1] * 3600) - 1
    start = world.start_epoch + rng.integers(0, max(last_start, 1), size=count)
    purchases = rng.integers(TAKEOVER_PURCHASES[0], TAKEOVER_PURCHASES[1] + 1, size=count)
    span = rng.uniform(*TAKEOVER_HOURS, size=count) * 3600
    country = world.destinations[rng.integers(0, len(world.destinations), size=count)]
    first_device = world.names.serial("d", count)
    first_ip = world.names.ips(rng, count)

    incident = np.repeat(np.arange(count), purchases)
    offset = (rng.random(len(incident)) * span[incident]).astype(np.int64)
    code = SCENARIO_NAMES.index("account_takeover")
    return _online(
        world,
        rng,
        ts=start[incident] + offset,
        customer=victim[incident],
        amount_range=TAKEOVER_AMOUNT,
        country=country[incident],
        device=first_device + incident,
        ip=first_ip + incident,
        code=code,
    )


def shared_device(world: World) -> Transactions:
    """Fraud rings: one device pays online with the cards of many customers in one day."""
    config = world.config
    rng = config.rng("shared_device")
    n, days = config.customers, config.days
    ring_day = np.repeat(np.arange(days), daily_counts(config.rate("shared_device"), days, rng))
    rings = len(ring_day)
    cards = np.minimum(rng.integers(RING_CARDS[0], RING_CARDS[1] + 1, size=rings), n)
    abroad = rng.random(rings) < 0.5
    foreign = world.destinations[rng.integers(0, len(world.destinations), size=rings)]
    ring_country = np.where(abroad, foreign, world.home)
    ring_start = rng.integers(0, DAY - RING_HOURS * 3600, size=rings)
    first_device = world.names.serial("d", rings)
    first_ip = world.names.ips(rng, rings)

    ring_parts: list[NDArray[np.int64]] = []
    customer_parts: list[NDArray[np.int64]] = []
    for index, size in enumerate(cards.tolist()):
        victims = rng.choice(n, size=size, replace=False)
        victims = np.repeat(victims, 1 + (rng.random(size) < 0.4))
        customer_parts.append(victims)
        ring_parts.append(np.full(len(victims), index, dtype=np.int64))
    ring = np.concatenate(ring_parts) if ring_parts else np.zeros(0, dtype=np.int64)
    customer = np.concatenate(customer_parts) if customer_parts else np.zeros(0, dtype=np.int64)
    offset = rng.integers(0, RING_HOURS * 3600, size=len(ring))
    return _online(
        world,
        rng,
        ts=world.start_epoch + ring_day[ring] * DAY + ring_start[ring] + offset,
        customer=customer,
        amount_range=RING_AMOUNT,
        country=ring_country[ring],
        device=first_device + ring,
        ip=first_ip + ring,
        code=SCENARIO_NAMES.index("shared_device"),
    )


def _online(
    world: World,
    rng: np.random.Generator,
    *,
    ts: NDArray[np.int64],
    customer: NDArray[np.int64],
    amount_range: tuple[float, float],
    country: NDArray[np.int16],
    device: NDArray[np.int64],
    ip: NDArray[np.int64],
    code: int,
) -> Transactions:
    """Fraudulent online card purchases at web merchants that sell what resells easily."""
    first_web, web_count = world.pool("web")
    size = len(ts)
    return Transactions.make(
        ts=ts,
        customer=customer,
        amount=np.round(rng.uniform(*amount_range, size=size), 2),
        direction=DEBIT,
        tx_type=CARD,
        channel=ECOM,
        terminal=first_web + rng.integers(0, web_count, size=size),
        mcc=_RISKY_CODES[rng.integers(0, len(_RISKY_CODES), size=size)],
        country=country,
        device=device,
        ip=ip,
        fraud=code,
        origin=code,
    )
