"""Simulated analysts for ``verdict backtest --feedback K``: a risk team labelling alerts.

The setting in which published work shows the biggest gains from combining analyst feedback
with delayed labels (Dal Pozzolo et al., "Credit card fraud detection: a realistic modeling and
a novel learning strategy"): each day the ``K`` most suspicious alerts get their true label one
hour after the decision, the other transactions wait for the delayed labels.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Final

from events.outputs import Decision
from events.records import Label
from replay.quality import DAY_S, Truth

#: How long after a decision an analyst's verdict on it is known (``--feedback``).
ANALYST_DELAY_S: Final = 3600.0


class Analysts:
    """A risk team investigating ``per_day`` alerts a day, the most suspicious first.

    Whether an alert will be among its day's ``K`` most suspicious depends on alerts still to
    come, which depend on what the models learn from these very investigations; so the team
    works to a bar, as a real one does: an alert (a decision that is not ``approve``) is
    investigated when its ``fraud_score`` is at least the ``K``-th highest of the previous
    day's alerts, while the day's ``K`` investigations last (no bar on the first day). Its true
    label (``source`` ``analyst``) is known ``delay_s`` after the decision; the other
    transactions wait for the labels file.

    Parameters
    ----------
    per_day
        Investigations a day (``K``).
    truth
        Where the analysts find the truth (the labels file's).
    delay_s
        Time from the decision to the analyst's label.
    """

    def __init__(self, per_day: int, truth: Truth, delay_s: float = ANALYST_DELAY_S) -> None:
        if per_day < 1:
            raise ValueError("analysts investigate at least one alert a day")
        self.per_day = per_day
        self.truth = truth
        self.delay_s = delay_s
        self.labels = 0
        self.frauds = 0
        self._day: int | None = None
        self._left = per_day
        self._bar = -math.inf
        self._top: list[float] = []  # the day's highest alert scores (a min-heap of K)
        self._due: list[tuple[float, int, Label]] = []
        self._order = itertools.count()

    def review(self, decisions: Iterable[Decision]) -> None:
        """Queue the investigations of these decisions' alerts."""
        for decision in decisions:
            if decision.outcome == "approve":
                continue
            day = math.floor(decision.ts / DAY_S)
            if day != self._day:
                self._bar = self._top[0] if len(self._top) == self.per_day else -math.inf
                self._day, self._left, self._top = day, self.per_day, []
            score = decision.fraud_score
            if len(self._top) < self.per_day:
                heapq.heappush(self._top, score)
            elif score > self._top[0]:
                heapq.heapreplace(self._top, score)
            if self._left and score >= self._bar:
                self._left -= 1
                self._investigate(decision)

    def _investigate(self, decision: Decision) -> None:
        fraud = self.truth.is_fraud(decision.tx_id)
        label = Label(
            tx_id=decision.tx_id,
            is_fraud=fraud,
            ts=decision.ts + self.delay_s,
            source="analyst",
            customer_id=decision.customer_id,
        )
        heapq.heappush(self._due, (label.ts, next(self._order), label))
        self.labels += 1
        self.frauds += fraud

    @property
    def next_due(self) -> float:
        """When the next queued verdict is known (infinity when none is queued)."""
        return self._due[0][0] if self._due else math.inf

    def due(self, before: float = math.inf) -> Iterator[Label]:
        """The verdicts known strictly before ``before``, in time order."""
        while self._due and self._due[0][0] < before:
            yield heapq.heappop(self._due)[2]
