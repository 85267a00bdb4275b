"""The score step keeps going when the engine fails on one transaction of a batch."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from prometheus_client import CollectorRegistry

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.policy import Policy
from decisions.policy_file import PolicyHolder
from decisions.sources import Scores
from events.metrics import Metrics
from events.records import Label, OfferResponse, Transaction
from state.memory_store import InMemoryFeatureStore
from streams.pipeline import SCORE, Message, StreamSteps

T0 = 1_772_445_600


class BrokenOnOneInput(InMemoryFeatureStore):
    """A feature store with a bug on one input (amount 666)."""

    def update_and_get(self, tx: Transaction) -> dict[str, float]:
        if tx.amount == 666:
            raise ZeroDivisionError("a bug")
        return super().update_and_get(tx)

    def update_and_get_many(self, txs: Sequence[Transaction]) -> list[dict[str, float]]:
        return [self.update_and_get(tx) for tx in txs]


class Calm:
    def score(self, features: object) -> Scores:
        return Scores(fraud=0.01, anomaly=0.1, model_version="t")


class Feedback:
    def __init__(self) -> None:
        self.decided: list[str] = []

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        self.decided += [r.decision.tx_id for r in results]

    def on_labels(self, labels: Sequence[Label]) -> None:
        pass

    def on_offer_response(self, response: OfferResponse) -> None:
        pass


def _message(offset: int, amount: float) -> Message:
    tx = {"tx_id": f"t{offset}", "ts": T0 + offset, "customer_id": "c1", "amount": amount}
    return Message("transactions", 0, offset, b"c1", orjson.dumps(tx))


def test_a_transaction_the_engine_fails_on_is_a_dead_letter_and_the_others_are_decided() -> None:
    metrics = Metrics(CollectorRegistry())
    store = BrokenOnOneInput()
    engine = DecisionEngine(PolicyHolder(Policy()), store, Calm(), InMemoryCapStore())
    feedback = Feedback()
    steps = StreamSteps(engine, store, feedback, b"key", metrics)

    out = steps.score([_message(1, 10.0), _message(2, 666), _message(3, 12.0)])

    decided = [orjson.loads(v)["tx_id"] for topic, _, v in out if topic == "decisions"]
    letters = [orjson.loads(v) for topic, _, v in out if topic == "dead-letters"]
    assert decided == feedback.decided == ["t1", "t3"]
    assert [(d["reason"], d["source"]["offset"]) for d in letters] == [("unexpected_error", 2)]
    dead = metrics.registry.get_sample_value(
        "verdict_dead_letters_total", {"step": SCORE, "reason": "unexpected_error"}
    )
    assert dead == 1


def test_dead_letters_keep_every_message_of_a_failed_batch() -> None:
    metrics = Metrics(CollectorRegistry())
    store = InMemoryFeatureStore()
    engine = DecisionEngine(PolicyHolder(Policy()), store, Calm(), InMemoryCapStore())
    steps = StreamSteps(engine, store, Feedback(), b"key", metrics)
    messages = [_message(1, 10.0), _message(2, 11.0)]

    out = steps.dead_letters(SCORE, messages, RuntimeError("boom"))

    assert [orjson.loads(v)["source"]["offset"] for _, _, v in out] == [1, 2]
    assert {topic for topic, _, _ in out} == {"dead-letters"}
