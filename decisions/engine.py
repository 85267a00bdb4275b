"""The decision engine: the one code path the API, the stream agents and the backtest share.

:class:`DecisionEngine` does the I/O around the pure core: features from the feature store,
scores from the models, list memberships, then :func:`~decisions.core.propose`, then the shared
marketing caps, then the offer variants. Any dependency that fails is decided without
(degraded mode, said in the reasons); the engine itself never raises for a dependency. The
clock measures latency only: every rule runs on the transaction's event time.

>>> from decisions.caps import InMemoryCapStore
>>> from decisions.policy import Policy
>>> from decisions.policy_file import PolicyHolder
>>> from decisions.sources import Scores
>>> from events.records import Transaction
>>> class Store:
...     def update_and_get(self, tx):
...         return {"amount": tx.amount, "cust_marketing_consent": 1.0}
>>> class Models:
...     def score(self, features):
...         return Scores(fraud=0.02, anomaly=0.1, model_version="m1")
>>> engine = DecisionEngine(PolicyHolder(Policy()), Store(), Models(), InMemoryCapStore())
>>> salary = Transaction(tx_id="t1", ts=1.77e9, customer_id="c1", amount=3200.0,
...                      direction="credit", type="transfer", purpose="SALA")
>>> result = engine.decide(salary)
>>> result.decision.outcome, result.decision.triggers, result.triggers[0].code
('approve', ['salary_wealth_offer'], 'salary_wealth_offer')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import redis

from decisions import marketing, reasons
from decisions.breaker import CircuitBreaker
from decisions.core import CAPS, FEATURES, LISTS, DecisionContext, fill_in, propose
from decisions.inflight import InFlight, SentChunks
from decisions.lists import ListStore
from decisions.marketing import CapStore, Suppression, to_ms
from decisions.offers import build_trigger
from decisions.policy_file import PolicyHolder
from decisions.sources import NO_SCORES, FeatureSource, OfferChooser, RiskScorer, Scores
from events.errors import DependencyUnavailableError
from events.metrics import Children, Metrics, observe_many
from events.outputs import Decision, Trigger
from events.records import Transaction

log = logging.getLogger(__name__)

#: Errors that mean "a dependency is down", answered in degraded mode (not bugs: those raise).
DEPENDENCY_ERRORS: Final = (DependencyUnavailableError, redis.RedisError, OSError)


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """A decision and what goes out with it.

    Attributes
    ----------
    decision
        The decision (topic ``decisions``, the API's answer); its ``triggers`` are the codes
        of ``triggers``.
    triggers
        The Trigger events to publish (topic ``triggers``).
    suppressed
        Triggers that fired but were held back, and by which rule.
    """

    decision: Decision
    triggers: tuple[Trigger, ...]
    suppressed: tuple[Suppression, ...]


#: A decision result and the dependencies it went without (for the metrics).
Decided = tuple[DecisionResult, tuple[str, ...]]


class DecisionEngine:
    """Decides on transactions with a policy, a feature source, risk models and shared caps.

    Parameters
    ----------
    policy
        The policy in force (re-read when its file changes).
    features
        The feature store (``update_and_get``).
    scorer
        The fraud and anomaly models.
    caps
        The shared marketing caps (Redis in production, in memory for tests and backtests).
    lists
        The block/allow lists; ``None`` when the deployment has none (no lookups at all).
    offers
        The propensity model choosing offer variants; ``None``: always the first variant.
    metrics
        Where to count decisions, triggers, suppressions and degraded decisions.
    clock
        Seconds, for ``latency_ms`` only.
    breaker
        Opens when the store behind ``features``, ``lists`` and ``caps`` (one Redis) fails:
        while it is open they are not called and decisions are degraded at once, instead of
        each waiting for a timeout. ``None``: every call is tried.
    """

    def __init__(
        self,
        policy: PolicyHolder,
        features: FeatureSource,
        scorer: RiskScorer,
        caps: CapStore,
        lists: ListStore | None = None,
        offers: OfferChooser | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.policy = policy
        self.breaker = breaker
        self._features = features
        self._scorer = scorer
        self._caps = caps
        self._lists = lists
        self._offers = offers
        self._metrics = metrics
        self._outcomes = Children(metrics.decisions) if metrics is not None else None
        self._clock = clock

    def decide(self, tx: Transaction) -> DecisionResult:
        """Decide on one transaction; never raises for a dependency that is down."""
        started = self._clock()
        features: dict[str, float] | None = None
        if not self._down():
            try:
                features = self._features.update_and_get(tx)
            except DEPENDENCY_ERRORS as error:
                self._failed(f"feature store unavailable, deciding on {tx.tx_id} without", error)
        decided = self._decide(tx, features, started)
        self._count([decided])
        return decided[0]

    def decide_many(
        self, txs: Sequence[Transaction], *, require_features: bool = False
    ) -> list[DecisionResult]:
        """Decide on a batch in order: one feature-store round trip for all of them.

        The same decisions as :meth:`decide` one by one (the store keeps order within a
        customer); ``latency_ms`` runs from the start of the batch to each decision. With
        ``require_features`` a feature store that is down raises
        :class:`~events.errors.DependencyUnavailableError` instead of deciding degraded: the
        stream path waits for Redis rather than leave transactions out of the features.
        """
        return self.start_many(txs, require_features=require_features).finish()

    def start_many(self, txs: Sequence[Transaction], *, require_features: bool = False) -> InFlight:
        """:meth:`decide_many` in two steps: the batch's list lookups and first features are
        sent now, and :meth:`InFlight.finish` reads them and decides. An event loop waits in
        between for :meth:`InFlight.fileno` to be readable and serves other requests while
        Redis works, instead of blocking on the round trip."""
        started = self._clock()
        if self._down():
            if require_features:
                raise DependencyUnavailableError("feature store: down, waiting for it to answer")
            results = self._count([self._decide(tx, None, started, None, None) for tx in txs])
            return InFlight(lambda: results)
        listed = self._ask_lists(txs)  # sent now, read once the first features are in
        chunks, sent = self._send_features(txs)

        def finish() -> list[DecisionResult]:
            return self._finish(txs, started, listed, chunks, require_features)

        return InFlight(finish, sent, listed)

    def _send_features(
        self, txs: Sequence[Transaction]
    ) -> tuple[Iterable[list[dict[str, float]]], SentChunks | None]:
        """The batch's features as chunks to read, and what was sent when the store sends
        ahead (``send_chunks``); a send that failed raises when the chunks are read, as a
        failed read would."""
        send = getattr(self._features, "send_chunks", None)
        if send is None:
            return self._feature_chunks(txs), None
        try:
            sent: SentChunks = send(txs)
        except DEPENDENCY_ERRORS as error:
            return _raising(error), None
        return sent, sent

    def _finish(
        self,
        txs: Sequence[Transaction],
        started: float,
        listed: Callable[[], list[frozenset[str] | None]],
        chunks: Iterable[list[dict[str, float]]],
        require_features: bool,
    ) -> list[DecisionResult]:
        """Read the features a chunk at a time and decide (the second step of a batch)."""
        results: list[Decided] = []
        try:
            for features in chunks:
                hits = listed()
                part = slice(len(results), len(results) + len(features))
                scored = self._score_many(features)  # one model call per chunk
                results += [
                    self._decide(tx, f, started, score, hit)
                    for tx, f, score, hit in zip(
                        txs[part], features, scored, hits[part], strict=True
                    )
                ]
        except DEPENDENCY_ERRORS as error:
            if require_features:
                self._count(results)  # taken, though the batch will be decided again
                if self.breaker is not None:
                    self.breaker.trip(error)
                raise DependencyUnavailableError(f"feature store: {error}") from error
            left = len(txs) - len(results)
            self._failed(f"feature store unavailable, deciding on {left} without", error)
            hits = listed()
            results += [
                self._decide(tx, None, started, None, hit)
                for tx, hit in zip(txs[len(results) :], hits[len(results) :], strict=True)
            ]
        finally:
            listed()  # read in any case: the lookup's connection goes back to the pool
        return self._count(results)

    def _feature_chunks(self, txs: Sequence[Transaction]) -> Iterator[list[dict[str, float]]]:
        """The features of the batch in order, a chunk at a time when the store streams them
        (it works on the next chunk while the engine decides this one)."""
        chunks = getattr(self._features, "update_and_get_chunks", None)
        if chunks is not None:
            yield from chunks(txs)
            return
        many = getattr(self._features, "update_and_get_many", None)
        if many is not None:
            yield list(many(txs))
        else:
            yield [self._features.update_and_get(tx) for tx in txs]

    def _ask_lists(self, txs: Sequence[Transaction]) -> Callable[[], list[frozenset[str] | None]]:
        """Send the list lookups of a batch (one round trip, overlapping the feature store's);
        the answer gives each transaction's hits, ``None`` each when the lists are down. It
        reads the replies on its first call and gives the same hits on every later one."""
        down: list[frozenset[str] | None] = [None] * len(txs)
        if self._lists is None:
            nothing: list[frozenset[str] | None] = [frozenset()] * len(txs)
            return lambda: nothing
        rules = self.policy.current().rules
        probes = [rules.probes(tx) or () for tx in txs]
        try:
            answer = self._lists.ask_many(probes)
        except DEPENDENCY_ERRORS as error:
            self._failed(f"lists unavailable for a batch of {len(txs)}", error)
            return lambda: down

        read: list[list[frozenset[str] | None]] = []

        def hits() -> list[frozenset[str] | None]:
            if not read:
                try:
                    read.append(list(answer()))
                except DEPENDENCY_ERRORS as error:
                    self._failed(f"lists unavailable for a batch of {len(txs)}", error)
                    read.append(down)
            return read[0]

        return hits

    def _decide(
        self,
        tx: Transaction,
        found: dict[str, float] | None,
        started: float,
        scored: Scores | None = None,
        listed: frozenset[str] | bool | None = False,
    ) -> Decided:
        policy = self.policy.current()
        unavailable: set[str] = set()
        if found is None:
            features = {"amount": tx.amount}
            unavailable.add(FEATURES)
        else:
            features = found
        hits: frozenset[str] = frozenset()
        if isinstance(listed, frozenset):  # looked up with the batch
            hits = listed
        elif listed is None:  # the batch lookup found the lists down
            unavailable.add(LISTS)
        elif self._lists is not None and (probes := policy.rules.probes(tx)):
            if self._down():
                unavailable.add(LISTS)
            else:
                try:
                    hits = self._lists.hits(probes)
                except DEPENDENCY_ERRORS as error:
                    self._failed(f"lists unavailable for {tx.tx_id}", error)
                    unavailable.add(LISTS)
        if FEATURES in unavailable:
            scores = NO_SCORES
        else:
            scores = scored if scored is not None else self._score(features)
        context = DecisionContext(hits, frozenset(unavailable))
        proposal = propose(tx, features, scores, policy, context)
        decision = proposal.decision
        candidates = proposal.candidates
        missing = proposal.missing
        try:
            if self._down() and marketing.needs_store(
                decision.outcome, candidates, policy.marketing
            ):
                raise DependencyUnavailableError("marketing caps: down")
            admitted, held = marketing.settle(
                self._caps, tx.customer_id, tx.tx_id, tx.ts, decision.outcome, candidates,
                policy.marketing,
            )  # fmt: skip
        except DEPENDENCY_ERRORS as error:
            if not self._down():
                self._failed(f"marketing caps unavailable for {tx.tx_id}", error)
            admitted, held = marketing.unavailable(candidates)
            missing = (*missing, CAPS)
        triggers = tuple(build_trigger(c, tx, features, self._offers) for c in admitted)
        update: dict[str, object] = {
            "triggers": [trigger.code for trigger in triggers],
            "latency_ms": (self._clock() - started) * 1000.0,
        }
        if CAPS in missing:
            update["degraded"] = True
            update["reasons"] = [
                reasons.degraded_reason(reasons.DEGRADED_CAPS),
                *decision.reasons,
            ]
        fill_in(decision, **update)  # propose built it for this call alone: completed in place
        result = DecisionResult(decision, triggers, (*proposal.suppressed, *held))
        return result, missing

    def _down(self) -> bool:
        return self.breaker is not None and self.breaker.is_open

    def _failed(self, what: str, error: BaseException) -> None:
        """A dependency call failed: open the breaker (which logs once), or log."""
        if self.breaker is not None:
            self.breaker.trip(error)
        else:
            log.warning("%s: %s", what, error)

    def note_fraud(self, customer_id: str, ts: float, ref: str) -> None:
        """A fraud on ``customer_id`` was confirmed at event time ``ts`` (a label): no
        marketing for the policy's quiet period. Raises if the cap store is down."""
        self._caps.note_fraud(customer_id, to_ms(ts), ref)

    def _score(self, features: dict[str, float]) -> Scores:
        try:
            return self._scorer.score(features)
        except Exception:  # a failing model must not fail the payment: decide without it
            log.exception("risk models failed; deciding without them")
            return NO_SCORES

    def _score_many(self, batch: list[dict[str, float]]) -> list[Scores]:
        many = getattr(self._scorer, "score_many", None)
        if many is None or not batch:
            return [self._score(features) for features in batch]
        try:
            return list(many(batch))
        except Exception:  # a failing model must not fail the payments: decide without it
            log.exception("risk models failed on a batch; deciding without them")
            return [NO_SCORES] * len(batch)

    def _count(self, decided: Sequence[Decided]) -> list[DecisionResult]:
        """Record a batch of decisions in the metrics (one increment per outcome and one
        histogram update for the batch); the results."""
        results = [result for result, _ in decided]
        metrics, by_outcome = self._metrics, self._outcomes
        if metrics is None or by_outcome is None or not decided:
            return results
        outcomes: dict[str, int] = {}
        for result, missing in decided:
            outcome = result.decision.outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            for dependency in missing:
                metrics.degraded_decisions.labels(dependency=dependency).inc()
            for trigger in result.triggers:
                metrics.triggers.labels(code=trigger.code).inc()
            for held in result.suppressed:
                metrics.trigger_suppressions.labels(code=held.code, rule=held.rule).inc()
        for name, count in outcomes.items():
            by_outcome(outcome=name).inc(count)
        observe_many(metrics.decision_latency, [r.decision.latency_ms / 1000.0 for r in results])
        return results


def _raising(error: BaseException) -> Iterator[list[dict[str, float]]]:
    """Chunks whose first read raises ``error``."""
    raise error
    yield []  # a generator: the error is raised when read, not when called
