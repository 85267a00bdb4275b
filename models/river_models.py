"""river's classifiers as fraud candidates, behind Verdict's model contract.

``logistic`` (standard scaler + logistic regression), ``hat`` (Hoeffding adaptive tree) and
``arf`` (adaptive random forest) of river, with the same handling of rare positives as our own
learners: a positive's sample weight (``"balanced"``: the running ratio of negatives to
positives, capped). river's linear model and trees take a weight; the forest does not, so a
positive is shown to it as many times as its (rounded) weight.

>>> model = RiverClassifier("logistic", seed=1)
>>> for i in range(200):
...     model.learn_one({"amount": float(i % 50)}, i % 50 > 40)
>>> model.score_one({"amount": 48.0}) > 0.5 > model.score_one({"amount": 3.0})
True
"""

from __future__ import annotations

from typing import Any, Literal

from models.base import Features, OnlineModel, check_label
from models.imbalance import ClassWeight, ClassWeights

RiverKind = Literal["logistic", "hat", "arf"]
#: river models whose ``learn_one`` takes a sample weight ``w``.
WEIGHTED: frozenset[str] = frozenset({"logistic", "hat"})


def build_river_model(kind: RiverKind, seed: int | None, n_models: int) -> Any:
    """A fresh river classifier of the given kind (river is imported here, when one is first
    built: its models import scipy, ~0.8 s at the start of every command otherwise)."""
    from river import compose, forest, linear_model, optim, preprocessing, tree

    if kind == "logistic":
        return compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(0.01)),
        )
    if kind == "hat":
        return tree.HoeffdingAdaptiveTreeClassifier(grace_period=100, seed=seed)
    if kind == "arf":
        return forest.ARFClassifier(n_models=n_models, seed=seed)
    raise ValueError(f"unknown river model {kind!r}: logistic, hat or arf")


class RiverClassifier(OnlineModel):
    """A river classifier as a fraud learner (raw, uncalibrated probabilities).

    Parameters
    ----------
    kind
        ``logistic``, ``hat`` or ``arf``.
    class_weight
        ``"balanced"`` or the fixed weight of a positive label.
    max_positive_weight
        Cap of a positive's weight under ``"balanced"``.
    n_models
        Trees of the forest (``arf``).
    seed
        Seed of river's random draws (trees and forest).
    """

    supervised = True

    def __init__(
        self,
        kind: RiverKind = "logistic",
        class_weight: ClassWeight = "balanced",
        max_positive_weight: float = 20.0,
        n_models: int = 10,
        seed: int | None = None,
    ) -> None:
        self.kind = kind
        self.class_weight = class_weight
        self.max_positive_weight = max_positive_weight
        self.n_models = n_models
        self.seed = seed
        self.model = build_river_model(kind, seed, n_models)
        self.weights = ClassWeights(class_weight, cap=max_positive_weight)

    def score_one(self, x: Features) -> float:
        proba = self.model.predict_proba_one(dict(x))
        return min(max(float(proba.get(True, 0.0)), 0.0), 1.0)

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        label = check_label(self, y)
        weight = self.weights.weight(label)
        self.weights.update(label)
        features = dict(x)
        if self.kind in WEIGHTED:
            self.model.learn_one(features, label, w=weight)
            return
        for _ in range(max(1, round(weight))):
            self.model.learn_one(features, label)

    def contributions(self, x: Features) -> dict[str, float] | None:
        """Each feature's share of the logit, for the logistic model; ``None`` for trees."""
        if self.kind != "logistic":
            return None
        scaler, regression = self.model["StandardScaler"], self.model["LogisticRegression"]
        scaled = scaler.transform_one(dict(x))
        return {name: float(regression.weights.get(name, 0.0) * v) for name, v in scaled.items()}
