"""Hostile messages on every input topic, through the stream steps (no broker): each bad one
becomes one dead letter with its reason and its bytes, and the good ones around it are
processed as if it were not there. A step never raises for its input."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.policy_file import PolicyHolder, load_policy
from events import topics
from events.metrics import Metrics
from events.records import CustomerProfile, Label, OfferResponse
from state.memory_store import InMemoryFeatureStore
from streams.pipeline import Message, Out, StreamSteps
from tests.unit.security.api_harness import Calm
from tests.unit.security.hostile import corpus, garbage, good_event, is_valid

INPUTS = (topics.TRANSACTIONS, topics.LABELS, topics.OFFER_RESPONSES, topics.CUSTOMERS)
#: The field that identifies a good event of each topic.
ID_FIELD = {
    topics.TRANSACTIONS: "tx_id",
    topics.LABELS: "tx_id",
    topics.OFFER_RESPONSES: "trigger_id",
    topics.CUSTOMERS: "customer_id",
}


@dataclass
class Recorder:
    """The learning side and the profile store: what reached them."""

    decided: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        self.decided += [r.decision.tx_id for r in results]

    def on_labels(self, labels: Sequence[Label]) -> None:
        self.labels += [label.tx_id for label in labels]

    def on_offer_response(self, response: OfferResponse) -> None:
        self.responses.append(response.trigger_id)

    def put_customer(self, profile: CustomerProfile) -> None:
        self.profiles.append(profile.customer_id)


def _steps() -> tuple[StreamSteps, Recorder, Metrics]:
    store = InMemoryFeatureStore()
    engine = DecisionEngine(PolicyHolder(load_policy()), store, Calm(), InMemoryCapStore())
    recorder, metrics = Recorder(), Metrics(CollectorRegistry())
    return StreamSteps(engine, recorder, recorder, b"k", metrics), recorder, metrics


def _run(steps: StreamSteps, topic: str, messages: list[Message]) -> list[Out]:
    if topic == topics.TRANSACTIONS:
        return steps.score(messages)
    if topic == topics.CUSTOMERS:
        return steps.customers(messages)
    return steps.learn(messages)


def _good_ids(topic: str, recorder: Recorder, out: list[Out]) -> list[str]:
    """The ids of the good events the step processed, in order."""
    if topic == topics.TRANSACTIONS:
        return [orjson.loads(v)["tx_id"] for t, _, v in out if t == topics.DECISIONS]
    if topic == topics.LABELS:
        return recorder.labels
    if topic == topics.OFFER_RESPONSES:
        return recorder.responses
    return recorder.profiles


def _id(topic: str, event: dict[str, object]) -> str:
    return str(event[ID_FIELD[topic]])


def _check(topic: str, values: list[bytes | None], good: dict[int, str]) -> None:
    """Run one batch of ``values``: good ones processed in order, every other a dead letter."""
    steps, recorder, metrics = _steps()
    messages = [Message(topic, 0, offset, b"k", value) for offset, value in enumerate(values)]
    out = _run(steps, topic, messages)
    assert _good_ids(topic, recorder, out) == list(good.values())
    letters = [orjson.loads(v) for t, _, v in out if t == topics.DEAD_LETTERS]
    bad = [offset for offset in range(len(values)) if offset not in good]
    assert [letter["source"]["offset"] for letter in letters] == bad
    for letter in letters:
        value = values[letter["source"]["offset"]]
        assert letter["source"]["topic"] == topic
        assert letter["reason"] in ("invalid_event", "malformed_payload"), letter
        assert letter["problems"] and all(p["field"] and p["problem"] for p in letter["problems"])
        assert letter["value_b64"] == (None if value is None else base64.b64encode(value).decode())
    counted = sum(
        metrics.registry.get_sample_value(
            "verdict_dead_letters_total", {"step": step, "reason": reason}
        )
        or 0.0
        for step in ("score", "learn", "customers")
        for reason in ("invalid_event", "malformed_payload")
    )
    assert counted == len(bad)


@pytest.mark.parametrize("topic", INPUTS)
def test_every_message_of_the_corpus_is_a_dead_letter_between_good_ones(topic: str) -> None:
    values: list[bytes | None] = []
    good: dict[int, str] = {}
    for i, hostile in enumerate(corpus(topic)):
        assert not is_valid(topic, hostile), hostile
        event = good_event(topic, i)
        good[len(values)] = _id(topic, event)
        values += [orjson.dumps(event), hostile]
    _check(topic, values, good)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), topic=st.sampled_from(INPUTS))
def test_garbage_interleaved_with_good_messages(data: st.DataObject, topic: str) -> None:
    kinds = data.draw(st.lists(st.booleans(), min_size=1, max_size=12), label="good or bad")
    values: list[bytes | None] = []
    good: dict[int, str] = {}
    for i, is_good in enumerate(kinds):
        if is_good:
            event = good_event(topic, i)
            good[len(values)] = _id(topic, event)
            values.append(orjson.dumps(event))
            continue
        value = data.draw(garbage(topic), label="garbage")
        if is_valid(topic, value):  # a random mutation may, rarely, still be a valid event
            continue
        values.append(value)
    _check(topic, values, good)
