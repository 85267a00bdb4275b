"""One `verdict serve` worker in this process, on a fresh broker and the test Redis.

The worker decides a first stream (a pattern of large night payments at one terminal among
ordinary ones), learns labels that call the pattern fraud, then decides look-alikes of it: they
score higher than the pattern did before the labels. Its ``/metrics`` page passes
``promtool check metrics``.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import aiohttp
import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from events import topics
from replay.producer import replay_files
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.settings import StreamSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.streams.workers import T0, free_port, read_topic, write_lines
from verdict.serve import run_worker
from verdict.settings import Settings

FIRST, LOOKALIKES = 800, 200
DAY = 86_400


@dataclass
class Run:
    """What the worker did: every decision (by phase) and its /metrics page at the end."""

    first: list[dict[str, Any]]
    later: list[dict[str, Any]]
    pattern: set[str]
    learnt: float
    metrics: str


def _transactions(rnd: random.Random, n: int, prefix: str, start: float) -> list[dict[str, Any]]:
    """Ordinary daytime payments, and one in ten a large night payment at terminal t-x."""
    txs = []
    for i in range(n):
        day = start + (i // 40) * DAY
        pattern = i % 10 == 3
        amount = rnd.uniform(700, 990) if pattern else rnd.uniform(10, 80)
        terminal = "t-x" if pattern else f"t{rnd.randrange(30):02d}"
        tx = {
            "tx_id": f"{prefix}{i:04d}",
            "ts": day + (2 if pattern else 10) * 3600 + i,
            "customer_id": f"c{rnd.randrange(40):02d}",
            "amount": round(amount, 2),
            "terminal_id": terminal,
            "country": "FR",
        }
        txs.append(tx)
    return txs


def _published(registry: CollectorRegistry, topic: str) -> float:
    return registry.get_sample_value("verdict_events_published_total", {"topic": topic}) or 0.0


def _learnt(registry: CollectorRegistry) -> float:
    return sum(
        registry.get_sample_value("verdict_model_labels_total", {"role": "fraud", "outcome": o})
        or 0.0
        for o in ("fraud", "legitimate")
    )


async def _until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _scenario(settings: Settings, folder: Path) -> tuple[list[str], float, str]:
    """Run the worker through the three phases; the tx_ids of the pattern, labels learnt and
    the /metrics page."""
    rnd = random.Random(5)
    first = _transactions(rnd, FIRST, "a", T0)
    later = _transactions(rnd, LOOKALIKES, "b", T0 + 30 * DAY)
    labels = [
        {"tx_id": tx["tx_id"], "is_fraud": tx["terminal_id"] == "t-x", "source": "analyst",
         "ts": T0 + 25 * DAY, "customer_id": tx["customer_id"]}
        for tx in first
    ]  # fmt: skip
    servers = settings.kafka.bootstrap_servers
    registry, port, stop = CollectorRegistry(), free_port(), asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, port=port, registry=registry, stop=stop))
    try:
        for name, events, expect in (
            ("transactions", first, lambda: _published(registry, "decisions") >= FIRST),
            ("labels", labels, lambda: _learnt(registry) >= FIRST),
            ("transactions", later, lambda: _published(registry, "decisions") >= FIRST + 200),
        ):
            phase = folder / f"{name}-{len(events)}-{events[0]['tx_id']}"
            phase.mkdir()
            path = write_lines(phase / f"{name}.jsonl", (orjson.dumps(e) for e in events))
            await asyncio.to_thread(replay_files, [path], servers, validate=False)
            await _until(expect, 60, f"the worker to take the {name}")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            page = await response.text()
    finally:
        stop.set()
        await worker
    return (
        [tx["tx_id"] for tx in first + later if tx["terminal_id"] == "t-x"],
        _learnt(registry),
        page,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, redis_settings: RedisSettings) -> Run:
    folder = tmp_path_factory.mktemp("worker")
    broker, kafka = start_test_broker(folder / "broker")
    client = redis.Redis.from_url(redis_settings.url)
    client.flushdb()
    try:
        ensure_topics(kafka, topics.ALL_TOPICS)
        settings = Settings(
            kafka=kafka,
            redis=redis_settings,
            stream=StreamSettings(
                app_id=unique_topic("worker"),
                data_dir=str(folder / "w"),
                batch_size=200,
                batch_within_s=0.01,
            ),
        )
        pattern, learnt, page = asyncio.run(_scenario(settings, folder))
        decisions = read_topic(kafka, topics.DECISIONS)
    finally:
        client.flushdb()
        client.close()
        broker.stop()
    return Run(
        first=[d for d in decisions if d["tx_id"].startswith("a")],
        later=[d for d in decisions if d["tx_id"].startswith("b")],
        pattern=set(pattern),
        learnt=learnt,
        metrics=page,
    )


def test_labels_raise_the_scores_of_later_look_alikes(run: Run) -> None:
    assert run.learnt == FIRST
    before = [d["fraud_score"] for d in run.first if d["tx_id"] in run.pattern]
    after = [d["fraud_score"] for d in run.later if d["tx_id"] in run.pattern]
    ordinary = [d["fraud_score"] for d in run.later if d["tx_id"] not in run.pattern]
    assert len(before) == FIRST // 10 and len(after) == LOOKALIKES // 10
    assert mean(after) > mean(before) + 0.2
    assert mean(after) > mean(ordinary) + 0.3
    assert min(after) > max(ordinary)


def test_metrics_pass_promtool(run: Run, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    assert "verdict_decisions_total" in run.metrics
    assert "verdict_stream_latency_seconds_bucket" in run.metrics
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=run.metrics.encode(), capture_output=True, check=False
    )
    problems = (checked.stdout + checked.stderr).decode()
    assert checked.returncode == 0 and not problems.strip(), problems


def test_stream_latency_is_in_seconds(run: Run) -> None:
    samples = {
        sample.labels.get("le"): sample.value
        for family in text_string_to_metric_families(run.metrics)
        if family.name == "verdict_stream_latency_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket")
    }
    assert samples["+Inf"] == FIRST + LOOKALIKES
    assert samples["10.0"] == samples["+Inf"]  # broker timestamps are read in the right unit
