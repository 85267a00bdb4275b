"""What the decision layer needs from the feature store and the models: three small protocols.

The engine is written against these, not against :mod:`state` or :mod:`models`, so it runs on
plain dicts in tests and on the real store and models once wired (an adapter of a few lines
each). A model that is down shows as a ``None`` score (or an exception): the decision then
runs in degraded mode.

>>> class Fixed:
...     def score(self, features):
...         return Scores(fraud=0.1, anomaly=0.2, model_version="test")
>>> isinstance(Fixed(), RiskScorer)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from events.records import Transaction

#: Features pushing a score up, strongest first: (feature name, push in the model's own units,
#: e.g. logit share for the fraud model, surprise in nats for the anomaly model).
Attributions = tuple[tuple[str, float], ...]


@runtime_checkable
class FeatureSource(Protocol):
    """Records a transaction and returns its features (``state``'s ``update_and_get``)."""

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        """The features of ``tx``, itself included; raises when the store is unavailable."""
        ...


@dataclass(frozen=True, slots=True)
class Scores:
    """The risk models' answer for one transaction; ``None`` for a model that did not answer.

    Scores are calibrated probabilities in [0, 1]. Attributions are the features that pushed
    each score up most (the model's own explanation), strongest first.
    """

    fraud: float | None
    anomaly: float | None
    model_version: str = ""
    fraud_attributions: Attributions = ()
    anomaly_attributions: Attributions = ()


#: Scores when no model answered.
NO_SCORES = Scores(fraud=None, anomaly=None)


@runtime_checkable
class RiskScorer(Protocol):
    """The fraud and anomaly models, scored on one transaction's features."""

    def score(self, features: Mapping[str, float]) -> Scores:
        """Both scores (``None`` for a model that is unavailable); never learns."""
        ...


@runtime_checkable
class OfferChooser(Protocol):
    """The propensity model: which variant of an offer to send, and its chance of acceptance.

    Exploration (Thompson sampling, in ``models.propensity``) is the model's business: the
    engine sends what it chooses.
    """

    def choose(
        self, code: str, offers: Sequence[str], features: Mapping[str, float]
    ) -> tuple[str, float | None]:
        """One of ``offers`` for the trigger ``code``, and its acceptance probability."""
        ...
