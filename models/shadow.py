"""Champion and challenger: a second model scores in shadow, recorded and compared, never used.

On the scorer's side, :class:`ShadowScorer` scores each transaction with both and returns both
scores with their versions (the decision acts on the champion's only and records the other).
On the learner's side, :class:`ChallengerTrial` teaches both models the same labels and keeps
their prequential record (each label scored by both before either learns it): log loss, Brier
score and ROC AUC over the labels seen, so that a challenger can be promoted on evidence.

>>> from models.fraud import FraudModel
>>> trial = ChallengerTrial(FraudModel("ftrl"), FraudModel("logistic", seed=1))
>>> for i in range(300):
...     trial.learn_one({"amount": float(i % 40)}, i % 40 > 35)
>>> sorted(trial.report())
['challenger', 'champion', 'labels']
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from events.metrics import Metrics
from models.base import Features, OnlineModel
from models.evaluation import roc_auc
from models.registry import LiveModel


@dataclass(frozen=True, slots=True)
class ShadowScore:
    """The champion's score (acted upon) and the challenger's (recorded only)."""

    score: float
    version: str
    shadow_score: float | None = None
    shadow_version: str | None = None


class ShadowScorer:
    """Scores with the champion, and with the challenger in shadow when there is one."""

    def __init__(
        self,
        champion: LiveModel[Any],
        challenger: LiveModel[Any] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.metrics = metrics
        self.compared = 0
        self.total_gap = 0.0

    def score_one(self, x: Features) -> ShadowScore:
        """Both scores of ``x``; only ``score`` may be acted upon."""
        version, model = self.champion.get()
        score = model.score_one(x)
        label = f"{self.champion.role}:v{version}"
        if self.challenger is None:
            return ShadowScore(score, label)
        shadow_version, shadow = self.challenger.get()
        shadow_score = shadow.score_one(x)
        self.compared += 1
        self.total_gap += abs(score - shadow_score)
        if self.metrics is not None:
            self.metrics.shadow_scores.labels(role=self.champion.role).inc()
        return ShadowScore(score, label, shadow_score, f"{self.challenger.role}:v{shadow_version}")

    @property
    def mean_gap(self) -> float:
        """Mean absolute difference between the two scores so far."""
        return self.total_gap / self.compared if self.compared else 0.0


@dataclass
class _Record:
    window: int
    log_loss: float = 0.0
    brier: float = 0.0
    scores: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.scores = deque(maxlen=self.window)

    def add(self, p: float, y: bool) -> None:
        q = min(max(p, 1e-12), 1.0 - 1e-12)
        self.log_loss -= math.log(q if y else 1.0 - q)
        self.brier += (p - float(y)) ** 2
        self.scores.append(p)


class ChallengerTrial:
    """Teach the champion and the challenger the same labels; keep both records.

    Log loss and Brier score are over every label; ROC AUC over the last ``window``.
    """

    def __init__(
        self, champion: OnlineModel, challenger: OnlineModel, window: int = 100_000
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.seen = 0
        self._labels: deque[bool] = deque(maxlen=window)
        self._records = {"champion": _Record(window), "challenger": _Record(window)}

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        """Score ``x`` with both (their record), then teach both."""
        label = bool(y)
        self._records["champion"].add(self.champion.score_one(x), label)
        self._records["challenger"].add(self.challenger.score_one(x), label)
        self._labels.append(label)
        self.seen += 1
        self.champion.learn_one(x, label)
        self.challenger.learn_one(x, label)

    def report(self) -> dict[str, Any]:
        """Labels seen, and each model's mean log loss, Brier score and ROC AUC on them."""
        n = self.seen
        out: dict[str, Any] = {"labels": n}
        for name, record in self._records.items():
            out[name] = {
                "log_loss": record.log_loss / n if n else float("nan"),
                "brier": record.brier / n if n else float("nan"),
                "roc_auc": roc_auc(np.array(self._labels), np.array(record.scores))
                if n
                else float("nan"),
            }
        return out
