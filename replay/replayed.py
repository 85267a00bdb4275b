"""What a two-process backtest's feature stage answered, and the backtest's replay of it.

The stage (:mod:`replay.pipeline`) does the feature store's part of each step, which depends
only on the stream. Its :class:`RecordingStore` keeps every answer in the order given; the
backtest's engine asks the same questions of :class:`ReplayedFeatures`, which answers from that
record. A question asked out of turn is a bug, and stops the run (:class:`PipelineDivergedError`)
rather than decide on wrong numbers.

>>> tx = Transaction(tx_id="t1", ts=1772362800.0, customer_id="c1", amount=5.0)
>>> recording = RecordingStore(store=None)
>>> recording.answers.append(("features", 1, [{"amount": 5.0}]))
>>> replayed = ReplayedFeatures()
>>> replayed.load(recording.take())
>>> replayed.update_and_get_many([tx])
[{'amount': 5.0}]
>>> replayed.done()

A label is learnt from the features its transaction was decided on, which both processes saw:
each keeps the recent ones (:class:`DecidedFeatures`, in step, as both make the same calls in
the same order), so the stage sends a mark instead of the snapshot, and its in-memory store
does not build it again (``apply_label``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from events.errors import VerdictError
from events.records import CustomerProfile, Label, Transaction
from models.base import Features

if TYPE_CHECKING:
    from state.redis_steps import StepPipeline

#: One question answered: what was asked, of what, and the answer.
Answer = tuple[str, object, Any]
#: An answer to a label: "the features you decided its transaction on" (see DecidedFeatures).
_DECIDED_ON: Final = True
#: How long (event time) and how many decisions' features are kept for their labels: labels
#: that come later are sent whole. The handbook's come a week after their transaction.
KEEP_S: Final = 10 * 86_400.0
KEEP_MOST: Final = 200_000


class PipelineDivergedError(VerdictError):
    """The backtest asked the replayed store something the feature stage did not ask."""

    code = "pipeline_diverged"


class DecidedFeatures:
    """The features recent transactions were decided on, by ``tx_id``, until a label takes
    them: at most ``most``, none older than ``keep_s`` (event time) behind the latest kept.

    Deterministic: two of them told the same calls in the same order hold the same entries.

    >>> kept = DecidedFeatures(keep_s=60.0)
    >>> kept.keep([("t1", 0.0), ("t2", 30.0)], [{"amount": 1.0}, {"amount": 2.0}])
    >>> kept.keep([("t3", 90.0)], [{"amount": 3.0}])  # t1 is now too old
    >>> kept.take("t1"), kept.take("t2"), kept.take("t2")
    (None, {'amount': 2.0}, None)
    """

    def __init__(self, keep_s: float = KEEP_S, most: int = KEEP_MOST) -> None:
        self.keep_s = keep_s
        self.most = most
        self._by_tx: dict[str, dict[str, float]] = {}
        self._order: deque[tuple[float, str]] = deque()
        self._latest = float("-inf")

    def keep(self, decided: Iterable[tuple[str, float]], features: Sequence[Features]) -> None:
        """Keep the features of transactions ``decided`` (``tx_id``, ``ts``), in order; a
        transaction decided again keeps its first features, as the stores do."""
        by_tx, order = self._by_tx, self._order
        for (tx_id, ts), found in zip(decided, features, strict=True):
            if tx_id not in by_tx:
                by_tx[tx_id] = found  # type: ignore[assignment]
                order.append((ts, tx_id))
                self._latest = max(self._latest, ts)
        oldest = self._latest - self.keep_s
        while order and (order[0][0] < oldest or len(order) > self.most):
            by_tx.pop(order.popleft()[1], None)

    def peek(self, tx_id: str) -> dict[str, float] | None:
        """The features ``tx_id`` was decided on; ``None`` if not kept."""
        return self._by_tx.get(tx_id)

    def take(self, tx_id: str) -> dict[str, float] | None:
        """The features ``tx_id`` was decided on, forgotten now; ``None`` if not kept."""
        return self._by_tx.pop(tx_id, None)

    def __len__(self) -> int:
        return len(self._by_tx)


def _decided(txs: Sequence[Transaction]) -> Iterator[tuple[str, float]]:
    return ((tx.tx_id, tx.ts) for tx in txs)


class RecordingStore:
    """The stage's feature store, keeping every answer it gives for the backtest to replay.

    On a store that pipelines steps (Redis: :mod:`state.redis_steps`), a batch's updates and
    a step's labels go out when sent (:meth:`send_many`, :meth:`send_labels`) and are read
    when their step is done, possibly after the next step went out; anything else asked of
    the store first reads what is outstanding.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self.answers: list[Answer] = []
        self.decided = DecidedFeatures()
        self._apply = getattr(store, "apply_label", None)  # the in-memory store's
        make_pipeline = getattr(store, "pipeline", None)
        self._pipeline: StepPipeline | None = make_pipeline() if make_pipeline else None
        self._labels: dict[int, tuple[Sequence[Label], Callable[[], list[Any]]]] = {}

    @property
    def pipelined(self) -> bool:
        """Whether steps are pipelined (sent before the previous step's answers are read)."""
        return self._pipeline is not None

    def send_many(self, txs: Sequence[Transaction]) -> Callable[[], list[dict[str, float]]]:
        """The store's ``update_and_get_many`` in two steps: ``txs`` go to the store now (Redis
        runs them while the caller works on), and the call returned gives their features
        (kept)."""
        if self._pipeline is not None:
            read = self._pipeline.send_transactions(txs).result
        else:  # the in-memory store answers at once
            answered = list(self._store.update_and_get_many(txs))
            read = lambda: answered  # noqa: E731

        def features() -> list[dict[str, float]]:
            found = read()
            self.answers.append(("features", len(txs), found))
            self.decided.keep(_decided(txs), found)
            return found

        return features

    def send_labels(self, labels: Sequence[Label]) -> bool:
        """Send ``labels`` now when steps are pipelined (:meth:`learn_labels` of the same
        sequence reads them); whether the store knew all their transactions then."""
        if self._pipeline is None:
            return False
        known: bool = self._store.labels.remembers(labels)
        self._labels[id(labels)] = (labels, self._pipeline.send_labels(labels).result)
        return known

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        """Each label's snapshot, or ``None`` (kept)."""
        sent = self._labels.pop(id(labels), None)  # sent (a later step's may be out too)
        if sent is not None and sent[0] is labels:
            found = sent[1]()
        elif self._apply is not None:
            found = [self._learnt(label) for label in labels]
        else:
            self._drain()
            found = list(self._store.learn_labels(labels))
        answers = [self._answer(label.tx_id, x) for label, x in zip(labels, found, strict=True)]
        self.answers.append(("labels", len(labels), answers))
        return iter(found)

    def learn_label(self, label: Label) -> dict[str, float] | None:
        """One label's snapshot, or ``None`` (kept)."""
        if self._apply is not None:
            found = self._learnt(label)
        else:
            self._drain()
            found = self._store.learn_label(label)
        self.answers.append(("label", label.tx_id, self._answer(label.tx_id, found)))
        return found

    def _learnt(self, label: Label) -> dict[str, float] | None:
        """The in-memory store's answer: the features the decision was taken on when they are
        kept (equal to the snapshot, which is not built again), else the snapshot."""
        assert self._apply is not None
        if not self._apply(label):
            return None
        found = self.decided.peek(label.tx_id)
        return found if found is not None else self._store.snapshot(label.tx_id)

    def _answer(self, tx_id: str, found: dict[str, float] | None) -> object:
        """What the backtest is sent for a label's snapshot: the mark when it equals the
        features both processes keep for ``tx_id`` (both forget them now), else the snapshot."""
        if found is not None:
            kept = self.decided.peek(tx_id)
            if kept is found or (kept is not None and kept == found):
                self.decided.take(tx_id)
                return _DECIDED_ON
        return found

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        """The features first returned for ``tx_id`` (kept)."""
        self._drain()
        found: dict[str, float] | None = self._store.snapshot(tx_id)
        self.answers.append(("snapshot", tx_id, found))
        return found

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember a profile (nothing to replay: the backtest's engine never asks)."""
        self._drain()
        self._store.put_customer(profile)

    def close(self) -> None:
        """Read what is outstanding (pipelined steps) and give the connection back."""
        if self._pipeline is not None:
            self._pipeline.close()

    def _drain(self) -> None:
        """Read what is outstanding before asking the store on another connection."""
        if self._pipeline is not None:
            self._pipeline.drain()

    def take(self) -> list[Answer]:
        """The answers since the last call."""
        answers, self.answers = self.answers, []
        return answers


class ReplayedFeatures:
    """The backtest's feature store: each question answered as the stage's store answered it."""

    def __init__(self) -> None:
        self._answers: deque[Answer] = deque()
        self.decided = DecidedFeatures()

    def load(self, answers: list[Answer]) -> None:
        """The answers of the next step."""
        self._answers.extend(answers)

    def done(self) -> None:
        """A step is over: every answer of it was asked for."""
        if self._answers:
            asked, key, _ = self._answers[0]
            raise PipelineDivergedError(
                f"the backtest never asked for the stage's {asked} of {key}"
            )

    def answer(self, asked: str, key: object) -> Any:
        """The next answer, which must be to ``asked`` of ``key``."""
        if not self._answers:
            raise PipelineDivergedError(
                f"the backtest asked for {asked} of {key}; the stage did not"
            )
        got, got_key, answer = self._answers.popleft()
        if (got, got_key) != (asked, key):
            raise PipelineDivergedError(
                f"the backtest asked for {asked} of {key}, the stage for {got} of {got_key}"
            )
        return answer

    def update_and_get_many(self, txs: Sequence[Transaction]) -> list[dict[str, float]]:
        """The features the stage found for ``txs``."""
        found: list[dict[str, float]] = self.answer("features", len(txs))
        self.decided.keep(_decided(txs), found)
        return found

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        """The features the stage found for one transaction."""
        return self.update_and_get_many([tx])[0]

    def learn_labels(self, labels: Sequence[Label]) -> Iterator[dict[str, float] | None]:
        """The snapshots the stage found for ``labels``."""
        found = self.answer("labels", len(labels))
        return iter(
            [self._snapshot(label.tx_id, x) for label, x in zip(labels, found, strict=True)]
        )

    def learn_label(self, label: Label) -> dict[str, float] | None:
        """The snapshot the stage found for one label."""
        return self._snapshot(label.tx_id, self.answer("label", label.tx_id))

    def _snapshot(self, tx_id: str, found: Any) -> dict[str, float] | None:
        if found is not _DECIDED_ON:
            return found  # type: ignore[no-any-return]
        kept = self.decided.take(tx_id)
        if kept is None:
            raise PipelineDivergedError(
                f"the stage kept the features of {tx_id}; the backtest did not"
            )
        return kept

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        """The snapshot the stage found for ``tx_id``."""
        found: dict[str, float] | None = self.answer("snapshot", tx_id)
        return found

    def put_customer(self, profile: CustomerProfile) -> None:
        """Nothing: the stage's store took the profile."""
