"""FTRL-proximal logistic regression, compiled with numba: the default fraud learner.

A linear model on a rich, fixed encoding of each feature (standardised log value, missing
flag, coarse and fine log-scale bins: see :mod:`models.ftrl_kernels`), trained online with
per-coordinate learning rates and L1/L2 regularisation (McMahan et al., "Ad click prediction:
a view from the trenches", KDD 2013). Rare positives are weighed up (:mod:`models.imbalance`).
Its output is a raw probability; :class:`models.fraud.FraudModel` calibrates it. Each feature's
share of the logit is its attribution (:meth:`FTRLClassifier.contributions`).

>>> model = FTRLClassifier()
>>> for i in range(300):
...     model.learn_one({"amount": float(i % 50), "is_night": float(i % 2)}, i % 50 > 40)
>>> model.score_one({"amount": 45.0, "is_night": 0.0}) > 0.5 > model.score_one({"amount": 5.0})
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models import ftrl_kernels as k
from models.base import FeatureIndex, Features, FloatArray, OnlineModel, check_label
from models.calibration import sigmoid
from models.imbalance import ClassWeight, ClassWeights


class FTRLClassifier(OnlineModel):
    """Online logistic regression by FTRL-proximal on binned and standardised features.

    Parameters
    ----------
    alpha, beta
        Per-coordinate learning rate ``alpha / (beta + sqrt(sum of squared gradients))``.
    l1, l2
        Regularisation (L1 makes unused bins exactly zero).
    coarse, fine
        Bins per octave of ``|value|`` at the two resolutions.
    octaves
        Octaves covered by the bins (values beyond fall in the end bins).
    decay
        Forgetting factor of the running mean and variance of each feature.
    class_weight
        ``"balanced"`` or the fixed weight of a positive label.
    max_positive_weight
        Cap of a positive's weight under ``"balanced"``.
    """

    supervised = True

    def __init__(
        self,
        alpha: float = 0.2,
        beta: float = 1.0,
        l1: float = 0.1,
        l2: float = 1.0,
        coarse: int = 2,
        fine: int = 8,
        octaves: int = 24,
        decay: float = 0.99999,
        class_weight: ClassWeight = 3.0,
        max_positive_weight: float = 20.0,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.l1 = l1
        self.l2 = l2
        self.coarse = coarse
        self.fine = fine
        self.octaves = octaves
        self.decay = decay
        self.class_weight = class_weight
        self.max_positive_weight = max_positive_weight
        self.index = FeatureIndex()
        self.weights = ClassWeights(class_weight, cap=max_positive_weight)
        self._block = k.block_size(coarse, fine, octaves)
        self._config = np.array(
            [alpha, beta, l1, l2, coarse, fine, octaves, decay], dtype=np.float64
        )
        self._z = np.zeros(1)
        self._n = np.zeros(1)
        self._stats = np.zeros((0, 3))

    def _grow(self) -> None:
        """Give the features the index gained their blocks of weights and their statistics."""
        width = len(self.index)
        have = self._stats.shape[0]
        if width == have:
            return
        extra = (width - have) * self._block
        self._z = np.concatenate([self._z, np.zeros(extra)])
        self._n = np.concatenate([self._n, np.zeros(extra)])
        self._stats = np.concatenate([self._stats, np.zeros((width - have, 3))])

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self._z, self._n, self._stats, self._config

    def logit_one(self, x: Features) -> float:
        """The raw logit of ``x``."""
        return float(k.logit_rows(self.index.row(x)[None, :], *self._arrays())[0])

    def score_one(self, x: Features) -> float:
        return sigmoid(self.logit_one(x))

    def score_many(self, xs: Sequence[Features]) -> FloatArray:
        logits = k.logit_rows(self.index.matrix(xs), *self._arrays())
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -500.0, 500.0)))

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        label = check_label(self, y)
        if not x.keys() <= self.index.columns.keys():
            self.index.learn(x)
            self._grow()
        weight = self.weights.weight(label)
        self.weights.update(label)
        row = self.index.row(x)[None, :]
        k.learn_rows(row, np.array([float(label)]), np.array([weight]), *self._arrays())

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        self._learn_all(xs, ys)

    def learn_scored_many(
        self, xs: Sequence[Features], ys: Sequence[bool] | None = None
    ) -> list[float]:
        """:meth:`learn_many`, returning what :meth:`score_one` said of each event just before
        its own step (one compiled pass, where a calibrator needs the score and then the step
        one event at a time)."""
        return [sigmoid(logit) for logit in self._learn_all(xs, ys)]

    def _learn_all(self, xs: Sequence[Features], ys: Sequence[bool] | None) -> list[float]:
        """Learn ``xs`` in order, the index growing with new features; each one's logit just
        before its step."""
        if ys is None or len(ys) != len(xs):
            raise ValueError(f"{type(self).__name__} needs one label per event")
        logits: list[float] = []
        start = 0
        for i, x in enumerate(xs):  # a feature is missing only from the events after its first
            if not x.keys() <= self.index.columns.keys():
                logits += self._learn_chunk(xs[start:i], ys[start:i])
                self.index.learn(x)
                self._grow()
                start = i
        logits += self._learn_chunk(xs[start:], ys[start:])
        return logits

    def _learn_chunk(self, xs: Sequence[Features], ys: Sequence[bool]) -> list[float]:
        """Learn ``xs`` in order; the logit of each just before its step."""
        if not xs:
            return []
        labels = np.asarray(ys, dtype=np.float64)
        sample_weights = np.array(self.weights.weigh_all(ys), dtype=np.float64)
        before = k.learn_rows(self.index.matrix(xs), labels, sample_weights, *self._arrays())
        logits: list[float] = before.tolist()
        return logits

    def contributions(self, x: Features) -> dict[str, float]:
        """Each known feature's share of the logit of ``x`` (the intercept left out)."""
        shares = k.contributions(self.index.row(x), *self._arrays())
        return dict(zip(self.index.names, shares.tolist(), strict=True))
