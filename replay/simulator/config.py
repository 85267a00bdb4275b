"""What a simulation run is asked to do: sizes, seed, calendar, label delay, scenarios and rates.

The catalogue of scenarios lives here, with the meaning of each scenario's rate, so that the
command line, the summary and the documentation all read the same table.

>>> config = SimulationConfig(customers=100, scenarios=parse_scenarios("handbook,salary"))
>>> sorted(config.scenarios)
['handbook_amount', 'handbook_card', 'handbook_terminal', 'salary']
>>> config.rate("salary"), config.rate("handbook_terminal")
(0.6, 2.0)
>>> parse_duration("7d"), parse_duration("90m"), parse_duration("45")
(604800, 5400, 45)
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

import numpy as np

from events.errors import VerdictError
from events.iso import COUNTRIES, CURRENCIES


class SimulationConfigError(VerdictError, ValueError):
    """A simulation option that makes no sense (unknown scenario, negative rate, bad delay)."""

    http_status = 400
    code = "invalid_simulation_config"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One named scenario of the simulator.

    Attributes
    ----------
    name
        The name used on the command line, in ``labels.jsonl`` and in ``summary.json``.
    rate
        The default value of the scenario's one parameter.
    unit
        What the rate means (shown by ``verdict simulate --list-scenarios``).
    fraud
        Whether the transactions the scenario makes or marks are fraud.
    description
        One sentence on what the scenario does.
    share
        The rate is a share of something, so it must lie in [0, 1].
    """

    name: str
    rate: float
    unit: str
    fraud: bool
    description: str
    share: bool = False


#: Every scenario, in the order they are applied and listed.
SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(
        "handbook_amount",
        220.0,
        "amount above which a card payment is fraud",
        True,
        "Handbook scenario 1: every card payment above the threshold is fraud.",
    ),
    Scenario(
        "handbook_terminal",
        2.0,
        "terminals compromised per day",
        True,
        "Handbook scenario 2: a compromised terminal's payments are fraud for the next 28 days.",
    ),
    Scenario(
        "handbook_card",
        3.0,
        "cards compromised per day",
        True,
        "Handbook scenario 3: for 14 days a third of a compromised card's payments are x5, fraud.",
    ),
    Scenario(
        "card_not_present",
        0.25,
        "share of card payments made online",
        False,
        "Online purchases (channel ecom) from one of the customer's own devices, with an IP.",
        share=True,
    ),
    Scenario(
        "travel",
        1.5,
        "trips abroad per customer per year",
        False,
        "Trips of 3-14 days: the customer's payments move to terminals of another country.",
    ),
    Scenario(
        "account_takeover",
        0.05,
        "takeovers per customer per year",
        True,
        "A new device abroad makes 3-8 online purchases within a few hours.",
    ),
    Scenario(
        "shared_device",
        0.5,
        "fraud-ring devices per day",
        True,
        "One device pays online with the cards of 5-20 customers in one day.",
    ),
    Scenario(
        "salary",
        0.6,
        "share of customers paid a monthly salary",
        False,
        "A transfer in with purpose SALA from the employer, on a fixed day each month.",
        share=True,
    ),
    Scenario(
        "medical",
        0.05,
        "large medical expenses per customer per year",
        False,
        "A hospital bill (MCC 8062) of at least 2,000.",
    ),
    Scenario(
        "deposit_growth",
        0.01,
        "share of customers whose deposits grow",
        False,
        "Net deposits above 20,000, growing each month, for 3-6 consecutive calendar months.",
        share=True,
    ),
    Scenario(
        "outflow_other_bank",
        0.02,
        "share of customers who move money to another bank",
        False,
        "Money comes in, then half or more of the 90-day inflow (>= 5,000) goes to another bank.",
        share=True,
    ),
    Scenario(
        "no_consent",
        0.15,
        "share of customers without marketing consent",
        False,
        "Customer profiles with marketing_consent false.",
        share=True,
    ),
)

#: Scenarios by name.
SCENARIO_BY_NAME: Final[dict[str, Scenario]] = {s.name: s for s in SCENARIOS}
#: Scenario names in catalogue order (the codes of the ``fraud`` and ``origin`` columns).
SCENARIO_NAMES: Final[tuple[str, ...]] = tuple(s.name for s in SCENARIOS)
#: The three fraud scenarios of the handbook (``--scenarios handbook``, the default).
HANDBOOK: Final = frozenset({"handbook_amount", "handbook_terminal", "handbook_card"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``text``: a number with an optional ``s``, ``m``, ``h`` or ``d`` suffix.

    Raises
    ------
    SimulationConfigError
        When ``text`` is not such a duration.
    """
    match = _DURATION.match(text.lower())
    if match is None:
        raise SimulationConfigError(f"{text!r} is not a duration (examples: 7d, 12h, 30m, 45s)")
    return round(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_scenarios(text: str) -> frozenset[str]:
    """The scenario names in ``handbook``, ``all``, ``none`` or a comma list of names and groups.

    Raises
    ------
    SimulationConfigError
        Naming the unknown scenario.
    """
    names: set[str] = set()
    for raw in text.split(","):
        item = raw.strip()
        if item in ("", "none"):
            continue
        if item == "handbook":
            names |= HANDBOOK
        elif item == "all":
            names |= set(SCENARIO_NAMES)
        elif item in SCENARIO_BY_NAME:
            names.add(item)
        else:
            raise SimulationConfigError(
                f"unknown scenario {item!r}; known: handbook, all, {', '.join(SCENARIO_NAMES)}"
            )
    return frozenset(names)


def parse_rates(items: Iterable[str]) -> dict[str, float]:
    """Rates from ``NAME=VALUE`` items (``--rate travel=3``).

    Raises
    ------
    SimulationConfigError
        When an item is not ``NAME=VALUE`` with a known name and a number.
    """
    rates: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise SimulationConfigError(f"rate {item!r} must read NAME=VALUE (e.g. travel=3)")
        try:
            rates[name] = float(value)
        except ValueError:
            raise SimulationConfigError(
                f"rate of {name!r} must be a number, got {value!r}"
            ) from None
    return rates


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a run depends on: the same config and seed write the same bytes.

    Attributes
    ----------
    customers, terminals, days
        Population and length of the run (the handbook's: 5,000, 10,000, 183).
    seed
        Seed of every random stream (each part of the run draws from its own stream, so that
        switching one scenario on or off leaves the others' draws unchanged).
    start
        First day (UTC midnight); the handbook starts on 2018-04-01.
    label_delay_s
        Seconds between a transaction and its label.
    scenarios
        Names of the scenarios switched on (see :data:`SCENARIOS`).
    rates
        Rates that differ from the catalogue's defaults, by scenario name.
    fraud_labels_only
        Write labels for fraud only, as a feed of chargebacks would.
    home_country, currency
        Country of every customer's account and currency of every amount.
    """

    customers: int = 5000
    terminals: int = 10000
    days: int = 183
    seed: int = 0
    start: date = date(2018, 4, 1)
    label_delay_s: int = 7 * 86400
    scenarios: frozenset[str] = HANDBOOK
    rates: Mapping[str, float] = field(default_factory=dict)
    fraud_labels_only: bool = False
    home_country: str = "BE"
    currency: str = "EUR"

    def __post_init__(self) -> None:
        for name in ("customers", "terminals", "days"):
            if getattr(self, name) < 1:
                raise SimulationConfigError(f"{name} must be at least 1")
        if self.seed < 0:
            raise SimulationConfigError("seed must be >= 0")
        if self.label_delay_s < 0:
            raise SimulationConfigError("label delay must be >= 0")
        if self.home_country not in COUNTRIES:
            raise SimulationConfigError(f"{self.home_country!r} is not an ISO 3166 country")
        if self.currency not in CURRENCIES:
            raise SimulationConfigError(f"{self.currency!r} is not an ISO 4217 currency")
        unknown = sorted((set(self.scenarios) | set(self.rates)) - set(SCENARIO_NAMES))
        if unknown:
            raise SimulationConfigError(
                f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIO_NAMES)}"
            )
        for name, value in self.rates.items():
            if not np.isfinite(value) or value < 0:
                raise SimulationConfigError(f"rate of {name!r} must be a number >= 0")
            if SCENARIO_BY_NAME[name].share and value > 1:
                raise SimulationConfigError(f"rate of {name!r} is a share: it must be <= 1")
        object.__setattr__(self, "scenarios", frozenset(self.scenarios))
        object.__setattr__(self, "rates", dict(self.rates))

    def enabled(self, name: str) -> bool:
        """Whether scenario ``name`` is switched on."""
        return name in self.scenarios

    def rate(self, name: str) -> float:
        """The rate of scenario ``name``: the configured one, else the catalogue's default."""
        return float(self.rates.get(name, SCENARIO_BY_NAME[name].rate))

    def rng(self, stream: str) -> np.random.Generator:
        """The random generator of one named part of the run, derived from the seed."""
        key = zlib.crc32(stream.encode())
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))

    @property
    def start_epoch(self) -> int:
        """Epoch seconds of the first day's UTC midnight."""
        return int(
            datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp()
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for ``summary.json``)."""
        return {
            "customers": self.customers,
            "terminals": self.terminals,
            "days": self.days,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "label_delay_s": self.label_delay_s,
            "scenarios": [name for name in SCENARIO_NAMES if name in self.scenarios],
            "rates": {name: self.rate(name) for name in SCENARIO_NAMES if name in self.scenarios},
            "fraud_labels_only": self.fraud_labels_only,
            "home_country": self.home_country,
            "currency": self.currency,
        }
