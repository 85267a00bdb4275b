"""Triggers and alerts on the stream path go out exactly where the policy says.

A broker of this module's own, the engine on Redis (features, caps, lists), the default policy
and a scorer that flags only very large debits: the marketing rules (consent, not approved,
quiet after a decline, the 30-day cap per offer) and the alert per non-approved decision are
under test, through the faust topology and the real topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry

from decisions.caps import RedisCapStore
from decisions.engine import DecisionEngine
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import Scores
from events import topics
from events.metrics import Metrics
from events.records import CustomerProfile
from replay.producer import replay_files
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.pipeline import StreamSteps
from streams.settings import KafkaSettings, StreamSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.streams.test_topology import Feedback
from tests.integration.streams.workers import read_at_least, running_topology

T0 = 1_772_445_600  # 2026-03-02 10:00 UTC
DAY = 86_400


class HugeDebitsAreFraud:
    """Fraud 0.99 for a debit of 4,000 or more, else 0.01; the anomaly score stays low."""

    def score(self, features: Mapping[str, float]) -> Scores:
        huge = features.get("amount", 0.0) >= 4000 and not features.get("is_credit", 0.0)
        return Scores(fraud=0.99 if huge else 0.01, anomaly=0.1, model_version="test-v1")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    process, settings = start_test_broker(tmp_path_factory.mktemp("trigger-broker"))
    ensure_topics(settings, topics.ALL_TOPICS)
    try:
        yield settings
    finally:
        process.stop()


def _tx(tx_id: str, customer: str, at: float, amount: float, **fields: Any) -> dict[str, Any]:
    return {"tx_id": tx_id, "ts": at, "customer_id": customer, "amount": amount, **fields}


def _salary(tx_id: str, customer: str, at: float) -> dict[str, Any]:
    return _tx(tx_id, customer, at, 3200.0, direction="credit", type="transfer", purpose="SALA")


def _story() -> list[dict[str, Any]]:
    """Ordinary card payments around the cases, in event order."""
    cases = [
        _salary("sal-k1", "k1", T0),  # consent: an offer
        _salary("sal-k2", "k2", T0 + 60),  # no consent: none
        _tx("big-k3", "k3", T0 + 120, 6000.0, terminal_id="t1", country="FR"),  # declined
        _salary("sal-k3", "k3", T0 + 3600),  # within 7 days of a decline: none
        _salary("sal-k4a", "k4", T0 + 180),  # an offer...
        _salary("sal-k4b", "k4", T0 + 10 * DAY),  # ...and none again within 30 days
        _tx("med-k5", "k5", T0 + 240, 2500.0, mcc="8062", terminal_id="t2", country="FR"),
    ]
    ordinary = [
        _tx(f"card-{i:03d}", f"k{1 + i % 5}", T0 + 300 + i * 600, 20.0 + i % 30,
            terminal_id=f"t{i % 7}", country="FR")
        for i in range(200)
    ]  # fmt: skip
    return sorted(cases + ordinary, key=lambda tx: tx["ts"])


def test_triggers_and_alerts_go_out_where_the_policy_says(
    broker: KafkaSettings, redis_settings: RedisSettings, redis_client: redis.Redis, tmp_path: Path
) -> None:
    story = _story()
    path = tmp_path / "transactions.jsonl"
    path.write_bytes(b"".join(orjson.dumps(tx) + b"\n" for tx in story))
    metrics = Metrics(CollectorRegistry())
    store = RedisFeatureStore(redis_settings, metrics=metrics)
    for customer in ("k1", "k2", "k3", "k4", "k5"):
        consent = customer != "k2"
        store.put_customer(
            CustomerProfile(
                customer_id=customer, home_country="FR", marketing_consent=consent, ts=T0 - DAY
            )
        )
    engine = DecisionEngine(
        PolicyHolder(load_policy()),
        store,
        HugeDebitsAreFraud(),
        RedisCapStore(redis_client),
        metrics=metrics,
    )
    stream = StreamSettings(app_id=unique_topic("verdict-triggers"), data_dir=str(tmp_path / "w"))

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        steps = StreamSteps(engine, store, Feedback(), b"test-key", metrics)
        async with running_topology(broker, stream, steps, metrics):
            await asyncio.to_thread(replay_files, [path], broker.bootstrap_servers)
            decisions = await read_at_least(broker, topics.DECISIONS, len(story), timeout_s=60)
            triggers = await read_at_least(broker, topics.TRIGGERS, 3, timeout_s=10)
            alerts = await read_at_least(broker, topics.ALERTS, 1, timeout_s=10)
        return decisions, triggers, alerts

    decisions, triggers, alerts = asyncio.run(scenario())

    outcome = {d["tx_id"]: d["outcome"] for d in decisions}
    assert set(outcome) == {tx["tx_id"] for tx in story}
    assert outcome["big-k3"] == "decline"
    assert {tx_id for tx_id, o in outcome.items() if o != "approve"} == {"big-k3"}
    assert outcome["sal-k1"] == "approve"  # a large credit is not held

    sent = sorted((t["tx_id"], t["code"]) for t in triggers)
    assert sent == [
        ("med-k5", "medical_protection_offer"),
        ("sal-k1", "salary_wealth_offer"),
        ("sal-k4a", "salary_wealth_offer"),
    ]
    assert all(t["audience"] == "customer" and t["customer_id"].startswith("k") for t in triggers)
    assert len({t["trigger_id"] for t in triggers}) == len(triggers)
    by_tx = {d["tx_id"]: d for d in decisions}
    assert by_tx["sal-k1"]["triggers"] == ["salary_wealth_offer"]
    assert by_tx["sal-k2"]["triggers"] == by_tx["sal-k3"]["triggers"] == []

    assert [a["tx_id"] for a in alerts] == ["big-k3"]  # one alert per non-approved decision
    assert alerts[0]["outcome"] == "decline" and "k3" not in alerts[0]["customer_ref"]
    held = {
        (s.labels["code"], s.labels["rule"]): s.value
        for family in metrics.registry.collect()
        if family.name == "verdict_trigger_suppressions"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert held.get(("salary_wealth_offer", "no_consent")) == 1
    assert held.get(("salary_wealth_offer", "offer_cap")) == 1
    assert sum(v for (code, _), v in held.items() if code == "salary_wealth_offer") == 3
