"""The stream steps, independent of faust: messages in, events out.

Each step takes a batch of raw messages and returns what to publish: the good records' outputs
and, for every message it could not handle, a dead letter. A bad message never stops a step
(Bytewax's "bad records are data"). The faust agents in :mod:`streams.app` only move bytes
between Kafka and these steps, so the steps are tested without a broker, and the backtest and
the API share the same engine underneath.

Steps and their names (the metric label and the log key):

- ``score``: transactions -> decisions, alerts, triggers;
- ``learn``: labels and offer responses -> the models and the feature store;
- ``customers``: profiles -> the feature store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from decisions.alerts import build_alert
from decisions.engine import DecisionEngine, DecisionResult
from events import topics
from events.errors import DependencyUnavailableError, EventValidationError
from events.metrics import Metrics
from events.parsing import parse_customer, parse_label, parse_offer_response, parse_transaction
from events.records import CustomerProfile, Label, OfferResponse, Transaction
from streams.deadletters import dead_letter

log = logging.getLogger(__name__)

#: (topic, key, value) of one event to publish.
Out = tuple[str, bytes, bytes]

SCORE: Final = "score"
LEARN: Final = "learn"
CUSTOMERS: Final = "customers"


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed message, with where it came from (for dead letters)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = 0


class Feedback(Protocol):
    """What the engine learns from: decisions as they are taken, labels and responses later."""

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        """Decisions just taken (unsupervised models learn; label horizons start)."""
        ...

    def on_labels(self, labels: Sequence[Label]) -> None:
        """Labels arrived, in order: the fraud counts and the fraud model learn."""
        ...

    def on_offer_response(self, response: OfferResponse) -> None:
        """An offer response arrived: the propensity model learns."""
        ...


class ProfileStore(Protocol):
    """Where profiles go (the feature store)."""

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember a customer's profile."""
        ...


class StreamSteps:
    """The steps of the stream topology over one engine.

    Parameters
    ----------
    engine
        The decision engine (the same one the API calls).
    profiles
        The feature store, for customer profiles.
    feedback
        The learning side.
    pseudonym_key
        Key of the customer pseudonyms in alerts.
    metrics
        Where dead letters are counted.
    default_currency
        For transactions that name none.
    """

    def __init__(
        self,
        engine: DecisionEngine,
        profiles: ProfileStore,
        feedback: Feedback,
        pseudonym_key: bytes,
        metrics: Metrics,
        default_currency: str = "EUR",
    ) -> None:
        self.engine = engine
        self._profiles = profiles
        self._feedback = feedback
        self._key = pseudonym_key
        self._metrics = metrics
        self._currency = default_currency

    def _dead(self, step: str, message: Message, error: BaseException) -> Out:
        reason = getattr(error, "code", "unexpected_error")
        self._metrics.dead_letters.labels(step=step, reason=reason).inc()
        letter = dead_letter(
            message.topic, message.partition, message.offset, message.key, message.value, error
        )
        return topics.DEAD_LETTERS, message.key or b"", letter

    def score(self, messages: Sequence[Message]) -> list[Out]:
        """Decide on a batch of transactions: one feature-store round trip, order kept.

        Raises :class:`~events.errors.DependencyUnavailableError` when the feature store is
        down: the agent waits and retries the batch (state is idempotent by ``tx_id``).
        """
        out: list[Out] = []
        parsed: list[tuple[Message, Transaction]] = []
        for message in messages:
            try:
                tx = parse_transaction(message.value or b"", default_currency=self._currency)
            except EventValidationError as error:
                out.append(self._dead(SCORE, message, error))
                continue
            parsed.append((message, tx))
        if not parsed:
            return out
        try:
            results = self.engine.decide_many([tx for _, tx in parsed], require_features=True)
        except DependencyUnavailableError:
            raise
        except Exception:  # a bug on some input: find it, decide the others
            log.exception("score: a batch failed; deciding its transactions one by one")
            results = self._one_by_one(parsed, out)
        for result in results:
            decision = result.decision
            key = decision.customer_id.encode()
            out.append((topics.DECISIONS, key, decision.model_dump_json().encode()))
            out.extend(
                (topics.TRIGGERS, key, trigger.model_dump_json().encode())
                for trigger in result.triggers
            )
            alert = build_alert(decision, self._key)
            if alert is not None:
                self._metrics.alerts.labels(severity=alert.severity).inc()
                out.append(
                    (topics.ALERTS, alert.customer_ref.encode(), alert.model_dump_json().encode())
                )
        self._feedback.on_decisions(results)
        now_ms = time.time() * 1000
        latency = self._metrics.stream_latency
        for message in messages:
            if message.timestamp_ms > 0:
                latency.observe(max(0.0, now_ms - message.timestamp_ms) / 1000)
        return out

    def _one_by_one(
        self, parsed: Sequence[tuple[Message, Transaction]], out: list[Out]
    ) -> list[DecisionResult]:
        """Decide each transaction alone; one the engine fails on becomes a dead letter
        (``unexpected_error``) instead of taking its batch down with it."""
        results: list[DecisionResult] = []
        for message, tx in parsed:
            try:
                results.extend(self.engine.decide_many([tx], require_features=True))
            except DependencyUnavailableError:
                raise
            except Exception as error:
                out.append(self._dead(SCORE, message, error))
        return results

    def dead_letters(
        self, step: str, messages: Sequence[Message], error: BaseException
    ) -> list[Out]:
        """Every message of a batch as a dead letter, for a step that failed unexpectedly."""
        return [self._dead(step, message, error) for message in messages]

    def learn(self, messages: Sequence[Message]) -> list[Out]:
        """Labels and offer responses teach the models; bad ones become dead letters.

        A dependency that is down (Redis) is not the message's fault: it propagates, so the
        agent pauses and retries instead of dead-lettering good messages.
        """
        out: list[Out] = []
        labels: list[Label] = []  # consecutive labels are learnt in one pass
        for message in messages:
            try:
                if message.topic == topics.OFFER_RESPONSES:
                    response = parse_offer_response(message.value or b"")
                    self._learn_labels(labels)
                    self._feedback.on_offer_response(response)
                else:
                    labels.append(parse_label(message.value or b""))
            except EventValidationError as error:
                out.append(self._dead(LEARN, message, error))
        self._learn_labels(labels)
        return out

    def _learn_labels(self, labels: list[Label]) -> None:
        if labels:
            self._feedback.on_labels(labels)
            labels.clear()

    def customers(self, messages: Sequence[Message]) -> list[Out]:
        """Profiles into the feature store (a newer ``ts`` wins, so repeats are harmless)."""
        out: list[Out] = []
        for message in messages:
            try:
                profile = parse_customer(message.value or b"")
            except EventValidationError as error:
                out.append(self._dead(CUSTOMERS, message, error))
                continue
            self._profiles.put_customer(profile)
        return out


def is_transient(error: BaseException) -> bool:
    """Whether a step failed for a dependency (retry later) rather than for its input."""
    return isinstance(error, DependencyUnavailableError)
