"""Online calibrators: a model's raw score in, a probability that means what it says out.

A fraud model trained with class weights (fraud is rare) over-states the chance of fraud; a
policy threshold of 0.8 should mean "8 in 10 of these are fraud". A calibrator learns, from
each label as it arrives, the map from the model's raw score (as the model stood when the
label came) to the observed frequency. Both calibrators here are increasing in the raw score,
so calibration never reorders transactions (AUC and precision@k are unchanged).

A model whose raw score ``r`` means a chance ``r**2`` of fraud:

>>> import random
>>> rng = random.Random(0)
>>> platt, isotonic = PlattCalibrator(), IsotonicCalibrator()
>>> for _ in range(20000):
...     r = rng.random()
...     fraud = rng.random() < r * r
...     platt.learn_one(r, fraud)
...     isotonic.learn_one(r, fraud)
>>> [round(platt.calibrate(r), 2) for r in (0.3, 0.5, 0.9)]
[0.1, 0.24, 0.83]
>>> [round(isotonic.calibrate(r), 2) for r in (0.3, 0.5, 0.9)]
[0.09, 0.26, 0.8]
"""

from __future__ import annotations

import abc
import math

import numpy as np

from models.base import FloatArray

#: Raw scores are clipped this far from 0 and 1 before taking logits.
EPSILON = 1e-7


def logit(p: float) -> float:
    """log(p / (1 - p)), with p clipped away from 0 and 1."""
    p = min(max(p, EPSILON), 1.0 - EPSILON)
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    """1 / (1 + exp(-z)), without overflow."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Calibrator(abc.ABC):
    """Raw score in [0, 1] -> calibrated probability, learnt online from labels."""

    @abc.abstractmethod
    def calibrate(self, raw: float) -> float:
        """The probability for a raw score."""

    @abc.abstractmethod
    def learn_one(self, raw: float, y: bool, w: float = 1.0) -> None:
        """Learn that an event with this raw score turned out ``y``."""

    def calibrate_many(self, raw: FloatArray) -> FloatArray:
        """:meth:`calibrate` of each raw score."""
        return np.array([self.calibrate(float(r)) for r in raw], dtype=np.float64)


class IdentityCalibrator(Calibrator):
    """No calibration: the raw score is taken as the probability."""

    def calibrate(self, raw: float) -> float:
        return min(max(raw, 0.0), 1.0)

    def learn_one(self, raw: float, y: bool, w: float = 1.0) -> None:
        return None


class PlattCalibrator(Calibrator):
    """Platt scaling online: p = sigmoid(a * logit(raw) + b), fitted by online Newton steps.

    The 2x2 Hessian of the log loss is accumulated with a forgetting factor, so the fit
    follows a model that keeps learning; it starts at the identity (a = 1, b = 0) held with
    the weight of ``prior_weight`` events. The slope is kept positive, so the map increases.

    Parameters
    ----------
    forgetting
        Each new label multiplies the weight of the past by this (1 = never forget).
    prior_weight
        How many labels' worth of belief in the identity map to start from.
    """

    def __init__(self, forgetting: float = 0.9999, prior_weight: float = 20.0) -> None:
        if not 0.0 < forgetting <= 1.0 or prior_weight <= 0:
            raise ValueError("forgetting must be in (0, 1] and prior_weight positive")
        self.forgetting = forgetting
        self.prior_weight = prior_weight
        self.a = 1.0
        self.b = 0.0
        start = prior_weight * 0.25  # the Hessian of prior_weight labels at p = 1/2
        self._h = [start, 0.0, start]  # [aa, ab, bb] of the symmetric 2x2 Hessian

    def calibrate(self, raw: float) -> float:
        return sigmoid(self.a * logit(raw) + self.b)

    def calibrate_many(self, raw: FloatArray) -> FloatArray:
        clipped = np.clip(raw, EPSILON, 1.0 - EPSILON)
        z = self.a * np.log(clipped / (1.0 - clipped)) + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))

    def learn_one(self, raw: float, y: bool, w: float = 1.0) -> None:
        f = logit(raw)
        p = sigmoid(self.a * f + self.b)
        error = w * (p - float(y))
        curvature = w * max(p * (1.0 - p), 1e-6)
        keep = self.forgetting
        aa, ab, bb = self._h
        aa = aa * keep + curvature * f * f
        ab = ab * keep + curvature * f
        bb = bb * keep + curvature
        self._h = [aa, ab, bb]
        det = aa * bb - ab * ab
        if det <= 1e-12:
            return
        ga, gb = error * f, error
        self.a = min(max(self.a - (bb * ga - ab * gb) / det, 0.01), 100.0)
        self.b = min(max(self.b - (aa * gb - ab * ga) / det, -50.0), 50.0)


class IsotonicCalibrator(Calibrator):
    """Binned isotonic regression online: frequencies per raw-score bin, made increasing.

    Labels are counted in ``bins`` bins of equal width in logit space (with a forgetting
    factor); every ``refit_every`` labels the bins' smoothed frequencies are pooled into an
    increasing step function (pool adjacent violators), and a score is interpolated between bin
    centres. Ties a pooled block would create are broken by a tiny share of the raw score, so
    the order of transactions is kept.

    Parameters
    ----------
    bins
        Bins over logit(raw) in [-``span``, ``span``].
    span
        Half-width of the logit range covered; raw scores beyond it land in the end bins.
    forgetting
        Each new label multiplies the weight of the past by this.
    prior_weight
        Weight of each bin's prior (the identity map) in its frequency.
    refit_every
        Labels between two refits of the step function.
    """

    TIE_BREAK = 1e-4

    def __init__(
        self,
        bins: int = 48,
        span: float = 12.0,
        forgetting: float = 0.99995,
        prior_weight: float = 1.0,
        refit_every: int = 50,
    ) -> None:
        if bins < 2 or span <= 0 or refit_every < 1:
            raise ValueError("bins >= 2, span > 0 and refit_every >= 1 are needed")
        self.bins = bins
        self.span = span
        self.forgetting = forgetting
        self.prior_weight = prior_weight
        self.refit_every = refit_every
        width = 2.0 * span / bins
        self._centres = -span + width * (np.arange(bins) + 0.5)
        self._positives = np.zeros(bins)
        self._totals = np.zeros(bins)
        self._scale = 1.0  # lazy forgetting: counts are stored divided by the running decay
        self._since_fit = 0
        self._curve = 1.0 / (1.0 + np.exp(-self._centres))

    def _bin(self, z: float) -> int:
        j = int((z + self.span) * self.bins / (2.0 * self.span))
        return min(max(j, 0), self.bins - 1)

    def learn_one(self, raw: float, y: bool, w: float = 1.0) -> None:
        self._scale /= self.forgetting
        if self._scale > 1e100:  # renormalise before the stored counts lose precision
            self._positives /= self._scale
            self._totals /= self._scale
            self._scale = 1.0
        j = self._bin(logit(raw))
        self._totals[j] += w * self._scale
        if y:
            self._positives[j] += w * self._scale
        self._since_fit += 1
        if self._since_fit >= self.refit_every:
            self.refit()

    def refit(self) -> None:
        """Pool the bins' frequencies into an increasing curve now."""
        prior = 1.0 / (1.0 + np.exp(-self._centres))
        totals = self._totals / self._scale + self.prior_weight
        rates = (self._positives / self._scale + self.prior_weight * prior) / totals
        self._curve = pool_adjacent_violators(rates, totals)
        self._since_fit = 0

    def calibrate(self, raw: float) -> float:
        z = logit(raw)
        p = float(np.interp(z, self._centres, self._curve))
        return (1.0 - self.TIE_BREAK) * p + self.TIE_BREAK * min(max(raw, 0.0), 1.0)

    def calibrate_many(self, raw: FloatArray) -> FloatArray:
        clipped = np.clip(raw, EPSILON, 1.0 - EPSILON)
        z = np.log(clipped / (1.0 - clipped))
        p: FloatArray = np.interp(z, self._centres, self._curve)
        return (1.0 - self.TIE_BREAK) * p + self.TIE_BREAK * np.clip(raw, 0.0, 1.0)


def pool_adjacent_violators(values: FloatArray, weights: FloatArray) -> FloatArray:
    """The increasing sequence closest to ``values`` in weighted least squares.

    >>> pool_adjacent_violators(np.array([1.0, 3.0, 2.0, 4.0]), np.ones(4)).tolist()
    [1.0, 2.5, 2.5, 4.0]
    """
    means: list[float] = []
    masses: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        means.append(value)
        masses.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            mass = masses[-2] + masses[-1]
            mean = (means[-2] * masses[-2] + means[-1] * masses[-1]) / mass
            size = sizes[-2] + sizes[-1]
            del means[-1], masses[-1], sizes[-1]
            means[-1], masses[-1], sizes[-1] = mean, mass, size
    return np.repeat(np.array(means), sizes)


#: Calibrators by setting name.
CALIBRATORS: dict[str, type[Calibrator]] = {
    "platt": PlattCalibrator,
    "isotonic": IsotonicCalibrator,
    "none": IdentityCalibrator,
}


def make_calibrator(name: str) -> Calibrator:
    """A new calibrator by name (``platt``, ``isotonic`` or ``none``)."""
    try:
        return CALIBRATORS[name]()
    except KeyError:
        raise ValueError(f"unknown calibrator {name!r}; known: {', '.join(CALIBRATORS)}") from None
