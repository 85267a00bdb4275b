"""``verdict bench stream``: a bare faust agent against ``verdict serve`` on the same stream.

In one run, on a fresh embedded broker (a free port) and Redis database 13 (emptied before and
after):

1. a simulated bank (the handbook's process) gives the transactions; the first ones warm the
   feature store and train the model the worker scores with (a worker that has run a while);
2. N transactions (200,000; 20,000 with ``--quick``) are published as fast as possible;
3. baseline: a bare faust agent (:mod:`benchmarks.stream_bare`: the same faust settings and
   micro-batches, JSON decoding only) consumes the N; its events/s, first to last event;
4. ``verdict serve`` (a process of its own, a scorer of the registry's model) turns the same N
   into decisions, alerts and triggers; its decisions/s, first to last decision (broker
   timestamps of the decisions), and the ratio to the baseline;
5. the same worker then gets transactions paced at 5,000/s for 20 s (6 s ``--quick``); the
   event-to-decision latency of each is its decision's broker timestamp minus its own;
6. and, as a worker that cannot keep up with 5,000/s only queues, transactions paced at half
   the rate it decided in step 4, for 10 s (5 s ``--quick``): the latency of an unsaturated
   worker.

The report shows decisions per second over the whole run beside the bare agent's events per
second (``stream.png``, :mod:`benchmarks.stream_plot`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson
import redis
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.cpu import CpuSampler, redis_cpu_s
from benchmarks.harness import BenchContext, BenchResult
from benchmarks.stream_cpu import CPU_NOTE, cpu_per_event, pid_cpu
from benchmarks.stream_data import (
    Stamped,
    StreamData,
    paced_records,
    percentile,
    read_stamps,
    simulated,
    warm_start,
)
from benchmarks.stream_plot import PLOT, plot, timeline
from events import topics
from replay.producer import publish, replay_files
from state.redis_wire import url_with_db
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from verdict.embedded import EmbeddedBroker
from verdict.processes import end_child
from verdict.settings import StackSettings

BENCH_DB: Final = 13
#: Full size: transactions for the throughput runs, seconds paced at 5,000/s, seconds at the
#: sustained rate, transactions that warm the store and the model first.
SIZES: Final = (200_000, 20.0, 10.0, 30_000)
ROOT: Final = Path(__file__).resolve().parent.parent
PACED_RATE: Final = 5_000.0
GOALS: Final = {
    "serve_decided_per_s": ">= 10000",
    "ratio_to_bare_agent": ">= 0.6",
    "paced_p99_latency_ms": "<= 50",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bench_redis(settings: RedisSettings) -> RedisSettings:
    url = url_with_db(settings.url, BENCH_DB)
    return settings.model_copy(update={"url": url, "socket_timeout_s": 5.0})


class _Worker:
    """``verdict serve`` in a process of its own, a scorer following the registry."""

    def __init__(self, kafka: KafkaSettings, redis_settings: RedisSettings, folder: Path) -> None:
        self.port = _free_port()
        self.log = folder / "worker.log"
        self.env = dict(
            os.environ,
            VERDICT_KAFKA__URL=kafka.url,
            VERDICT_REDIS__URL=redis_settings.url,
            VERDICT_STREAM__APP_ID=f"bench-verdict-{uuid.uuid4().hex[:8]}",
            VERDICT_STREAM__DATA_DIR=str(folder / "worker"),
            VERDICT_STREAM__LEARNER="false",
            VERDICT_API__PORT=str(self.port),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.rate = 0.0

    def cpu_s(self) -> float:
        """The worker's CPU seconds so far (``nan`` before it starts)."""
        return pid_cpu(self.process)()

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "verdict.cli", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started = time.time()

    def counts(self) -> dict[str, float]:
        """Events published by topic and decisions by outcome, from ``/metrics``."""
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "verdict_events_published_total":
                    found[sample.labels["topic"]] = sample.value
                elif sample.name == "verdict_decisions_total":
                    found[f"outcome_{sample.labels['outcome']}"] = sample.value
        return found

    def wait_for(self, decisions: int, timeout_s: float) -> dict[str, float]:
        """Wait until ``decisions`` are published; the counts then. ``rate`` is set to the
        decisions per second seen while waiting (a rough figure, for pacing)."""
        deadline = time.monotonic() + timeout_s
        first: tuple[float, float] | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"verdict serve exited; see {self.log}")
            counts = self.counts()
            done = counts.get(topics.DECISIONS, 0)
            if first is None and done > 0:
                first = (time.monotonic(), done)
            if done >= decisions:
                if first is not None and time.monotonic() > first[0]:
                    self.rate = (done - first[1]) / (time.monotonic() - first[0])
                return counts
            time.sleep(0.5)
        raise TimeoutError(f"verdict serve decided fewer than {decisions} in {timeout_s:.0f} s")

    def stop(self) -> None:
        end_child(self.process, timeout_s=30)


def _bare_agent(kafka: KafkaSettings, folder: Path, count: int) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "benchmarks.stream_bare", "--broker", kafka.url,
        "--count", str(count), "--app-id", f"bench-bare-{uuid.uuid4().hex[:8]}",
        "--data-dir", str(folder / "bare"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, check=True, timeout=900)
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def run(ctx: BenchContext) -> BenchResult:
    """Run the benchmark (see the module docstring)."""
    n, paced_s, sustained_s, warm = (20_000, 6.0, 5.0, 10_000) if ctx.quick else SIZES
    redis_settings = _bench_redis(ctx.settings.redis)
    client = redis.Redis.from_url(redis_settings.url)
    client.flushdb()
    kafka = KafkaSettings(url=f"kafka://127.0.0.1:{_free_port()}")
    with tempfile.TemporaryDirectory(prefix="verdict-bench-stream-") as tmp:
        folder = Path(tmp)
        data = simulated(
            folder / "sim", warm, n, int(PACED_RATE * paced_s), int(PACED_RATE * sustained_s)
        )
        broker = EmbeddedBroker(kafka, StackSettings(home=folder / "stack"))
        broker.start()
        worker = _Worker(kafka, redis_settings, folder)
        cpu = CpuSampler(
            {
                "redis": redis_cpu_s(client),
                "broker": pid_cpu(broker.owned()[0]),
                "worker": worker.cpu_s,
            }
        )
        cpu.start()
        try:
            ensure_topics(kafka, topics.ALL_TOPICS)
            warm_start(ctx.settings, redis_settings, data)
            stream = folder / "transactions.jsonl"
            stream.write_bytes(b"\n".join(data.throughput) + b"\n")
            replayed = replay_files([stream], kafka.bootstrap_servers, validate=False)
            load = {"before_bare": os.getloadavg()[0]}
            bare = _bare_agent(kafka, folder, n)
            load["before_serve"] = os.getloadavg()[0]
            worker.start()
            worker.wait_for(n, timeout_s=120 + n / 500)
            load["before_paced"] = os.getloadavg()[0]
            phases = {f"paced {PACED_RATE:,.0f}/s from": time.time() - worker.started}
            paced = asyncio.run(
                publish(paced_records(data.paced, PACED_RATE), kafka.bootstrap_servers, speed=1.0)
            )
            sustainable = max(100.0, min(PACED_RATE, worker.rate / 2))
            worker.wait_for(n + len(data.paced), timeout_s=120 + n / 500)
            sustained = data.sustained[: int(sustainable * sustained_s)]
            phases[f"paced {sustainable:,.0f}/s from"] = time.time() - worker.started
            asyncio.run(
                publish(paced_records(sustained, sustainable), kafka.bootstrap_servers, speed=1.0)
            )
            total = n + len(data.paced) + len(sustained)
            counts = worker.wait_for(total, timeout_s=120 + sustained_s)
            worker.stop()
            measured, decision_ms = _read_back(kafka, data.paced, sustained, n)
            measured["sustained_rate"] = sustainable
        finally:
            cpu.stop()
            worker.stop()
            broker.stop()
            client.flushdb()
            client.close()
    result = _result(n, data, bare, replayed.rate, paced.rate, worker.started, counts, load,
                     measured)  # fmt: skip
    result.metrics |= cpu_per_event(cpu, bare, measured, n)
    series = timeline(decision_ms, worker.started, bare["samples"], bare["started"])
    goal = float(GOALS["serve_decided_per_s"].split()[1])
    result.report = plot(series, phases, goal, ctx.out_dir / PLOT)
    return result


def _read_back(
    kafka: KafkaSettings, paced: list[bytes], sustained: list[bytes], n: int
) -> tuple[dict[str, float], list[int]]:
    """What the topics say: throughput and the latencies of both paced runs (``sustained_*``),
    and the broker timestamp (ms) of every decision."""
    paced_ids, sustained_ids = _ids(paced), _ids(sustained)
    inputs = read_stamps(kafka, topics.TRANSACTIONS, keep=paced_ids | sustained_ids)
    decisions = read_stamps(kafka, topics.DECISIONS)
    measured = _measure(inputs, decisions, paced_ids, n) | {
        f"sustained_{k}": v for k, v in _measure(inputs, decisions, sustained_ids, n).items()
    }
    return measured, decisions.times


def _ids(lines: list[bytes]) -> frozenset[str]:
    return frozenset(orjson.loads(line)["tx_id"] for line in lines)


def _measure(
    inputs: Stamped, decisions: Stamped, paced_ids: frozenset[str], n: int
) -> dict[str, float]:
    """Throughput (first ``n`` decisions) and latency (of the transactions ``paced_ids``) from
    the broker timestamps of inputs and decisions."""
    first_n = sorted(decisions.times)[:n]
    latencies = [
        float(decisions.by_tx[tx_id] - at)
        for tx_id, at in inputs.by_tx.items()
        if tx_id in paced_ids and tx_id in decisions.by_tx
    ]
    span_s = (first_n[-1] - first_n[0]) / 1000
    return {
        "decided_per_s": (n - 1) / span_s if span_s > 0 else 0.0,
        "first_decision_ms": float(first_n[0]),
        "last_decision_ms": float(first_n[-1]),
        "decisions_in_topic": float(len(decisions.times)),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "paced_decided": float(len(latencies)),
    }


def _result(
    n: int,
    data: StreamData,
    bare: Mapping[str, Any],
    replay_rate: float,
    paced_rate: float,
    worker_started: float,
    counts: Mapping[str, float],
    load: Mapping[str, float],
    measured: Mapping[str, float],
) -> BenchResult:
    bare_rate = (bare["events"] - 1) / (bare["last"] - bare["first"])
    decided = measured["decided_per_s"]
    total = int(counts.get(topics.DECISIONS, 0.0))
    metrics = {
        "serve_decided_per_s": decided,
        "ratio_to_bare_agent": decided / bare_rate,
        "paced_p99_latency_ms": measured["p99_ms"],
        "paced_p50_latency_ms": measured["p50_ms"],
        "paced_max_latency_ms": measured["max_ms"],
        "paced_input_per_s": paced_rate,
        "sustained_input_per_s": measured["sustained_rate"],
        "sustained_p50_latency_ms": measured["sustained_p50_ms"],
        "sustained_p99_latency_ms": measured["sustained_p99_ms"],
        "serve_start_to_first_decision_s": measured["first_decision_ms"] / 1000 - worker_started,
        "decisions": counts.get(topics.DECISIONS, 0.0),
        "alerts": counts.get(topics.ALERTS, 0.0),
        "triggers": counts.get(topics.TRIGGERS, 0.0),
    }
    outcomes = ", ".join(
        f"{k.removeprefix('outcome_')} {v:,.0f}"
        for k, v in counts.items()
        if k.startswith("outcome_")
    )
    return BenchResult(
        name="stream",
        metrics=metrics,
        baseline={
            "bare_agent_events_per_s": bare_rate,
            "bare_agent_start_to_first_event_s": bare["first"] - bare["started"],
            "replay_publish_per_s": replay_rate,
        },
        goals=GOALS,
        notes=[
            f"N = {n:,} simulated transactions for the throughput runs, then "
            f"{len(data.paced):,} more paced at {PACED_RATE:,.0f}/s, then "
            f"{measured['sustained_paced_decided']:,.0f} at half the rate the worker decided "
            f"(`sustained_*`); {len(data.warm):,} before "
            "them warmed the feature store and trained the model (the worker scores with the "
            "registry's version, as a scorer of `verdict serve --workers N` does).",
            f"Decisions of the {total:,} transactions: {outcomes}; decisions in the topic: "
            f"{measured['decisions_in_topic']:,.0f}; paced transactions decided: "
            f"{measured['paced_decided']:,.0f}.",
            "Rates run from the first to the last event (bare agent) or decision (serve, "
            "broker timestamps): start-up is reported apart. Latency: the decision's broker "
            "timestamp minus the transaction's (CreateTime, both on this machine's clock).",
            CPU_NOTE,
            "Load average (1 min) before each phase, on this shared 2-core machine: "
            + ", ".join(f"{k} {v:.2f}" for k, v in load.items())
            + ".",
        ],
    )
