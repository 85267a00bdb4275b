"""The console's topic follower on a real broker: recent history at start, live after, once each.

A console that starts after alerts were written still shows the last hour of them (and not
older ones), whatever the embedded broker says of its end offsets after batched produces;
alerts delivered twice show once; decisions feed the activity under the pseudonym; an
analyst's label on the topic marks its alert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from decisions.alerts import pseudonym
from decisions.console.books import ActivityBook, AlertBook
from decisions.console.follower import TopicFollower
from events import topics
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import start_test_broker

KEY = b"follower-test-key"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaSettings]:
    process, settings = start_test_broker(tmp_path / "broker")
    ensure_topics(settings, topics.ALL_TOPICS)
    try:
        yield settings
    finally:
        process.stop()


def _alert(i: int, customer: str = "c1") -> dict[str, Any]:
    ref = pseudonym(customer, KEY)
    return {"alert_id": f"al{i:03d}", "tx_id": f"t{i:03d}", "customer_ref": ref, "ts": 1.77e9 + i,
            "severity": "high", "outcome": "decline", "fraud_score": 0.9}  # fmt: skip


def _send(
    producer: KafkaProducer, topic: str, body: dict[str, Any], at_ms: int | None = None
) -> None:
    producer.send(topic, key=b"k", value=orjson.dumps(body), timestamp_ms=at_ms)


async def _until(condition: Any, what: str) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.05)


async def test_recent_history_then_live_events_each_once(broker: KafkaSettings) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=50)
    two_hours_ago = int((time.time() - 7200) * 1000)
    for i in range(5):
        _send(producer, topics.ALERTS, _alert(900 + i), at_ms=two_hours_ago)  # too old to show
    for i in range(40):  # batched produces: the embedded broker's end offsets go wrong
        for _ in range(2):
            _send(producer, topics.ALERTS, _alert(i))
    decision = {"tx_id": "t000", "customer_id": "c1", "ts": 1.77e9, "outcome": "decline"}
    _send(producer, topics.DECISIONS, decision)
    producer.flush()

    alerts, activity = AlertBook(), ActivityBook(KEY)
    follower = TopicFollower(broker.bootstrap_servers, alerts, activity, lookback_s=3600)
    follower.start()
    try:
        await _until(lambda: len(alerts) >= 40, "the last hour's alerts")
        for i in range(40, 45):  # live, after the start
            _send(producer, topics.ALERTS, _alert(i))
        _send(producer, topics.LABELS, {"tx_id": "t003", "is_fraud": True, "ts": 1.77e9,
                                        "source": "analyst"})  # fmt: skip
        _send(producer, topics.LABELS, {"tx_id": "t004", "is_fraud": True, "ts": 1.77e9,
                                        "source": "chargeback"})  # fmt: skip
        producer.flush()
        await _until(lambda: len(alerts) >= 45 and "verdict" in (alerts.get("al003") or {}), "live")
        await asyncio.sleep(0.5)  # anything else in flight arrives too
    finally:
        await follower.stop()
        producer.close()
    ids = [a["alert_id"] for a in alerts.newest(100)]
    assert sorted(ids) == [f"al{i:03d}" for i in range(45)]  # each once, none of the old ones
    marked, chargeback = alerts.get("al003"), alerts.get("al004")
    assert marked is not None and marked["verdict"] == "fraud"
    assert chargeback is not None and "verdict" not in chargeback  # not an analyst's verdict
    recent = activity.recent(pseudonym("c1", KEY))
    assert [d["tx_id"] for d in recent["decisions"]] == ["t000"]
