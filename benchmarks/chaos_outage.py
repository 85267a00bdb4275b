"""Chaos, parts 2 and 3: Redis, then the broker, go away for a while under load.

One ``verdict serve`` on a private Redis and broker gets inline decisions open loop (its own
customers) and, during the Redis outage, a paced stream (customers of its own) from
``verdict replay``:

- **Redis outage**: the Redis server is stopped (SIGTERM; append-only, so it comes back with
  its data) for ``outage_s`` and started again on the same port. The API must go on answering
  (degraded decisions, marked so), no 5xx; the stream agent must pause, not drop or
  dead-letter; both recover by themselves; every stream transaction gets its decision and the
  features in Redis equal an exact recomputation of the stream.
- **Broker outage**: the broker is frozen (SIGSTOP, see :mod:`benchmarks.chaos_procs` for why
  not killed) for ``outage_s``. Inline decisions go on; their events wait in the publisher's
  bounded buffer and are all in the topic after SIGCONT; the stream agent resumes.
- **Overflow**: a worker with a small buffer (``publish_buffer``) through a shorter freeze:
  what does not fit is dropped, counted and logged, and no request waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.chaos_checks import (
    compare_state,
    covering,
    decision_feature_mismatches,
    read_topic,
    recompute,
    synthetic_stream,
)
from benchmarks.chaos_load import LoadProcess, window
from benchmarks.chaos_procs import Broker, PrivateRedis, Serve, finish_replay, replay
from events import topics
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings

APP_ID = "chaos-outage"


@dataclass(frozen=True)
class OutagePlan:
    """Sizes of the outage phases."""

    rate: float = 500.0
    before_s: float = 10.0
    outage_s: float = 30.0
    after_s: float = 20.0
    stream_rate: float = 200.0
    overflow_buffer: int = 1_000
    overflow_rate: float = 300.0
    overflow_outage_s: float = 10.0

    @property
    def total_s(self) -> float:
        """Seconds of inline load of one outage phase."""
        return self.before_s + self.outage_s + self.after_s


def _write(path: Path, txs: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(tx) for tx in txs) + b"\n")
    return path


def _poll(during_s: float, sample: Callable[[], None], every_s: float = 0.5) -> None:
    deadline = time.monotonic() + during_s
    while time.monotonic() < deadline:
        sample()
        time.sleep(min(every_s, max(0.0, deadline - time.monotonic())))


def _inline(prefix: str, result: dict[str, Any], down: float, up: float) -> dict[str, float]:
    """Figures of the inline load around an outage from ``down`` to ``up`` (epoch seconds)."""
    records = result["records"]
    start = result["started_epoch"]
    during = window(records, down - start, up - start)
    total = window(records, 0, 1e9)
    after = [r for r in records if r[0] >= up - start]
    healthy = next((r[0] - (up - start) for r in after if r[2] == 200 and not r[3]), -1.0)
    return {
        f"{prefix}_requests": float(total.requests),
        f"{prefix}_5xx": float(total.server_errors),
        f"{prefix}_no_answer": float(total.no_answer),
        f"{prefix}_served_during_outage": float(during.ok),
        f"{prefix}_requests_during_outage": float(during.requests),
        f"{prefix}_degraded_during_outage": float(during.degraded),
        f"{prefix}_client_p99_during_outage_ms": during.p99_ms,
        f"{prefix}_client_p50_during_outage_ms": during.p50_ms,
        f"{prefix}_client_max_during_outage_ms": during.max_ms,
        f"{prefix}_inline_recovery_s": healthy,
    }


def _ok_ids(prefix: str, result: dict[str, Any]) -> set[str]:
    """``tx_id`` of the requests answered 200 (request ``i`` is ``prefix + i``; the records
    are sorted by due time, which is ``i / rate``)."""
    return {f"{prefix}{i}" for i, r in enumerate(result["records"]) if r[2] == 200}


def redis_outage(
    folder: Path, plan: OutagePlan, server: PrivateRedis, broker: Broker, worker: Serve
) -> dict[str, float]:
    """Part 2 (see the module docstring); the figures."""
    n_stream = int(plan.stream_rate * plan.total_s)
    txs = synthetic_stream(n_stream, "rs", seed=2)
    stream = _write(folder / "transactions.redis-outage.jsonl", txs)
    pauses0 = worker.total("verdict_stream_pauses_total")
    load = LoadProcess(
        worker.url, folder / "redis-outage-load.json", rate=plan.rate, seconds=plan.total_s,
        prefix="ri",
    )  # fmt: skip
    replaying = replay(broker.kafka, stream, speed=f"{17 * plan.stream_rate:.0f}")
    time.sleep(plan.before_s)
    down = time.time()
    server.stop()
    time.sleep(plan.outage_s)
    up = time.time()
    server.start()
    result = load.result()
    finish_replay(replaying, "the Redis outage's stream")
    ids = {tx["tx_id"] for tx in txs}
    decisions = read_topic(broker.kafka, topics.DECISIONS, covering(ids), 300)
    stream_decisions = [d for d in decisions if d["tx_id"] in ids]
    caught_up_ms = max((d["_ts_ms"] for d in stream_decisions), default=0)
    first: dict[str, dict[str, Any]] = {}
    for d in stream_decisions:
        first.setdefault(d["tx_id"], d)
    reference, features = recompute(txs)
    store = RedisFeatureStore(RedisSettings(url=server.url, socket_timeout_s=5.0))
    compared, differ = compare_state(store, reference, txs)
    store.client.close()
    inline_ids = _ok_ids("ri", result)
    seen = {d["tx_id"] for d in decisions}
    figures = _inline("redis", result, down, up)
    figures |= {
        "redis_stream_transactions": float(n_stream),
        "redis_stream_missing": float(len(ids - set(first))),
        "redis_stream_degraded_decisions": float(
            sum(1 for d in first.values() if d.get("degraded"))
        ),
        "redis_stream_pauses": worker.total("verdict_stream_pauses_total") - pauses0,
        "redis_dead_letters": float(len(read_topic(broker.kafka, topics.DEAD_LETTERS))),
        "redis_stream_catch_up_s": max(0.0, caught_up_ms / 1000 - up),
        "redis_stream_entities_compared": float(compared),
        "redis_stream_feature_mismatches": float(
            len(differ) + len(decision_feature_mismatches(first.values(), features))
        ),
        "redis_stream_terminal_device_features_interleaved": float(
            len(decision_feature_mismatches(first.values(), features, cross_partition=True))
        ),
        "redis_inline_decisions_missing_in_topic": float(len(inline_ids - seen)),
    }
    return figures


def broker_outage(
    folder: Path, plan: OutagePlan, broker: Broker, worker: Serve
) -> dict[str, float]:
    """Part 3 (see the module docstring); the figures."""
    load = LoadProcess(
        worker.url, folder / "broker-outage-load.json", rate=plan.rate, seconds=plan.total_s,
        prefix="bi",
    )  # fmt: skip
    time.sleep(plan.before_s)
    down = time.time()
    broker.pause()
    buffered: list[float] = []
    _poll(plan.outage_s, lambda: buffered.append(worker.total("verdict_publish_buffered")))
    up = time.time()
    broker.resume()
    drained = -1.0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.total("verdict_publish_buffered") == 0:
            drained = time.time() - up
            break
        time.sleep(0.1)
    result = load.result()
    inline_ids = _ok_ids("bi", result)
    decisions = read_topic(broker.kafka, topics.DECISIONS, covering(inline_ids), 120)
    missing = inline_ids - {d["tx_id"] for d in decisions}
    after = synthetic_stream(500, "bs", seed=3)
    replaying = replay(broker.kafka, _write(folder / "transactions.after-broker.jsonl", after))
    finish_replay(replaying, "after the broker outage", timeout_s=120)
    after_ids = {tx["tx_id"] for tx in after}
    resumed = read_topic(broker.kafka, topics.DECISIONS, covering(after_ids), 120)
    figures = _inline("broker", result, down, up)
    figures |= {
        "broker_buffered_max": max(buffered, default=0.0),
        "broker_buffer_drained_s": drained,
        "broker_decisions_lost": float(len(missing)),
        "broker_dropped": worker.total("verdict_publish_dropped_total"),
        "broker_stream_after_missing": float(len(after_ids - {d["tx_id"] for d in resumed})),
    }
    return figures


def overflow(
    folder: Path, plan: OutagePlan, server: PrivateRedis, broker: Broker
) -> dict[str, float]:
    """A worker with a small publisher buffer through a broker freeze: drops counted, logged,
    never blocking; what was kept arrives."""
    env = {"VERDICT_STREAM__PUBLISH_BUFFER": str(plan.overflow_buffer)}
    worker = Serve(broker.kafka, server.url, APP_ID, folder, name="overflow", env=env).start()
    try:
        worker.wait_ready()
        seconds = plan.overflow_outage_s + 4
        load = LoadProcess(
            worker.url, folder / "overflow-load.json", rate=plan.overflow_rate,
            seconds=seconds, prefix="oi",
        )  # fmt: skip
        time.sleep(2)
        down = time.time()
        broker.pause()
        time.sleep(plan.overflow_outage_s)
        up = time.time()
        broker.resume()
        result = load.result()
        dropped = worker.total("verdict_publish_dropped_total", topic=topics.DECISIONS)
        ok = _ok_ids("oi", result)
        expected = len(ok) - int(dropped)

        def enough(found: list[dict[str, Any]]) -> bool:
            return sum(1 for d in found if d["tx_id"] in ok) >= expected

        decisions = read_topic(broker.kafka, topics.DECISIONS, enough, 60)
        delivered = len({d["tx_id"] for d in decisions} & ok)
        worker.stop()
        logged = "publisher buffer full" in worker.log()
    finally:
        worker.stop()
    figures = _inline("overflow", result, down, up)
    return figures | {
        "overflow_dropped_decisions": dropped,
        "overflow_delivered_decisions": float(delivered),
        "overflow_unaccounted": float(len(ok) - delivered - int(dropped)),
        "overflow_logged": float(logged),
    }


def run_outages(folder: Path, plan: OutagePlan) -> dict[str, float]:
    """Parts 2 and 3 and the overflow, on one private Redis and broker."""
    server = PrivateRedis(folder / "redis")
    broker = Broker(folder / "broker")
    worker = Serve(broker.kafka, "", APP_ID, folder, name="worker")
    try:
        server.start()
        broker.start()
        worker.env["VERDICT_REDIS__URL"] = server.url
        worker.start().wait_ready()
        LoadProcess(
            worker.url, folder / "warm.json", rate=100, seconds=3, prefix="wi"
        ).result()  # warm-up: imports, JIT, connections
        figures = redis_outage(folder, plan, server, broker, worker)
        figures |= broker_outage(folder, plan, broker, worker)
        worker.stop()
        figures |= overflow(folder, plan, server, broker)
    finally:
        worker.stop()
        broker.stop()
        server.stop()
    return figures
