"""The models of one decision, in order: anomaly first, then fraud fed the anomaly's surprises.

The anomaly model learns from every transaction as it is scored; its score and the surprise of
each aspect (amount against history, trees...) are added to the features the fraud model sees
(``anomaly_score``, ``anomaly_<aspect>``). The trees find combinations a linear learner cannot
express, so the fraud model gains from them (see ``benchmarks/results/models.md``). When a
label arrives, the snapshot of the decision's features gets the anomaly features the anomaly
model gives it now (days later: close to, not exactly, those of the decision).

>>> from models.anomaly import AnomalyModel
>>> from models.fraud import FraudModel
>>> suite = ModelSuite(AnomalyModel(n_trees=3, height=3, window_size=20, seed=1), FraudModel())
>>> for i in range(300):
...     x = {"amount": float(10 + i % 40), "cust_amount_mean_30d": 30.0}
...     scores = suite.decide(x)
...     suite.learn_one(x, i % 40 > 37)
>>> 0.0 <= scores.fraud_score <= 1.0 and 0.0 <= scores.anomaly_score <= 1.0
True
>>> sorted(suite.augment({"amount": 10.0}))[:2]
['amount', 'anomaly_amount_vs_history']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.anomaly import AnomalyModel
from models.base import Features, FloatArray, OnlineModel, check_label
from models.fraud import Attribution, FraudModel
from models.settings import ModelSettings

#: Prefix of the features the anomaly model adds for the fraud model.
PREFIX = "anomaly_"


@dataclass(frozen=True, slots=True)
class Scores:
    """What the models say about one transaction."""

    fraud_score: float
    anomaly_score: float
    reasons: tuple[Attribution, ...] = ()
    anomaly_reasons: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class BatchScores:
    """What the models say about a batch, each event as it was scored (before it was learnt).

    Attributes
    ----------
    fraud, anomaly
        The scores.
    surprises
        One row per event: the surprise of each aspect (``AnomalyModel.aspects``).
    seen
        The features the fraud model scored (with the anomaly features, when stacked).
    """

    fraud: FloatArray
    anomaly: FloatArray
    surprises: FloatArray
    seen: list[Features]


class ModelSuite(OnlineModel):
    """Anomaly and fraud models of one decision; as an ``OnlineModel``, the fraud side.

    ``score_one``/``learn_one`` are the fraud model's, on features augmented by the anomaly
    model (which does not learn from them); :meth:`decide` is the per-transaction path, where
    the anomaly model also learns.

    Parameters
    ----------
    anomaly, fraud
        The two models.
    stack
        Whether the fraud model sees the anomaly features.
    """

    supervised = True

    def __init__(self, anomaly: AnomalyModel, fraud: FraudModel, stack: bool = True) -> None:
        self.anomaly = anomaly
        self.fraud = fraud
        self.stack = stack

    @classmethod
    def from_settings(cls, settings: ModelSettings, learner: str | None = None) -> ModelSuite:
        """The suite the settings describe (``learner`` overrides the fraud learner's name,
        e.g. to build the challenger)."""
        anomaly = AnomalyModel(
            n_trees=settings.anomaly_trees,
            height=settings.anomaly_height,
            window_size=settings.anomaly_window,
            seed=settings.anomaly_seed,
        )
        fraud = FraudModel(
            learner=learner or settings.fraud_learner,
            calibrator=settings.fraud_calibrator,
            class_weight=settings.fraud_class_weight,
            max_positive_weight=settings.fraud_max_positive_weight,
            seed=settings.fraud_seed,
            top_k=settings.attributions,
        )
        return cls(anomaly, fraud)

    def clone(self, **overrides: object) -> ModelSuite:
        params = {"anomaly": self.anomaly.clone(), "fraud": self.fraud.clone(), "stack": self.stack}
        return ModelSuite(**(params | overrides))  # type: ignore[arg-type]

    def _merge(
        self, xs: Sequence[Features], scores: FloatArray, surprises: FloatArray
    ) -> list[Features]:
        if not self.stack:
            return list(xs)
        names = [PREFIX + "score", *(PREFIX + a for a in self.anomaly.aspects)]
        extra = np.column_stack([scores, surprises]).tolist()
        return [
            {**x, **dict(zip(names, row, strict=True))} for x, row in zip(xs, extra, strict=True)
        ]

    def augment(self, x: Features) -> Features:
        """``x`` with the anomaly features (the anomaly model does not learn)."""
        scores, surprises = self.anomaly.surprises([x], learn=False)
        return self._merge([x], scores, surprises)[0]

    def decide(self, x: Features, explain: bool = False) -> Scores:
        """Score one transaction with both models; the anomaly model learns it."""
        scores, surprises = self.anomaly.surprises([x], learn=True)
        seen = self._merge([x], scores, surprises)[0]
        reasons: tuple[Attribution, ...] = ()
        anomaly_reasons: tuple[tuple[str, float], ...] = ()
        if explain:
            reasons = tuple(self.fraud.explain(seen))
            ranked = sorted(zip(surprises[0].tolist(), self.anomaly.aspects, strict=True))[::-1]
            anomaly_reasons = tuple((name, s) for s, name in ranked[:3] if s > 0)
        return Scores(self.fraud.score_one(seen), float(scores[0]), reasons, anomaly_reasons)

    def decide_many(self, xs: Sequence[Features]) -> tuple[FloatArray, FloatArray]:
        """Fraud and anomaly scores of a batch; the anomaly model learns each in order."""
        batch = self.decide_batch(xs)
        return batch.fraud, batch.anomaly

    def decide_batch(self, xs: Sequence[Features]) -> BatchScores:
        """:meth:`decide_many`, with what each score was computed from (to explain it)."""
        scores, surprises = self.anomaly.surprises(xs, learn=True)
        seen = self._merge(xs, scores, surprises)
        return BatchScores(self.fraud.score_many(seen), scores, surprises, seen)

    def score_one(self, x: Features) -> float:
        return self.fraud.score_one(self.augment(x))

    def score_many(self, xs: Sequence[Features]) -> FloatArray:
        scores, surprises = self.anomaly.surprises(xs, learn=False)
        return self.fraud.score_many(self._merge(xs, scores, surprises))

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        self.fraud.learn_one(self.augment(x), check_label(self, y))

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        if ys is None or len(ys) != len(xs):
            raise ValueError("the fraud side needs one label per event")
        scores, surprises = self.anomaly.surprises(xs, learn=False)
        self.fraud.learn_many(self._merge(xs, scores, surprises), ys)
