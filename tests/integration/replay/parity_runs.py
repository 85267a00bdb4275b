"""The two runs of the replay/backtest parity test, and how their outputs are compared.

- :func:`train_suite` learns a model suite from a simulated stream and its labels (in memory);
- :func:`publish_frozen` stores it in the registry as version 1, and :class:`FrozenBuild`
  builds an engine that resumes it and learns nothing more (the anomaly model, which learns
  on every transaction, is frozen too unless asked). Both runs use it: ``verdict serve``'s
  worker through its ``build`` hook, the backtest directly;
- :func:`backtest_stream` and :func:`serve_stream` decide the same files, in the process on
  event time and through Kafka, and return what each published;
- :func:`differences` says, field by field, where two sets of outputs differ.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import redis
from prometheus_client import CollectorRegistry

from decisions.alerts import build_alert
from decisions.engine import DecisionResult
from events import topics
from events.metrics import Metrics
from events.records import Label
from models.anomaly import AnomalyModel
from models.base import Features, FloatArray
from models.registry import ModelRegistry, code_digest
from models.suite import ModelSuite
from replay.backtest import Backtest, BacktestFiles
from replay.producer import replay_files
from replay.quality import Ledger
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import free_port
from tests.integration.streams.workers import read_topic
from verdict.serve import run_worker
from verdict.settings import Settings
from verdict.wiring import SUITE_ROLE, EngineParts, build_engine

#: The version label of every decision taken with the frozen suite (v1, no label learnt since).
FROZEN_VERSION: Final = f"{SUITE_ROLE}:v1+0"
#: Wall-clock fields: the only ones allowed to differ between the two runs.
TIMING: Final = frozenset({"latency_ms", "_ts_ms"})
#: Relative tolerance of float comparisons.
REL_TOL: Final = 1e-9

#: Outputs of one run, by topic, each keyed by its id (``tx_id``, ``trigger_id``).
Outputs = dict[str, dict[str, dict[str, Any]]]


class FrozenAnomaly(AnomalyModel):
    """An anomaly model that scores as it stands and never learns."""

    def surprises(self, xs: Sequence[Features], learn: bool) -> tuple[FloatArray, FloatArray]:
        return super().surprises(xs, learn=False)


def train_suite(settings: Settings, files: BacktestFiles) -> tuple[ModelSuite, int]:
    """A suite that learnt ``files`` (labels included) in memory; the labels it learnt."""
    parts = build_engine(settings, Metrics(CollectorRegistry()), state="memory")
    Backtest(parts.engine, parts.feedback, parts.store, Ledger()).run(files, _Discard())
    return parts.suite, parts.feedback.labels.learnt


def publish_frozen(settings: Settings, suite: ModelSuite, labels: int) -> None:
    """Empty the Redis database, then publish ``suite`` as version 1 of the registry."""
    client = redis.Redis.from_url(settings.redis.url)
    try:
        client.flushdb()
        registry = ModelRegistry(client, settings.models.registry_prefix)
        version = registry.publish(SUITE_ROLE, suite, code=code_digest(), labels=labels)
    finally:
        client.close()
    assert version == 1


class FrozenBuild:
    """Builds the engine ``verdict serve`` builds, on the registry's version 1, learning nothing.

    The fraud model learns only from labels and offer responses, which neither run is given.
    The anomaly model learns from every transaction it scores: it is frozen too, unless
    ``anomaly_learns`` (both runs see the transactions in the same order, so it learns the
    same in both; what differs is only where their batches end).
    """

    def __init__(self, anomaly_learns: bool = False) -> None:
        self.anomaly_learns = anomaly_learns

    def __call__(self, settings: Settings, metrics: Metrics, *, learner: bool) -> EngineParts:
        parts = build_engine(settings, metrics, learner=learner)
        assert parts.model_version() == FROZEN_VERSION, parts.model_version()
        if not self.anomaly_learns:
            parts.suite.anomaly.__class__ = FrozenAnomaly  # the same state, no learning
        return parts


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class _Recorder:
    """The backtest's learner, which also keeps every decision result."""

    def __init__(self, parts: EngineParts) -> None:
        self.feedback = parts.feedback
        self.results: list[DecisionResult] = []

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        self.results.extend(results)
        self.feedback.on_decisions(results)

    def on_label(self, label: Label) -> None:
        raise AssertionError(f"the parity runs have no labels, yet {label.tx_id} arrived")

    def on_labels(self, labels: Sequence[Label]) -> None:
        for label in labels:
            self.on_label(label)


def backtest_stream(
    settings: Settings, files: BacktestFiles, out: Path, build: FrozenBuild
) -> Outputs:
    """Backtest ``files`` with the frozen suite on Redis (as ``verdict backtest`` does): the
    decisions it wrote, and the triggers and alerts the stream would publish with them."""
    parts = build(settings, Metrics(CollectorRegistry()), learner=True)
    recorder = _Recorder(parts)
    run = Backtest(parts.engine, recorder, parts.store, Ledger(), strict=True)
    with out.open("wb") as handle:
        run.run(files, handle)
    assert parts.feedback.labels.learnt == 0
    key = settings.api.pseudonym_key.get_secret_value().encode()
    alerts = (build_alert(r.decision, key) for r in recorder.results)
    decisions = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    return {
        topics.DECISIONS: _by_id(decisions, "tx_id"),
        topics.TRIGGERS: _by_id(
            [_json(t) for r in recorder.results for t in r.triggers], "trigger_id"
        ),
        topics.ALERTS: _by_id([_json(a) for a in alerts if a is not None], "tx_id"),
        topics.DEAD_LETTERS: {},
    }


@dataclass
class _Worker:
    """The stream worker of :func:`serve_stream`, and its metrics."""

    task: asyncio.Task[None]
    registry: CollectorRegistry

    def sample(self, name: str, labels: Mapping[str, str]) -> float:
        return self.registry.get_sample_value(name, dict(labels)) or 0.0

    async def wait(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if self.task.done():  # a worker that died says why
                self.task.result()
                raise AssertionError(f"the worker stopped before {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            await asyncio.sleep(0.05)


def serve_stream(
    settings: Settings, files: BacktestFiles, build: FrozenBuild, customers: int, transactions: int
) -> Outputs:
    """Replay ``files`` through Kafka into one ``verdict serve`` worker with the frozen suite;
    what it published on each output topic.

    Profiles and transactions are separate agents in the worker, so a transaction could be
    decided before its customer's profile is stored. The backtest applies the profiles first
    (they have no ``ts``), so the profiles are replayed first and the transactions only once
    the worker has stored every one.
    """
    kafka = settings.kafka
    assert files.customers is not None and files.labels is None
    registry = CollectorRegistry()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_worker(settings, port=free_port(), registry=registry, stop=stop, build=build)
        )
        worker = _Worker(task, registry)
        try:
            servers = kafka.bootstrap_servers
            await asyncio.to_thread(replay_files, [files.customers], servers, strict=True)
            # observed right before the step runs, with no await between: seen from this
            # loop, every profile counted is stored
            stored = ("verdict_stream_batch_size_sum", {"step": "customers"})
            await worker.wait(lambda: worker.sample(*stored) >= customers, 60, "the profiles")
            await asyncio.to_thread(replay_files, [files.transactions], servers, strict=True)
            decided = ("verdict_events_published_total", {"topic": topics.DECISIONS})
            await worker.wait(lambda: worker.sample(*decided) >= transactions, 60, "decisions")
        finally:
            stop.set()
            await task

    asyncio.run(scenario())
    keys = {topics.DECISIONS: "tx_id", topics.TRIGGERS: "trigger_id", topics.ALERTS: "tx_id"}
    outputs = {topic: _by_id(_read(kafka, topic), key) for topic, key in keys.items()}
    letters = _read(kafka, topics.DEAD_LETTERS)
    outputs[topics.DEAD_LETTERS] = {str(i): letter for i, letter in enumerate(letters)}
    return outputs


def _read(kafka: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    return read_topic(kafka, topic, timeout_s=20)


def _json(event: Any) -> dict[str, Any]:
    """An output event as its JSON body (as the stream publishes it)."""
    body: dict[str, Any] = orjson.loads(event.model_dump_json())
    return body


def _by_id(events: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    by_id = {event[key]: event for event in events}
    assert len(by_id) == len(events), f"repeated {key}s"
    return by_id


def differences(expected: Outputs, got: Outputs) -> list[str]:
    """Every difference between two runs' outputs (timing fields aside), one line each."""
    out: list[str] = []
    for topic in sorted(expected.keys() | got.keys()):
        want, have = expected.get(topic, {}), got.get(topic, {})
        for missing in sorted(want.keys() - have.keys()):
            out.append(f"{topic} {missing}: only in the backtest")
        for extra in sorted(have.keys() - want.keys()):
            out.append(f"{topic} {extra}: only in the stream: {have[extra]}")
        for key in sorted(want.keys() & have.keys()):
            _compare(f"{topic} {key}", want[key], have[key], out)
    return out


def _compare(where: str, want: Any, have: Any, out: list[str]) -> None:
    if isinstance(want, dict) and isinstance(have, dict):
        for name in sorted((want.keys() | have.keys()) - TIMING):
            if name not in have or name not in want:
                side = "backtest" if name in want else "stream"
                out.append(f"{where}.{name}: only in the {side}")
            else:
                _compare(f"{where}.{name}", want[name], have[name], out)
    elif isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        for i, (a, b) in enumerate(zip(want, have, strict=True)):
            _compare(f"{where}[{i}]", a, b, out)
    elif _floats(want, have):
        if not math.isclose(want, have, rel_tol=REL_TOL, abs_tol=1e-12):
            out.append(f"{where}: backtest {want!r} != stream {have!r}")
    elif want != have or type(want) is not type(have):
        out.append(f"{where}: backtest {want!r} != stream {have!r}")


def _floats(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
