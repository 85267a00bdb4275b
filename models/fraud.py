"""The fraud model: a learner, an online calibrator, and attributions for reason codes.

``fraud_score`` is a calibrated probability: the learner's raw score (trained with rare
positives weighed up) goes through a calibrator that learns, from each label as it arrives,
what the raw scores of the model as it stood really meant. The learner is chosen by name
(:data:`LEARNERS`), the calibrator too (:data:`models.calibration.CALIBRATORS`).

Attributions answer "which features pushed this score up": for a learner that splits its logit
by feature (FTRL, river's logistic regression), a feature's attribution is its share of the
logit minus its usual share (a running mean over the labelled events); for the others, how much
the logit falls when the feature is set to its usual value (occlusion).

>>> model = FraudModel("ftrl", seed=0)
>>> for i in range(400):
...     x = {"amount": float(i % 50), "cust_new_device": float(i % 7 == 0)}
...     model.learn_one(x, i % 50 > 45)
>>> 0.0 <= model.score_one({"amount": 48.0, "cust_new_device": 0.0}) <= 1.0
True
>>> [a.feature for a in model.explain({"amount": 48.0, "cust_new_device": 0.0})]
['amount']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.base import FeatureIndex, Features, FloatArray, OnlineModel, check_label
from models.calibration import logit, make_calibrator
from models.ftrl import FTRLClassifier
from models.imbalance import ClassWeight
from models.river_models import RiverClassifier

#: Weight of the newest labelled event in the running means behind attributions.
MEAN_RATE = 0.01
#: The running means follow one labelled event in this many (they are averages: a sample
#: serves them as well, at a fraction of the cost of a label).
TRACK_EVERY = 8


def _ftrl(class_weight: ClassWeight, cap: float, seed: int | None) -> OnlineModel:
    return FTRLClassifier(class_weight=class_weight, max_positive_weight=cap)


def _river(kind: str) -> Callable[[ClassWeight, float, int | None], OnlineModel]:
    def build(class_weight: ClassWeight, cap: float, seed: int | None) -> OnlineModel:
        return RiverClassifier(kind, class_weight, cap, seed=seed)  # type: ignore[arg-type]

    return build


#: Learner name -> factory(class_weight, max_positive_weight, seed).
LEARNERS: dict[str, Callable[[ClassWeight, float, int | None], OnlineModel]] = {
    "ftrl": _ftrl,
    "logistic": _river("logistic"),
    "hat": _river("hat"),
    "arf": _river("arf"),
}


def make_learner(
    name: str, class_weight: ClassWeight = "balanced", cap: float = 20.0, seed: int | None = None
) -> OnlineModel:
    """A fresh learner by name (see :data:`LEARNERS`)."""
    try:
        factory = LEARNERS[name]
    except KeyError:
        raise ValueError(f"unknown fraud learner {name!r}; known: {', '.join(LEARNERS)}") from None
    return factory(class_weight, cap, seed)


@dataclass(frozen=True, slots=True)
class Attribution:
    """How much one feature pushed a score up, in logit units, and the feature's value."""

    feature: str
    contribution: float
    value: float


class FraudModel(OnlineModel):
    """Calibrated fraud probability, learnt online from labels, with attributions.

    Parameters
    ----------
    learner
        Name of the learner (:data:`LEARNERS`).
    calibrator
        ``platt``, ``isotonic`` or ``none``.
    class_weight
        ``"balanced"`` or the fixed weight of a positive label.
    max_positive_weight
        Cap of a positive's weight under ``"balanced"``.
    seed
        Seed of the learner's random draws, if it has any.
    top_k
        Attributions returned by :meth:`explain`.
    """

    supervised = True

    def __init__(
        self,
        learner: str = "ftrl",
        calibrator: str = "platt",
        class_weight: ClassWeight = 3.0,
        max_positive_weight: float = 20.0,
        seed: int | None = None,
        top_k: int = 3,
    ) -> None:
        self.learner = learner
        self.calibrator = calibrator
        self.class_weight = class_weight
        self.max_positive_weight = max_positive_weight
        self.seed = seed
        self.top_k = top_k
        self.model = make_learner(learner, class_weight, max_positive_weight, seed)
        self.calibration = make_calibrator(calibrator)
        self._index = FeatureIndex()
        self._mean_value = np.zeros(0)  # running mean of each feature's value
        self._mean_share = np.zeros(0)  # running mean of each feature's share of the logit
        self._seen = 0
        self._labels = 0

    def raw_score(self, x: Features) -> float:
        """The learner's score, before calibration."""
        return self.model.score_one(x)

    def score_one(self, x: Features) -> float:
        return self.calibration.calibrate(self.model.score_one(x))

    def score_many(self, xs: Sequence[Features]) -> FloatArray:
        return self.calibration.calibrate_many(self.model.score_many(xs))

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        label = check_label(self, y)
        self.calibration.learn_one(self.model.score_one(x), label)
        if self._labels % TRACK_EVERY == 0:
            self._track(x)
        self._labels += 1
        self.model.learn_one(x, label)

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        """:meth:`learn_one` of each in order, in compiled passes when the learner has
        ``learn_scored_many`` (FTRL): the same model, calibration and attributions after."""
        scored = getattr(self.model, "learn_scored_many", None)
        if scored is None:
            super().learn_many(xs, ys)
            return
        if ys is None or len(ys) != len(xs):
            raise ValueError(f"{type(self).__name__} needs one label per event")
        labels = [check_label(self, y) for y in ys]
        start = 0
        while start < len(xs):
            if self._labels % TRACK_EVERY == 0:  # the running means see the model of that time
                self._track(xs[start])
            stop = min(len(xs), start + TRACK_EVERY - self._labels % TRACK_EVERY)
            raw = scored(xs[start:stop], labels[start:stop])
            for score, label in zip(raw, labels[start:stop], strict=True):
                self.calibration.learn_one(score, label)
            self._labels += stop - start
            start = stop

    def _track(self, x: Features) -> None:
        """Fold ``x`` (and its shares of the logit) into the running means."""
        if self._index.learn(x):
            extra = len(self._index) - len(self._mean_value)
            self._mean_value = np.concatenate([self._mean_value, np.full(extra, np.nan)])
            self._mean_share = np.concatenate([self._mean_share, np.zeros(extra)])
        rate = max(MEAN_RATE, 1.0 / (self._seen + 1))
        self._seen += 1
        row = self._index.row(x)
        present = ~np.isnan(row)
        fresh = present & np.isnan(self._mean_value)
        self._mean_value[fresh] = row[fresh]
        self._mean_value[present] += rate * (row[present] - self._mean_value[present])
        shares = self._shares(x)
        if shares is not None:
            self._mean_share += rate * (shares - self._mean_share)

    def _shares(self, x: Features) -> FloatArray | None:
        contributions = getattr(self.model, "contributions", None)
        found = contributions(x) if contributions is not None else None
        if found is None:
            return None
        get = found.get
        return np.array([get(name, 0.0) for name in self._index.names], dtype=np.float64)

    def explain(self, x: Features, k: int | None = None) -> list[Attribution]:
        """The (at most ``k``) features that pushed the score of ``x`` up most, biggest first."""
        k = self.top_k if k is None else k
        names = self._index.names
        shares = self._shares(x)
        pushes = shares - self._mean_share if shares is not None else self._occlusion(x)
        ranked = sorted(
            (
                (float(push), name)
                for push, name in zip(pushes.tolist(), names, strict=True)
                if name in x and push > 0.0
            ),
            reverse=True,
        )
        return [Attribution(name, push, float(x[name])) for push, name in ranked[:k]]

    def _occlusion(self, x: Features) -> FloatArray:
        """Per feature: the logit of ``x`` minus the logit with that feature at its mean."""
        base = logit(self.model.score_one(x))
        pushes = np.zeros(len(self._index))
        for j, name in enumerate(self._index.names):
            usual = self._mean_value[j]
            if name not in x or math.isnan(usual) or x[name] == usual:
                continue
            changed = dict(x)
            changed[name] = float(usual)
            pushes[j] = base - logit(self.model.score_one(changed))
        return pushes
