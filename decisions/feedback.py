"""What the engine learns from, in one place: decisions as they are taken, labels, responses.

The API publishes labels and offer responses to their topics; the stream worker that owns
training (and the backtest, on event time) hands them here:

- a decision starts its label horizon (chargeback feeds) and opens its offers;
- a label updates the feature store's fraud counts and teaches the fraud model from the
  decision's own feature snapshot (:class:`models.labels.LabelLearner`); a confirmed fraud
  starts the marketing quiet period; the registry publishes a new version every N labels;
- an offer response teaches the propensity model the variant the trigger carried.

A label for an unknown or expired transaction is counted and ignored, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from decisions.engine import DecisionEngine, DecisionResult
from decisions.scoring import ThompsonOffers
from events.records import Label, OfferResponse
from models.labels import LabelLearner
from models.registry import Publisher

log = logging.getLogger(__name__)


class EngineFeedback:
    """Feeds the learning side of the engine.

    Parameters
    ----------
    engine
        For the marketing quiet period after a confirmed fraud.
    labels
        Teaches the fraud model from labels and feature snapshots.
    offers
        The propensity models (``None``: offers are not learnt).
    publisher
        Publishes model versions to the registry (``None``: nothing is published).
    """

    def __init__(
        self,
        engine: DecisionEngine,
        labels: LabelLearner,
        offers: ThompsonOffers | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.engine = engine
        self.labels = labels
        self.offers = offers
        self.publisher = publisher

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        """Decisions just taken: horizons start, labels that came early are learnt, offers
        open, versions publish on time."""
        before = self.labels.learnt
        for result in results:
            decision = result.decision
            self.labels.on_decision(decision.tx_id, decision.ts)
            if self.offers is not None:
                for trigger in result.triggers:
                    if trigger.offer_id is not None:
                        self.offers.remember(
                            trigger.trigger_id, trigger.code, trigger.offer_id, decision.features
                        )
        if results and self.labels.feed == "chargebacks":
            self.labels.advance(results[-1].decision.ts)
        self._published_since(before)
        if self.publisher is not None:
            self.publisher.tick()

    def _published_since(self, before: int) -> None:
        """Tell the publisher how many labels were learnt since ``before`` (held ones count
        when they are learnt, not when they arrive)."""
        learnt = self.labels.learnt - before
        if learnt and self.publisher is not None:
            self.publisher.learnt(learnt)

    def on_label(self, label: Label) -> None:
        """One label: fraud counts, the fraud model, the quiet period, maybe a new version."""
        self.on_labels((label,))

    def on_labels(self, labels: Sequence[Label]) -> None:
        """Labels in order (:meth:`on_label` of each), the fraud model taught once for all of
        them; a version due is published after the batch."""
        before = self.labels.learnt
        try:
            kept = self.labels.on_labels(labels)
        finally:
            self._published_since(before)
        for label, was_kept in zip(labels, kept, strict=True):
            if was_kept and label.is_fraud and label.customer_id is not None:
                self.engine.note_fraud(label.customer_id, label.ts, label.tx_id)

    def on_offer_response(self, response: OfferResponse) -> None:
        """One offer response teaches the variant its trigger carried."""
        if self.offers is not None and not self.offers.learn(response):
            log.debug("offer response for an unknown trigger %s", response.trigger_id)
