"""The models behind the engine's protocols: risk scores from the model suite, offer variants
from Thompson sampling.

:class:`SuiteScorer` turns :class:`models.suite.ModelSuite` (anomaly trees feeding the fraud
model) into a :class:`~decisions.sources.RiskScorer`. Scoring a transaction is also when the
anomaly model learns it (it is unsupervised and learns on every transaction). Attributions,
which cost a few re-scorings, are computed only for scores high enough to be acted on.

:class:`ThompsonOffers` is the :class:`~decisions.sources.OfferChooser`: one Thompson sampler
per trigger code over its offer variants. It remembers which variant each trigger carried and
the features it was chosen on, so that an offer response (which names only the trigger) can
teach the right variant.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from decisions.sources import Scores
from events.records import OfferResponse
from models.base import Features, FloatArray
from models.propensity import ThompsonPolicy
from models.suite import ModelSuite

#: Fraud score of a model that has learnt too few labels to say more than the base rate (the
#: handbook's simulated population has 0.84% fraud; a bank sets its own).
COLD_FRAUD_SCORE: Final = 0.005
#: Labels a fraud model learns before its own scores are used.
WARM_AFTER_LABELS: Final = 200

#: Offers remembered for their responses, at most (oldest forgotten first).
MAX_OPEN_OFFERS: Final = 200_000


class SuiteScorer:
    """A :class:`~decisions.sources.RiskScorer` over the model suite in force.

    Parameters
    ----------
    current
        Returns the version label and suite in force (a fixed suite for the learner, the
        registry's live one for other workers).
    explain_above
        Fraud score from which the features behind it are worked out.
    explain_anomaly_above
        Anomaly score from which the aspects behind it are worked out (anomaly scores sit
        higher than fraud probabilities: most ordinary payments score 0.3-0.7).
    """

    def __init__(
        self,
        current: Callable[[], tuple[str, ModelSuite]],
        explain_above: float = 0.3,
        *,
        explain_anomaly_above: float = 0.8,
        warm: Callable[[], bool] = lambda: True,
        cold_fraud_score: float = COLD_FRAUD_SCORE,
    ) -> None:
        self._current = current
        self.explain_above = explain_above
        self.explain_anomaly_above = explain_anomaly_above
        self._warm = warm
        self.cold_fraud_score = cold_fraud_score

    def score(self, features: Mapping[str, float]) -> Scores:
        """Both scores and, for high ones, their attributions; the anomaly model learns."""
        return self.score_many([features])[0]

    def score_many(self, batch: Sequence[Mapping[str, float]]) -> list[Scores]:
        """:meth:`score` for a batch, in order, with the models' vectorised paths."""
        version, suite = self._current()
        decided = suite.decide_batch([dict(features) for features in batch])
        fraud = decided.fraud
        if not self._warm():  # no labels learnt yet: the fraud model knows only the base rate
            fraud[:] = self.cold_fraud_score
            version = f"{version} (cold)"
        out: list[Scores] = []
        # explained from what each score was computed from: the anomaly model has learnt the
        # rest of the batch since, and the reasons must not depend on where a batch ends
        for i, (fraud_score, anomaly_score) in enumerate(
            zip(fraud.tolist(), decided.anomaly.tolist(), strict=True)
        ):
            fraud_why: tuple[tuple[str, float], ...] = ()
            anomaly_why: tuple[tuple[str, float], ...] = ()
            if fraud_score >= self.explain_above:
                fraud_why = self._explain_fraud(suite, decided.seen[i])
            if anomaly_score >= self.explain_anomaly_above:
                anomaly_why = self._explain_anomaly(suite, decided.surprises[i])
            out.append(Scores(fraud_score, anomaly_score, version, fraud_why, anomaly_why))
        return out

    @staticmethod
    def _explain_fraud(suite: ModelSuite, seen: Features) -> tuple[tuple[str, float], ...]:
        return tuple((a.feature, a.contribution) for a in suite.fraud.explain(seen))

    @staticmethod
    def _explain_anomaly(suite: ModelSuite, surprises: FloatArray) -> tuple[tuple[str, float], ...]:
        ranked = sorted(zip(surprises.tolist(), suite.anomaly.aspects, strict=True))
        return tuple((name, value) for value, name in ranked[::-1][:3] if value > 0)


class ThompsonOffers:
    """One Thompson sampler per trigger code; learns from offer responses."""

    def __init__(
        self, prior_accept: float = 0.05, prior_precision: float = 2.0, seed: int = 11
    ) -> None:
        self.prior_accept = prior_accept
        self.prior_precision = prior_precision
        self.seed = seed
        self.policies: dict[str, ThompsonPolicy] = {}
        self._open: OrderedDict[str, tuple[str, str, dict[str, float]]] = OrderedDict()

    def _policy(self, code: str, offers: Sequence[str]) -> ThompsonPolicy:
        policy = self.policies.get(code)
        if policy is None or policy.variants != list(offers):
            policy = ThompsonPolicy(
                offers, self.prior_accept, self.prior_precision, seed=self.seed + len(self.policies)
            )
            self.policies[code] = policy
        return policy

    def choose(
        self, code: str, offers: Sequence[str], features: Mapping[str, float]
    ) -> tuple[str, float | None]:
        """The variant to offer and its estimated chance of acceptance."""
        policy = self._policy(code, offers)
        x = dict(features)
        variant = policy.choose(x)
        return variant, policy.scores(x)[variant]

    def remember(
        self, trigger_id: str, code: str, offer_id: str, features: Mapping[str, float]
    ) -> None:
        """An offer went out: keep what its response will need."""
        self._open[trigger_id] = (code, offer_id, dict(features))
        while len(self._open) > MAX_OPEN_OFFERS:
            self._open.popitem(last=False)

    def learn(self, response: OfferResponse) -> bool:
        """Teach the variant the trigger carried; ``False`` for an unknown trigger."""
        opened = self._open.pop(response.trigger_id, None)
        if opened is None:
            return False
        code, offer_id, features = opened
        policy = self.policies.get(code)
        if policy is None or offer_id not in policy.variants:
            return False
        policy.learn(features, offer_id, response.accepted)
        return True
