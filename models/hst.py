"""Half-Space Trees (Tan, Ting and Liu 2011) compiled with numba, faithful to river's.

Same parameters, same trees for the same seed (the trees are drawn with the same calls to the
same ``random.Random``), same masses, same scores as ``river.anomaly.HalfSpaceTrees``:

- the trees are built at the first ``learn_one``, on the features of that event (sorted by
  name), each split feature drawn with weight its range, each threshold uniform in the middle
  70 % of the range (padding 0.15); features are expected in ``limits``, [0, 1] by default;
- ``learn_one`` adds the event to the latest-window mass of its path in every tree; after
  ``window_size`` events the latest window becomes the reference window;
- ``score_one`` is 0 until the first window is complete, then 1 - (sum over trees and over the
  path of reference mass x 2**depth, stopping below a node with mass under 0.1 x window_size)
  / (n_trees x window_size x (2**(height+1) - 1)): high means anomalous;
- a feature missing from an event follows the child that the latest window used more; a
  feature that first appears after the trees are built is ignored (it has no split).

Differences, on purpose: NaN counts as missing (river sends NaN right), and the pivot between
windows happens node by node when a walk reaches it (see :mod:`models.hst_kernels`), which gives
river's masses at a fraction of the cost.

>>> hst = HalfSpaceTrees(n_trees=5, height=3, window_size=3, seed=42)
>>> for x in [0.5, 0.45, 0.43]:
...     hst.learn_one({"x": x})
>>> scores = []
>>> for x in [0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0]:
...     hst.learn_one({"x": x})
...     scores.append(round(hst.score_one({"x": x}), 3))
>>> scores
[0.107, 0.071, 0.107, 0.107, 0.107, 0.071, 0.853]
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from models import hst_kernels as k
from models.base import FeatureIndex, Features, FloatArray, OnlineModel

#: Share of a feature's range kept out of each split at both ends (river's value).
PADDING = 0.15


def build_trees(
    limits: Mapping[str, tuple[float, float]],
    n_trees: int,
    height: int,
    rng: random.Random,
) -> tuple[np.ndarray, np.ndarray]:
    """Split features (column numbers in ``limits``' order) and thresholds, heap order.

    Draws exactly as river's ``make_padded_tree`` does, so a ``random.Random`` in the same state
    gives the same trees. Returns two ``(n_trees, 2**height - 1)`` arrays.
    """
    names = list(limits)
    column = {name: j for j, name in enumerate(names)}
    n_internal = 2**height - 1
    feature = np.zeros((n_trees, max(n_internal, 1)), dtype=np.int32)
    threshold = np.zeros((n_trees, max(n_internal, 1)), dtype=np.float64)

    def grow(t: int, node: int, levels: int, bounds: dict[str, tuple[float, float]]) -> None:
        if levels == 0:
            return
        weights = [bounds[name][1] - bounds[name][0] for name in names]
        on = rng.choices(population=names, weights=weights)[0]
        low, high = bounds[on]
        at = rng.uniform(low + PADDING * (high - low), high - PADDING * (high - low))
        feature[t, node] = column[on]
        threshold[t, node] = at
        bounds[on] = (low, at)
        grow(t, 2 * node + 1, levels - 1, bounds)
        bounds[on] = (at, high)
        grow(t, 2 * node + 2, levels - 1, bounds)
        bounds[on] = (low, high)

    for t in range(n_trees):
        grow(t, 0, height, dict(limits))
    return feature, threshold


class HalfSpaceTrees(OnlineModel):
    """Half-Space Trees anomaly detector (unsupervised; see the module docstring).

    Parameters
    ----------
    n_trees
        Number of trees.
    height
        Height of each tree: ``height + 1`` levels, ``2**(height + 1) - 1`` nodes.
    window_size
        Events per window (the reference mass is the previous window's).
    limits
        Range of each feature; features not named are taken to lie in [0, 1].
    seed
        Seed of the trees' random draws; ``None`` draws from the system.
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        limits: Mapping[str, tuple[float, float]] | None = None,
        seed: int | None = None,
    ) -> None:
        if n_trees < 1 or height < 1 or window_size < 1:
            raise ValueError("n_trees, height and window_size must be at least 1")
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.limits = dict(limits) if limits is not None else None
        self.seed = seed
        self._rng = random.Random(seed)
        self.index = FeatureIndex()
        self._feature = np.zeros((n_trees, 2**height - 1), dtype=np.int32)
        self._threshold = np.zeros((n_trees, 2**height - 1), dtype=np.float64)
        self._mass = np.zeros((n_trees, 2 ** (height + 1) - 1, 3), dtype=np.int32)
        self._state = np.array([0, 0, height, window_size], dtype=np.int64)

    @property
    def built(self) -> bool:
        """Whether the trees exist (they are drawn at the first event learnt)."""
        return len(self.index) > 0

    @property
    def windows_completed(self) -> int:
        """Windows learnt so far; scores are 0 until the first one is complete."""
        return int(self._state[k.WINDOW])

    def build(self, x: Features) -> None:
        """Draw the trees on the features of ``x`` (the first ``learn_one`` does it)."""
        given = self.limits or {}
        limits = {name: tuple(given.get(name, (0.0, 1.0))) for name in sorted(x)}
        self._feature, self._threshold = build_trees(
            limits,  # type: ignore[arg-type]
            self.n_trees,
            self.height,
            self._rng,
        )
        self.index = FeatureIndex(limits)

    def score_one(self, x: Features) -> float:
        if not self.built:
            return 0.0
        return float(k.score_one(self.index.row(x), *self._arrays()))

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        if not self.built:
            if not x:
                return  # nothing to split on yet
            self.build(x)
        k.learn_one(self.index.row(x), *self._arrays())

    def score_many(self, xs: Sequence[Features]) -> FloatArray:
        if not self.built:
            return np.zeros(len(xs))
        return self.score_rows(self.index.matrix(xs))

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        if not self.built:
            first = next((i for i, x in enumerate(xs) if x), None)
            if first is None:
                return
            self.build(xs[first])
            xs = xs[first:]
        self.learn_rows(self.index.matrix(xs))

    def score_learn_one(self, x: Features) -> float:
        """``score_one(x)`` then ``learn_one(x)``, in one walk of the trees."""
        if not self.built:
            if not x:
                return 0.0
            self.build(x)
        return float(k.score_learn_one(self.index.row(x), *self._arrays()))

    def score_learn_many(self, xs: Sequence[Features]) -> FloatArray:
        """Score each event with the model as it stands, then learn it: a prequential batch.

        Gives what ``score_one(x); learn_one(x)`` in a loop gives, in one compiled call.
        """
        scores = np.zeros(len(xs))
        first = 0
        if not self.built:  # events before the first with features are not learnt
            found = next((i for i, x in enumerate(xs) if x), None)
            if found is None:
                return scores
            self.build(xs[found])
            first = found
        scores[first:] = self.score_learn_rows(self.index.matrix(xs[first:]))
        return scores

    # Array-level API: rows whose columns are ``self.index.names`` (NaN = missing).

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self._feature, self._threshold, self._mass, self._state

    def score_rows(self, rows: FloatArray) -> FloatArray:
        """Scores of ``rows`` (a matrix, columns in ``index`` order)."""
        return k.score_rows(np.ascontiguousarray(rows, dtype=np.float64), *self._arrays())

    def learn_rows(self, rows: FloatArray) -> None:
        """Learn ``rows`` (a matrix, columns in ``index`` order) in order."""
        k.learn_rows(np.ascontiguousarray(rows, dtype=np.float64), *self._arrays())

    def score_learn_rows(self, rows: FloatArray) -> FloatArray:
        """:meth:`score_learn_many` on rows whose columns are in ``index`` order."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        return k.score_learn_rows(rows, *self._arrays())

    def masses(self) -> tuple[np.ndarray, np.ndarray]:
        """The latest and reference mass of every node, as river would hold them now."""
        age = self._state[k.WINDOW] - self._mass[..., k.STAMP]
        latest = np.where(age == 0, self._mass[..., k.LATEST], 0)
        reference = np.where(
            age == 0, self._mass[..., k.REFERENCE], np.where(age == 1, self._mass[..., k.LATEST], 0)
        )
        return latest, reference
