"""The anomaly model: half-space trees and per-customer behaviour, one calibrated score.

Unsupervised: it learns from every transaction, labels or not. For each transaction it asks
how surprising several things are, each against the recent traffic:

- the trees: :class:`~models.hst.HalfSpaceTrees` (the same kernels) over every feature,
  each feature first turned into its percentile among recent values (the trees expect [0, 1]);
- the customer's behaviour, from the feature store's per-customer features
  (:data:`BEHAVIOUR`): the amount against the customer's own history, velocity, a new device,
  a new country; and the transaction's plain size and its terminal's fraud history.

Each of these is a surprise ``-log P(value at least this high)`` under an online histogram
of recent values; the surprises are combined by a soft maximum (log-sum-exp: one very unusual
aspect is enough), and ``anomaly_score`` is the percentile of that combination among recent
transactions: 0.99 means more unusual than 99 % of recent traffic, whatever the features.
:meth:`AnomalyModel.explain` names the most surprising aspects (reason codes).

>>> model = AnomalyModel(n_trees=5, height=4, window_size=50, seed=1)
>>> for i in range(2000):
...     x = {"amount": 20.0 + i % 30, "cust_amount_mean_30d": 30.0, "cust_count_1h": 1.0}
...     _ = model.score_learn_one(x)
>>> usual = {"amount": 30.0, "cust_amount_mean_30d": 30.0, "cust_count_1h": 1.0}
>>> odd = {"amount": 900.0, "cust_amount_mean_30d": 30.0, "cust_count_1h": 1.0}
>>> model.score_one(odd) > 0.99 > model.score_one(usual)
True
>>> model.explain(odd)[0][0]
'large_amount'
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from models import anomaly_kernels as k
from models.base import FeatureIndex, Features, FloatArray, OnlineModel
from models.hst import build_trees

#: Behaviour component -> (feature, divided by (feature * per + 1) or None, per).
BEHAVIOUR: Mapping[str, tuple[str, str | None, float]] = {
    "large_amount": ("amount", None, 0.0),
    "amount_vs_history": ("amount", "cust_amount_mean_30d", 1.0),
    "amount_zscore": ("cust_amount_zscore_30d", None, 0.0),
    "velocity_1h": ("cust_count_1h", None, 0.0),
    "velocity_1d": ("cust_count_1d", "cust_count_30d", 1.0 / 30.0),
    "new_device": ("cust_new_device", None, 0.0),
    "new_country": ("cust_new_country_90d", None, 0.0),
    "terminal_fraud_history": ("term_fraud_rate_30d", None, 0.0),
}
#: The name of the trees' surprise in :meth:`AnomalyModel.explain`.
TREES = "half_space_trees"


class AnomalyModel(OnlineModel):
    """Half-space trees and behaviour surprises, combined into one calibrated score.

    Parameters
    ----------
    n_trees, height, window_size, seed
        The half-space trees (see :class:`~models.hst.HalfSpaceTrees`).
    per_octave
        Histogram bins per octave of ``|value|``.
    decay
        Each transaction multiplies the weight of the past in the histograms by this.
    tree_weight
        Weight of the trees' surprise in the combination.
    weights
        Weight of each behaviour component (``BEHAVIOUR``'s names); 1 when not given, 0 turns
        a component off.
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        seed: int | None = None,
        per_octave: int = 8,
        decay: float = 0.99999,
        tree_weight: float = 2.0,
        weights: Mapping[str, float] | None = None,
        trees_on: Literal["behaviour", "features"] = "behaviour",
    ) -> None:
        unknown = set(weights or {}) - set(BEHAVIOUR)
        if unknown:
            raise ValueError(f"unknown behaviour components {sorted(unknown)}")
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.per_octave = per_octave
        self.decay = decay
        self.tree_weight = tree_weight
        self.weights = dict(weights) if weights is not None else None
        self.trees_on = trees_on
        self.index = FeatureIndex()
        self._rng = random.Random(seed)
        octaves = 32
        self._config = np.array(
            [per_octave, octaves, decay, tree_weight, 0.0, trees_on == "behaviour"],
            dtype=np.float64,
        )
        self._bins = k.n_bins(per_octave, octaves)
        self._names = list(BEHAVIOUR)
        given = self.weights or {}
        self._weights = np.array([given.get(name, 1.0) for name in self._names])
        self._per = np.array([BEHAVIOUR[name][2] for name in self._names])
        self._numerator = np.full(len(self._names), -1, dtype=np.int64)
        self._denominator = np.full(len(self._names), -1, dtype=np.int64)
        rows = len(self._names) + 2
        self._tree = np.zeros((rows, self._bins + 1))
        self._totals = np.zeros(rows)
        self._scale = np.ones(1)
        self._feature = np.zeros((n_trees, 2**height - 1), dtype=np.int32)
        self._threshold = np.zeros((n_trees, 2**height - 1))
        self._mass = np.zeros((n_trees, 2 ** (height + 1) - 1, 3), dtype=np.int32)
        self._state = np.array([0, 0, height, window_size], dtype=np.int64)

    def _learn_names(self, x: Features) -> None:
        """New features get a histogram; components find their columns; trees are drawn."""
        if not self.index.learn(x):
            return
        extra = len(self._names) + 2 + len(self.index) - self._tree.shape[0]
        self._tree = np.concatenate([self._tree, np.zeros((extra, self._bins + 1))])
        self._totals = np.concatenate([self._totals, np.zeros(extra)])
        columns = self.index.columns
        for c, name in enumerate(self._names):
            numerator, denominator, _ = BEHAVIOUR[name]
            self._numerator[c] = columns.get(numerator, -1)
            self._denominator[c] = columns.get(denominator, -1) if denominator else -1
        if self._config[k.TREE_FEATURES] == 0:  # drawn on the first event's features
            inputs = self._names if self.trees_on == "behaviour" else self.index.names
            limits = dict.fromkeys(inputs, (0.0, 1.0))
            self._feature, self._threshold = build_trees(
                limits, self.n_trees, self.height, self._rng
            )
            self._config[k.TREE_FEATURES] = len(limits)

    def _run(self, rows: FloatArray, learn: bool) -> tuple[FloatArray, FloatArray]:
        surprises = np.zeros((rows.shape[0], len(self._names) + 1))
        scores = k.score_rows(
            np.ascontiguousarray(rows, dtype=np.float64),
            learn,
            self._numerator,
            self._denominator,
            self._per,
            self._weights,
            self._tree,
            self._totals,
            self._scale,
            self._config,
            self._feature,
            self._threshold,
            self._mass,
            self._state,
            surprises,
        )
        return scores, surprises

    def surprises(self, xs: Sequence[Features], learn: bool) -> tuple[FloatArray, FloatArray]:
        """Scores of ``xs`` and, per event, the surprise of each aspect (:attr:`aspects`).

        With ``learn``, each event is scored and then learnt, in order.
        """
        if not learn:
            return self._run(self.index.matrix(xs), learn=False)
        scores = np.zeros(len(xs))
        surprises = np.zeros((len(xs), len(self._names) + 1))
        start = 0
        for i, x in enumerate(xs):  # a new feature: learn what came before it first
            if not x.keys() <= self.index.columns.keys():
                if i > start:
                    found = self._run(self.index.matrix(xs[start:i]), learn=True)
                    scores[start:i], surprises[start:i] = found
                self._learn_names(x)
                start = i
        if start < len(xs):
            scores[start:], surprises[start:] = self._run(self.index.matrix(xs[start:]), True)
        return scores, surprises

    @property
    def aspects(self) -> list[str]:
        """Names of the surprises: the behaviour components, then the trees."""
        return [*self._names, TREES]

    def score_one(self, x: Features) -> float:
        return float(self._run(self.index.row(x)[None, :], learn=False)[0][0])

    def score_learn_one(self, x: Features) -> float:
        """``score_one(x)`` then ``learn_one(x)``, in one pass."""
        return float(self.surprises([x], learn=True)[0][0])

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        self.surprises([x], learn=True)

    def score_many(self, xs: Sequence[Features]) -> FloatArray:
        return self.surprises(xs, learn=False)[0]

    def score_learn_many(self, xs: Sequence[Features]) -> FloatArray:
        """Score each event with the model as it stands, then learn it (a prequential batch)."""
        return self.surprises(xs, learn=True)[0]

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        self.surprises(xs, learn=True)

    def explain(self, x: Features, k: int = 3) -> list[tuple[str, float]]:
        """The (at most ``k``) most surprising aspects of ``x``: name, surprise (nats)."""
        surprises = self._run(self.index.row(x)[None, :], learn=False)[1][0]
        named = zip(self.aspects, surprises.tolist(), strict=True)
        ranked = sorted(((s, name) for name, s in named if s > 0.0), reverse=True)
        return [(name, s) for s, name in ranked[:k]]
