"""Issue #8, done when: with learning frozen at one model version, replaying a stream through
Kafka into ``verdict serve`` and backtesting it give the same features and outcomes for every
transaction (apart from timing fields).

A model suite learns a simulated stream with its labels and is published as version 1; both
runs resume it and learn nothing more (no labels or offer responses are given, and the anomaly
model, which learns from every transaction, is frozen: see :mod:`parity_runs`). Then a second
stream (every scenario, over a month's turn so that salaries come in) is decided twice on the
real Redis, emptied in between: by ``verdict backtest``'s driver in the process, and by
replaying its profiles and transactions through the embedded broker into ``verdict serve``'s
worker (run in this process, as in the scale-out test, for its ``build`` hook). Every decision,
trigger and alert must be the same, field by field, floats within 1e-9 relative; only
``latency_ms`` (and the broker timestamp) may differ.

The second case lets the anomaly model learn on both sides, as it does in production: the
transactions come in the same order, so it learns the same, and the decisions (reasons
included) must not depend on where the worker's micro-batches and the backtest's batches end.

The topics have one partition: with several, a decision's terminal and device features (and
the rules on them) depend on how the partitions' transactions interleave in the worker, which
is not the order of event time the backtest follows. Labels are left out: the worker learns
them in an agent of their own, beside the transactions, so when a label counts (the terminal
fraud rates, the fraud model) would depend on timing, and learning is what is frozen here.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest

from events import topics
from replay.backtest import BacktestFiles
from replay.simulator import SCENARIOS, SimulationConfig, simulate
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.settings import StreamSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.replay.parity_runs import (
    FROZEN_VERSION,
    FrozenBuild,
    backtest_stream,
    differences,
    publish_frozen,
    serve_stream,
    train_suite,
)
from verdict.settings import Settings

EVERY_SCENARIO = frozenset(scenario.name for scenario in SCENARIOS)
CUSTOMERS = 300


def _simulate(folder: Path, *, seed: int, start: date, days: int) -> BacktestFiles:
    config = SimulationConfig(
        customers=CUSTOMERS,
        terminals=400,
        days=days,
        seed=seed,
        start=start,
        scenarios=EVERY_SCENARIO,
        rates={"medical": 3.0, "outflow_other_bank": 0.1},  # a few of each in a week
    )
    simulate(config, folder, progress=False)
    return BacktestFiles(
        folder / "transactions.jsonl", folder / "labels.jsonl", folder / "customers.jsonl"
    )


@pytest.mark.parametrize("anomaly_learns", [False, True], ids=["frozen", "anomaly-learning"])
def test_a_replay_through_kafka_decides_as_the_backtest(
    tmp_path: Path,
    redis_settings: RedisSettings,
    anomaly_learns: bool,
) -> None:
    training = _simulate(tmp_path / "training", seed=21, start=date(2018, 4, 1), days=14)
    stream = _simulate(tmp_path / "stream", seed=22, start=date(2018, 4, 23), days=8)
    files = BacktestFiles(stream.transactions, None, stream.customers)
    tx_ids = [orjson.loads(line)["tx_id"] for line in files.transactions.read_bytes().split()]

    broker, kafka = start_test_broker(tmp_path / "broker")
    try:
        kafka = kafka.model_copy(update={"partitions": 1})  # see the module docstring
        ensure_topics(kafka, topics.ALL_TOPICS)
        worker = StreamSettings(
            app_id=unique_topic("parity"),
            data_dir=str(tmp_path / "worker"),
            batch_size=200,
            batch_within_s=0.01,
        )
        settings = Settings(kafka=kafka, redis=redis_settings, stream=worker)
        suite, labels = train_suite(settings, training)
        publish_frozen(settings, suite, labels)
        build = FrozenBuild(anomaly_learns)
        backtest = backtest_stream(settings, files, tmp_path / "decisions.jsonl", build)
        publish_frozen(settings, suite, labels)  # empties the database first
        served = serve_stream(settings, files, build, CUSTOMERS, len(tx_ids))
    finally:
        broker.stop()

    decisions = backtest[topics.DECISIONS]
    assert list(decisions) == tx_ids  # one decision per transaction, in file order
    assert set(served[topics.DECISIONS]) == set(tx_ids)
    found = differences(backtest, served)
    assert not found, f"{len(found)} differences, the first ones:\n" + "\n".join(found[:12])

    # what was compared is not trivial: every outcome, triggers, alerts, one model version
    assert {d["model_version"] for d in decisions.values()} == {FROZEN_VERSION}
    outcomes = Counter(d["outcome"] for d in decisions.values())
    assert set(outcomes) == {"approve", "challenge", "review", "decline"}, outcomes
    codes = Counter(t["code"] for t in backtest[topics.TRIGGERS].values())
    assert len(codes) >= 4, codes
    assert backtest[topics.ALERTS]
