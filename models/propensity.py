"""Offer propensity: which variant of an offer a customer is likely to accept, with exploration.

For each offer (a trigger that makes one), every variant has its own
:class:`BayesianLogistic`: a logistic regression on the customer's features with a Gaussian
posterior over its weights (diagonal, updated online by assumed-density filtering, as in
Chapelle and Li, "An empirical evaluation of Thompson sampling", 2011). :class:`ThompsonPolicy`
picks the variant whose weights, drawn from their posterior, give the highest chance of
acceptance: variants rarely tried keep a wide posterior and get tried, variants that fail stop
being offered. Each response (accepted or not) teaches the variant that was offered.

Features are the feature store's numbers (squashed to ``sign(v) log(1 + |v|)``) plus any
categorical ones as indicator features (``{"segment=affluent": 1.0}``).

>>> policy = ThompsonPolicy(["cashback", "points"], seed=3)
>>> for _ in range(300):
...     variant = policy.choose({"segment=young": 1.0})
...     policy.learn({"segment=young": 1.0}, variant, accepted=(variant == "points"))
>>> policy.choose({"segment=young": 1.0})
'points'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.base import FeatureIndex, Features, OnlineModel, check_label
from models.calibration import logit, sigmoid
from models.settings import ModelSettings


class BayesianLogistic(OnlineModel):
    """Logistic regression with a diagonal Gaussian posterior, learnt one response at a time.

    Parameters
    ----------
    prior_accept
        Prior chance of acceptance (the intercept's prior mean is its logit).
    prior_precision
        Prior precision of every weight (1 / variance): lower explores more.
    """

    supervised = True

    def __init__(self, prior_accept: float = 0.05, prior_precision: float = 1.0) -> None:
        if not 0.0 < prior_accept < 1.0 or prior_precision <= 0:
            raise ValueError("prior_accept must be in (0, 1) and prior_precision positive")
        self.prior_accept = prior_accept
        self.prior_precision = prior_precision
        self.index = FeatureIndex()
        self._mean = np.array([logit(prior_accept)])  # [intercept, one per feature]
        self._precision = np.array([prior_precision])

    def _encode(self, x: Features) -> np.ndarray:
        row = self.index.row(x)
        squashed = np.sign(row) * np.log1p(np.abs(row))
        return np.concatenate(([1.0], np.nan_to_num(squashed, nan=0.0)))

    def _grow(self, x: Features) -> None:
        if self.index.learn(x):
            extra = len(self.index) + 1 - len(self._mean)
            self._mean = np.concatenate([self._mean, np.zeros(extra)])
            self._precision = np.concatenate(
                [self._precision, np.full(extra, self.prior_precision)]
            )

    def score_one(self, x: Features) -> float:
        """The posterior predictive chance of acceptance (probit approximation)."""
        z = self._encode(x)
        mean = float(self._mean @ z)
        variance = float(np.sum(z * z / self._precision))
        return sigmoid(mean / math.sqrt(1.0 + math.pi * variance / 8.0))

    def sample_one(self, x: Features, rng: np.random.Generator) -> float:
        """The chance of acceptance under weights drawn from the posterior (Thompson)."""
        z = self._encode(x)
        weights = rng.normal(self._mean, 1.0 / np.sqrt(self._precision))
        return sigmoid(float(weights @ z))

    def learn_one(self, x: Features, y: bool | None = None) -> None:
        label = check_label(self, y)
        self._grow(x)
        z = self._encode(x)
        p = sigmoid(float(self._mean @ z))
        self._precision = self._precision + p * (1.0 - p) * z * z
        self._mean = self._mean - (p - float(label)) * z / self._precision


class ThompsonPolicy:
    """Chooses an offer's variant by Thompson sampling over one model per variant.

    Parameters
    ----------
    variants
        The variants of the offer.
    prior_accept, prior_precision
        Priors of each variant's :class:`BayesianLogistic`.
    seed
        Seed of the posterior draws.
    """

    def __init__(
        self,
        variants: Sequence[str],
        prior_accept: float = 0.05,
        prior_precision: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if not variants or len(set(variants)) != len(variants):
            raise ValueError("a policy needs one or more distinct variants")
        self.variants = list(variants)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.models = {v: BayesianLogistic(prior_accept, prior_precision) for v in variants}
        self.offered = dict.fromkeys(variants, 0)
        self.accepted = dict.fromkeys(variants, 0)

    def choose(self, x: Features) -> str:
        """The variant to offer to a customer with features ``x``."""
        draws = [self.models[v].sample_one(x, self.rng) for v in self.variants]
        return self.variants[int(np.argmax(draws))]

    def scores(self, x: Features) -> dict[str, float]:
        """Each variant's estimated chance of acceptance (no exploration): the trigger's score."""
        return {v: self.models[v].score_one(x) for v in self.variants}

    def learn(self, x: Features, variant: str, accepted: bool) -> None:
        """Teach the offered variant's model the customer's response."""
        if variant not in self.models:
            raise ValueError(f"unknown variant {variant!r}; known: {', '.join(self.variants)}")
        self.models[variant].learn_one(x, accepted)
        self.offered[variant] += 1
        self.accepted[variant] += int(accepted)


def policy_from_settings(settings: ModelSettings, variants: Sequence[str]) -> ThompsonPolicy:
    """The Thompson policy of one offer, with the settings' priors and seed."""
    return ThompsonPolicy(
        variants,
        prior_accept=settings.propensity_prior_accept,
        prior_precision=settings.propensity_prior_precision,
        seed=settings.propensity_seed,
    )
