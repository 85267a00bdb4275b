"""faust-streaming against the embedded broker: an agent, a repartition and a changelogged table.

Only our settings are used (:meth:`~streams.settings.KafkaSettings.faust_options`); the short
consumer-group timeouts there are what bring the first event from ~30 s to a few seconds after
the app starts. The time to the first event is reported (``-s``, or the junit property), never
asserted.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from streams.admin import admin_client, ensure_topics
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import unique_topic

pytestmark = pytest.mark.integration

EVENTS = [{"tx_id": f"t{i}", "customer_id": f"c{i % 3}"} for i in range(9)]


async def _run_app(kafka: KafkaSettings, source: str, app_id: str, datadir: Path) -> dict[str, Any]:
    import faust

    app = faust.App(
        app_id,
        **kafka.faust_options(),
        store="memory://",
        web_enabled=False,
        datadir=str(datadir),
    )
    topic = app.topic(source, value_serializer="json")
    counts = app.Table("counts", default=int)
    seen: asyncio.Queue[float] = asyncio.Queue()

    @app.agent(topic)
    async def count(stream: Any) -> None:
        # The repartition by customer puts each customer's events on one partition, as the
        # stream workers will; the table's changelog makes the counts survive a restart.
        async for event in stream.group_by(lambda e: e["customer_id"], name="customer"):
            counts[event["customer_id"]] += 1
            seen.put_nowait(time.monotonic())

    started = time.monotonic()
    await app.start()
    try:
        for event in EVENTS:
            await topic.send(key=event["tx_id"].encode(), value=event)
        arrivals = [await asyncio.wait_for(seen.get(), timeout=60) for _ in EVENTS]
        return {
            "first_event_s": arrivals[0] - started,
            "counts": dict(counts.items()),
        }
    finally:
        await app.stop()


def test_a_faust_agent_repartitions_and_counts_in_a_table(
    kafka_settings: KafkaSettings, tmp_path: Path, record_property: Any
) -> None:
    source = unique_topic("faust-source")
    app_id = unique_topic("faust-app")
    # The source exists before the app starts, with the partitions faust gives its own topics:
    # a table refuses a source whose partitions differ from its changelog's (and the broker
    # would auto-create an unknown topic with its own default).
    ensure_topics(kafka_settings, [source])

    result = asyncio.run(_run_app(kafka_settings, source, app_id, tmp_path))

    assert result["counts"] == {"c0": 3, "c1": 3, "c2": 3}
    changelog = f"{app_id}-counts-changelog"
    repartition = f"{source}-customer-repartition"
    with admin_client(kafka_settings) as admin:
        topics = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
    made_by_faust = {name: n for name, n in topics.items() if name.endswith(repartition)}
    assert topics.get(changelog) == kafka_settings.partitions
    assert list(made_by_faust.values()) == [kafka_settings.partitions]
    record_property("faust_first_event_s", round(result["first_event_s"], 2))
    print(json.dumps({"faust_first_event_s": round(result["first_event_s"], 2)}))
