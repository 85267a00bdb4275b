"""Customers and terminals on the handbook's 100 x 100 grid, and who can pay where.

From the handbook's "simulated data" chapter: customers and terminals are placed uniformly on
the grid; each customer has a mean amount (uniform 5-100, standard deviation half of it) and a
mean number of transactions a day (uniform 0-4), and pays at the terminals within a radius of 5.
The profile fields of the contract (segment, account opening, marketing consent) are ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from replay.simulator.config import SimulationConfig
from replay.simulator.table import MCCS, RETAIL_MCCS

GRID_SIZE: Final = 100.0
#: A customer pays at the terminals closer than this (handbook: 5).
TERMINAL_RADIUS: Final = 5.0
#: Customer segments, by expected monthly card spending (below 1,500; below 5,000; above).
SEGMENTS: Final = ("mass", "mass_affluent", "affluent")
_SEGMENT_LIMITS: Final = (1500.0, 5000.0)
_DAYS_PER_MONTH: Final = 30.44
_CHUNK: Final = 512


@dataclass(frozen=True)
class Population:
    """The customers and terminals of one run; arrays are indexed by customer or terminal.

    Attributes
    ----------
    customer_xy, terminal_xy
        Positions on the grid, shape ``(n, 2)``.
    mean_amount, std_amount, mean_tx_per_day
        Each customer's spending habits (handbook).
    terminal_mcc
        Each terminal's merchant category, a code into :data:`~replay.simulator.table.MCCS`.
    available_start, available
        The terminals each customer can pay at, compressed: customer ``c`` uses
        ``available[available_start[c]:available_start[c + 1]]``.
    segment
        Codes into :data:`SEGMENTS`.
    opened_at
        When each account was opened (epoch seconds, before the first day).
    marketing_consent
        Whether each customer accepts marketing (the ``no_consent`` scenario clears it).
    """

    customer_xy: NDArray[np.float64]
    mean_amount: NDArray[np.float64]
    std_amount: NDArray[np.float64]
    mean_tx_per_day: NDArray[np.float64]
    terminal_xy: NDArray[np.float64]
    terminal_mcc: NDArray[np.int16]
    available_start: NDArray[np.int64]
    available: NDArray[np.int32]
    segment: NDArray[np.int8]
    opened_at: NDArray[np.int64]
    marketing_consent: NDArray[np.bool_]

    @property
    def customers(self) -> int:
        """Number of customers."""
        return len(self.mean_amount)

    @property
    def available_count(self) -> NDArray[np.int64]:
        """How many terminals each customer can pay at."""
        return np.diff(self.available_start)

    @property
    def monthly_spending(self) -> NDArray[np.float64]:
        """Each customer's expected card spending in a month."""
        return self.mean_amount * self.mean_tx_per_day * _DAYS_PER_MONTH


def terminals_within(
    customer_xy: NDArray[np.float64], terminal_xy: NDArray[np.float64], radius: float
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """The terminals closer than ``radius`` to each customer, as compressed rows.

    Returns
    -------
    start, terminals
        Customer ``c`` reaches ``terminals[start[c]:start[c + 1]]`` (ascending).

    Examples
    --------
    >>> customers = np.array([[0.0, 0.0], [50.0, 50.0]])
    >>> terminals = np.array([[1.0, 1.0], [50.0, 54.0], [9.0, 0.0]])
    >>> start, reach = terminals_within(customers, terminals, 5.0)
    >>> start.tolist(), reach.tolist()
    ([0, 1, 2], [0, 1])
    """
    counts = np.zeros(len(customer_xy), dtype=np.int64)
    parts: list[NDArray[np.int32]] = []
    limit = radius * radius
    for lo in range(0, len(customer_xy), _CHUNK):
        block = customer_xy[lo : lo + _CHUNK]
        dx = block[:, 0:1] - terminal_xy[None, :, 0]
        dy = block[:, 1:2] - terminal_xy[None, :, 1]
        rows, cols = np.nonzero(dx * dx + dy * dy < limit)
        counts[lo : lo + len(block)] = np.bincount(rows, minlength=len(block))
        parts.append(cols.astype(np.int32))
    start = np.zeros(len(customer_xy) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    terminals = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return start, terminals


def build_population(config: SimulationConfig) -> Population:
    """Customers and terminals of ``config`` (the handbook's process, plus profile fields)."""
    rng = config.rng("population")
    n, t = config.customers, config.terminals
    customer_xy = rng.uniform(0.0, GRID_SIZE, size=(n, 2))
    mean_amount = rng.uniform(5.0, 100.0, size=n)
    std_amount = mean_amount / 2.0
    mean_tx_per_day = rng.uniform(0.0, 4.0, size=n)
    terminal_xy = rng.uniform(0.0, GRID_SIZE, size=(t, 2))
    available_start, available = terminals_within(customer_xy, terminal_xy, TERMINAL_RADIUS)

    profile_rng = config.rng("population.profile")
    weights = np.array(list(RETAIL_MCCS.values()))
    retail_codes = np.array([MCCS.index(mcc) for mcc in RETAIL_MCCS], dtype=np.int16)
    terminal_mcc = retail_codes[profile_rng.choice(len(weights), size=t, p=weights / weights.sum())]
    spending = mean_amount * mean_tx_per_day * _DAYS_PER_MONTH
    segment = np.searchsorted(np.array(_SEGMENT_LIMITS), spending, side="right").astype(np.int8)
    age_s = profile_rng.integers(30 * 86400, 15 * 365 * 86400, size=n)
    opened_at = config.start_epoch - age_s

    consent = np.ones(n, dtype=np.bool_)
    if config.enabled("no_consent"):
        consent = config.rng("no_consent").random(n) >= config.rate("no_consent")

    return Population(
        customer_xy=customer_xy,
        mean_amount=mean_amount,
        std_amount=std_amount,
        mean_tx_per_day=mean_tx_per_day,
        terminal_xy=terminal_xy,
        terminal_mcc=terminal_mcc,
        available_start=available_start,
        available=available,
        segment=segment,
        opened_at=opened_at.astype(np.int64),
        marketing_consent=consent,
    )
