"""From an admitted trigger to the Trigger event: the offer variant, its score, its expiry.

An offer trigger lists its variants in the policy; the propensity model chooses one for the
customer (exploring as it sees fit) and says how likely it is to be accepted. Without a
propensity model, when it fails, or when it answers with a variant the policy does not list,
the first variant goes out with no score: an offer is never lost to a model.

>>> class Likes:
...     def choose(self, code, offers, features):
...         return offers[-1], 0.6
>>> choose_offer("travel_offer", ("a", "b"), {}, Likes())
('b', 0.6)
>>> choose_offer("travel_offer", ("a", "b"), {}, None)
('a', None)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from decisions import reasons
from decisions.sources import OfferChooser
from decisions.triggers import Candidate
from events.outputs import Trigger
from events.records import Transaction

log = logging.getLogger(__name__)


def choose_offer(
    code: str,
    offers: tuple[str, ...],
    features: Mapping[str, float],
    chooser: OfferChooser | None,
) -> tuple[str | None, float | None]:
    """The variant to send and its propensity (``None`` when no model scored it)."""
    if not offers:
        return None, None
    if chooser is None:
        return offers[0], None
    try:
        offer, score = chooser.choose(code, offers, features)
    except Exception:  # a failing model must not lose the offer: fall back to the first
        log.exception("propensity model failed for %s; sending the first variant", code)
        return offers[0], None
    if offer not in offers:
        log.warning("propensity model chose %r, not a variant of %s in the policy", offer, code)
        return offers[0], None
    if score is not None and not math.isfinite(score):
        score = None
    return offer, None if score is None else min(max(score, 0.0), 1.0)


def build_trigger(
    candidate: Candidate,
    tx: Transaction,
    features: Mapping[str, float],
    chooser: OfferChooser | None,
) -> Trigger:
    """The Trigger event (topic ``triggers``) for an admitted candidate."""
    offer_id, score = choose_offer(candidate.code, candidate.offers, features, chooser)
    return Trigger.model_construct(
        trigger_id=candidate.trigger_id,
        code=candidate.code,
        audience=candidate.audience,
        customer_id=tx.customer_id,
        tx_id=tx.tx_id,
        ts=tx.ts,
        offer_id=offer_id,
        score=score,
        reasons=[reasons.reason(candidate.code, candidate.detail)],
        expires_at=tx.ts + candidate.ttl_s,
    )
