"""The feature store contract: a handful of methods, two implementations, one error.

:class:`~state.redis_store.RedisFeatureStore` keeps the state in Redis (Lua, one round trip per
transaction); :class:`~state.memory_store.InMemoryFeatureStore` keeps it in the process, for unit
tests and fast backtests. Both give identical features for the same input (one conformance
suite runs on both). docs/features.md describes every feature and its semantics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final, Literal, Protocol

from events.errors import DependencyUnavailableError
from events.records import CustomerProfile, Label, Transaction

Entity = Literal["customer", "terminal", "device"]
ENTITIES: Final[tuple[Entity, ...]] = ("customer", "terminal", "device")

# How a transaction landed in one entity's state (the first byte of a script's answer).
IN_ORDER: Final = 0  #: at or after the entity's latest event time: counted
DUPLICATE: Final = 1  #: its tx_id was seen: nothing changed, the first features returned
TOO_LATE: Final = 2  #: older than the entity's longest window (+ margin): counted in nothing
LATE: Final = 3  #: out of order but inside the horizon: counted in the right windows

# What a label did to one entity's dedupe record (the answer of a script's label operation).
APPLIED: Final = 0  #: news: the first label, or a changed verdict
REPEATED: Final = 1  #: the same verdict again
STALE: Final = 2  #: older than the label already applied
MISSING: Final = 3  #: no record (unknown transaction, or expired)
#: Reason label of ``verdict_labels_ignored_total`` for each outcome but APPLIED.
LABEL_OUTCOMES: Final = {REPEATED: "repeated", STALE: "stale", MISSING: "expired"}


class FeatureStoreUnavailable(DependencyUnavailableError):  # noqa: N818 (the name the API knows)
    """The feature store's backend (Redis) did not answer in time, or not at all.

    Raised within the configured connect/command timeout, so that the decision layer can answer
    in degraded mode instead of waiting.
    """

    code = "feature_store_unavailable"


class FeatureStore(Protocol):
    """Rolling per-customer, per-terminal and per-device features on event time."""

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        """Record one transaction and return its features, itself included (atomic, idempotent).

        A repeated ``tx_id`` changes nothing and returns the features of its first time.
        """
        ...

    def update_and_get_many(self, txs: Sequence[Transaction]) -> list[dict[str, float]]:
        """:meth:`update_and_get` for a batch, in order (one pipeline on Redis)."""
        ...

    def get(self, entity: Entity, entity_id: str) -> dict[str, float]:
        """The live view of one entity, as of its latest event time; records nothing."""
        ...

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember a customer's home country and marketing consent (a newer ``ts`` wins)."""
        ...

    def learn_label(self, label: Label) -> dict[str, float] | None:
        """Apply a label to the fraud counts; return the labelled decision's feature snapshot.

        ``None`` when the transaction is unknown, its snapshot expired, or the label is older
        than the label horizon. The latest label (by ``ts``) of a transaction wins; a repeated
        label changes nothing.
        """
        ...

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        """:meth:`learn_label` of each, in order, as they are applied (on Redis two round trips
        per chunk of them). What was yielded was applied: when the store fails mid-way, the
        caller learns those before the error reaches it."""
        ...

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        """The exact features returned when ``tx_id`` was first decided, or ``None``."""
        ...
