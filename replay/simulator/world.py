"""The world one run takes place in: population, identifiers, calendar, shared merchant pools.

Every scenario receives the same :class:`World`, so that they all agree on what a day, a
month, the home country and a web merchant are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from replay.simulator.config import SimulationConfig
from replay.simulator.population import Population, build_population
from replay.simulator.table import COUNTRY_CODES, DESTINATIONS, Names

DAY: Final = 86400
#: Size of each merchant pool: foreign terminals per country, web merchants.
_POOL_SIZES: Final = {"web": 200, "foreign": 200}


@dataclass
class World:
    """Shared state of one run.

    Attributes
    ----------
    config, population
        What was asked for and who lives in it.
    names
        The identifier vocabulary; codes ``0 .. terminals - 1`` are the handbook's terminals.
    home
        Country code (into :data:`~replay.simulator.table.COUNTRY_CODES`) of every customer.
    destinations
        Country codes abroad (:data:`~replay.simulator.table.DESTINATIONS` without home).
    """

    config: SimulationConfig
    population: Population
    names: Names
    home: int
    destinations: NDArray[np.int16]
    _pools: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def build(cls, config: SimulationConfig) -> World:
        """The population of ``config`` and the handbook's terminals."""
        names = Names()
        names.serial("t", config.terminals, width=max(5, len(str(config.terminals - 1))))
        home_name = config.home_country
        return cls(
            config=config,
            population=build_population(config),
            names=names,
            home=COUNTRY_CODES.index(home_name),
            destinations=np.array(
                [COUNTRY_CODES.index(c) for c in DESTINATIONS if c != home_name], dtype=np.int16
            ),
        )

    @property
    def start_epoch(self) -> int:
        """Epoch seconds of the first day's midnight (UTC)."""
        return self.config.start_epoch

    @property
    def end_epoch(self) -> int:
        """Epoch seconds just after the last day."""
        return self.config.start_epoch + self.config.days * DAY

    def pool(self, kind: str, count: int | None = None) -> tuple[int, int]:
        """The ``(first code, size)`` of a named pool of merchants, made on first use.

        ``kind`` is ``web`` (online merchants), ``foreign:CC`` (terminals in country ``CC``),
        ``hospital`` or ``employer``; ``count`` sizes a pool on first use.
        """
        if kind not in self._pools:
            size = count or _POOL_SIZES[kind.split(":", maxsplit=1)[0]]
            prefix = {"web": "w", "hospital": "h", "employer": "e"}.get(kind)
            if prefix is None:  # foreign terminals: the country is part of the identifier
                prefix = "t" + kind.split(":")[1]
            self._pools[kind] = (self.names.serial(prefix, size, width=4), size)
        return self._pools[kind]

    def day_dates(self) -> NDArray[np.datetime64]:
        """The date of each day of the run."""
        start = np.datetime64(self.config.start.isoformat(), "D")
        return start + np.arange(self.config.days)

    def day_of_month(self) -> NDArray[np.int64]:
        """The day of the month (1-31) of each day of the run."""
        dates = self.day_dates()
        since_first = dates - dates.astype("datetime64[M]").astype("datetime64[D]")
        day: NDArray[np.int64] = since_first.astype(np.int64) + 1
        return day

    def full_months(self) -> list[NDArray[np.int64]]:
        """The day indices of each calendar month the run covers from its first to last day."""
        dates = self.day_dates()
        months = dates.astype("datetime64[M]")
        result: list[NDArray[np.int64]] = []
        for month in np.unique(months):
            days = np.flatnonzero(months == month).astype(np.int64)
            first = dates[days[0]]
            after_last = dates[days[-1]] + 1
            if (
                first == month.astype("datetime64[D]")
                and after_last.astype("datetime64[M]") != month
            ):
                result.append(days)
        return result


@dataclass(frozen=True)
class DaySpans:
    """Values that (entity, day) pairs hold over spans of days, without an entity x day matrix.

    Where spans of one entity overlap, the later span's value wins.

    >>> spans = DaySpans.build(
    ...     entity=np.array([4, 4]), first_day=np.array([1, 2]), length=np.array([3, 1]),
    ...     value=np.array([7, 9]), days=10)
    >>> spans.at(np.array([4, 4, 4, 4, 4, 5]), np.array([0, 1, 2, 3, 4, 1])).tolist()
    [-1, 7, 9, 7, -1, -1]
    """

    keys: NDArray[np.int64]
    values: NDArray[np.int64]
    days: int

    @classmethod
    def build(
        cls,
        entity: NDArray[np.integer[Any]],
        first_day: NDArray[np.integer[Any]],
        length: NDArray[np.integer[Any]],
        value: NDArray[np.integer[Any]],
        days: int,
    ) -> DaySpans:
        """Spans: ``entity[i]`` holds ``value[i]`` on days ``first_day[i] .. + length[i] - 1``."""
        span = np.repeat(np.arange(len(entity)), length)
        offset = np.arange(len(span)) - np.repeat(np.cumsum(length) - length, length)
        day = first_day[span] + offset
        inside = day < days
        keys = (entity[span].astype(np.int64) * days + day)[inside][::-1]
        values = value[span].astype(np.int64)[inside][::-1]
        unique, first = np.unique(keys, return_index=True)  # first of reversed = last span
        return cls(unique, values[first], days)

    def at(
        self, entity: NDArray[np.integer[Any]], day: NDArray[np.integer[Any]]
    ) -> NDArray[np.int64]:
        """The value each ``(entity, day)`` holds, ``-1`` where none."""
        key = entity.astype(np.int64) * self.days + day
        if not len(self.keys):
            return np.full(len(key), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        found: NDArray[np.int64] = np.where(self.keys[pos] == key, self.values[pos], -1)
        return found
