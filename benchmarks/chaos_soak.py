"""Chaos, part 5: load and soak, inline and stream together, memory watched over time.

On a private Redis and broker, one ``verdict serve``: first its saturation (as many inline
decisions as 32 connections push, closed loop, with the stream running beside them), then a
warm-up and ``soak_s`` at 70% of it, open loop: the inline requests and a paced stream
(``verdict replay``) beside them add up to 70%. The warm-up lasts until the console's activity
book, bounded at ``PER_CUSTOMER`` decisions a customer, is full for the inline and the stream
customers (at least ``warm_up_s``): memory growth and p99 stability are measured after it, on a
worker whose bounded structures have stopped filling. Every ``sample_s`` the worker's resident
memory and CPU, Redis's ``used_memory`` and CPU and its time in scripts are sampled.
Afterwards: errors, the client and server p99 of each minute, the stream complete with no dead
letter, memory growth after the warm-up, and Redis memory against a bound computed from the
per-entity sizes ``verdict bench state`` measured and the keys the soak added.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.chaos_checks import covering, read_topic, synthetic_stream
from benchmarks.chaos_load import LoadProcess, window
from benchmarks.chaos_procs import Broker, PrivateRedis, Serve, finish_replay, replay
from benchmarks.harness import RESULTS_DIR
from decisions.console.books import PER_CUSTOMER
from events import topics

SHARE_OF_SATURATION = 0.7
#: Sizes measured by ``verdict bench state`` when its results are missing (bytes).
STATE_DEFAULTS = {
    "customer_state_bytes": 1547.0,
    "terminal_state_bytes": 3028.0,
    "device_state_bytes": 88.0,
    "snapshot_bytes_per_tx": 485.3,
}
#: What a key with a TTL costs beyond its ``MEMORY USAGE`` (keyspace and expiry entries).
KEYSPACE_BYTES_PER_KEY = 64
INLINE_TERMINALS = 900  # benchmarks.chaos_load.body: terminal i % 900
#: The stream's population: enough customers that no entity's state dominates, few enough
#: that the activity book fills for them within the warm-up.
STREAM_CUSTOMERS = 2_000
STREAM_TERMINALS = 2_000


@dataclass(frozen=True)
class SoakPlan:
    """Sizes of the soak."""

    saturation_s: float = 10.0
    soak_s: float = 300.0
    warm_up_s: float = 60.0
    stream_rate: float = 200.0
    sample_s: float = 5.0
    inline_customers: int = 5000
    stream_customers: int = STREAM_CUSTOMERS

    def warm_up_for(self, inline_rate: float) -> float:
        """Seconds of warm-up at ``inline_rate``: until the activity book is full, for the
        inline customers and the stream's."""
        return max(
            self.warm_up_s,
            self.inline_customers * PER_CUSTOMER / inline_rate,
            self.stream_customers * PER_CUSTOMER / self.stream_rate,
        )


@dataclass
class SoakOutcome:
    """What the soak measured: figures, per-minute rows, memory samples."""

    figures: dict[str, float] = field(default_factory=dict)
    minutes: list[dict[str, float]] = field(default_factory=list)
    #: (seconds, worker RSS, Redis used_memory, worker CPU s, Redis CPU s, EVALSHA calls, their µs)
    samples: list[tuple[float, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warm_up_s: float = 0.0


def state_sizes(results: Path = RESULTS_DIR) -> dict[str, float]:
    """Bytes per entity and per transaction from ``state.json`` (defaults when absent)."""
    try:
        metrics = json.loads((results / "state.json").read_text())["metrics"]
    except (OSError, KeyError, ValueError):
        return dict(STATE_DEFAULTS)
    return {name: float(metrics.get(name, value)) for name, value in STATE_DEFAULTS.items()}


def redis_bound(
    sizes: dict[str, float], customers: int, terminals: int, devices: int, txs: int, keys: int = 0
) -> float:
    """Bytes the soak may add to Redis: entities at their measured size, snapshots per tx,
    and the keyspace's own cost of each new key.

    The sizes are ``MEMORY USAGE`` figures, which leave out a key's entries in the keyspace
    and expiry tables: on Redis 7.0, 200,000 keys with a TTL grew ``used_memory`` by 453
    bytes each while ``MEMORY USAGE`` said 392, so each new key counts
    :data:`KEYSPACE_BYTES_PER_KEY` more.

    >>> sizes = {"customer_state_bytes": 1000.0, "terminal_state_bytes": 2000.0,
    ...          "device_state_bytes": 100.0, "snapshot_bytes_per_tx": 500.0}
    >>> redis_bound(sizes, 10, 2, 1, 100), redis_bound(sizes, 10, 2, 1, 100, keys=100)
    (64100.0, 70500.0)
    """
    return (
        customers * sizes["customer_state_bytes"]
        + terminals * sizes["terminal_state_bytes"]
        + devices * sizes["device_state_bytes"]
        + txs * sizes["snapshot_bytes_per_tx"]
        + keys * KEYSPACE_BYTES_PER_KEY
    )


def run_soak(folder: Path, plan: SoakPlan, results: Path = RESULTS_DIR) -> SoakOutcome:
    """Part 5 (see the module docstring)."""
    outcome = SoakOutcome()
    server = PrivateRedis(folder / "redis")
    broker = Broker(folder / "broker")
    worker = Serve(broker.kafka, "", "chaos-soak", folder, name="worker")
    try:
        server.start()
        broker.start()
        worker.env["VERDICT_REDIS__URL"] = server.url
        worker.start().wait_ready()
        LoadProcess(worker.url, folder / "warm.json", rate=100, seconds=3, prefix="wi").result()
        # saturation with the stream running beside it, as in the soak: the stream costs the
        # worker, the broker and Redis too, on the same two cores
        beside = folder / "transactions.saturation.jsonl"
        _write_stream(beside, plan, plan.saturation_s + 5, "sx", seed=6)
        streaming = replay(broker.kafka, beside, speed="1")
        time.sleep(2.0)  # the replay's start-up
        saturation = LoadProcess(
            worker.url, folder / "saturation.json", seconds=plan.saturation_s, prefix="sat",
            closed=32,
        ).result()  # fmt: skip
        finish_replay(streaming, "the stream beside the saturation")
        saturated = len(saturation["records"]) / saturation["seconds"]
        # the inline requests and the stream together make 70% of what the worker took
        rate = max(
            SHARE_OF_SATURATION * (saturated + plan.stream_rate) - plan.stream_rate,
            0.1 * saturated,
        )
        outcome.warm_up_s = plan.warm_up_for(rate)
        total_s = outcome.warm_up_s + plan.soak_s
        stream = folder / "transactions.soak.jsonl"
        txs = _write_stream(stream, plan, total_s, "ss", seed=5)
        redis_start, keys_start = server.used_memory(), server.keys()
        started = time.monotonic()
        load = LoadProcess(
            worker.url, folder / "soak.json", rate=rate, seconds=total_s, prefix="si",
            customers=plan.inline_customers, spacing_s=1 / rate,
        )  # fmt: skip
        replaying = replay(broker.kafka, stream, speed="1")
        while load.process.poll() is None:
            outcome.samples.append(_sample(time.monotonic() - started, worker, server))
            time.sleep(plan.sample_s)
        result = load.result()
        finish_replay(replaying, "the soak's stream")
        ids = {tx["tx_id"] for tx in txs}
        decisions = read_topic(broker.kafka, topics.DECISIONS, covering(ids), 300)
        dead = read_topic(broker.kafka, topics.DEAD_LETTERS)
        redis_end, keys_end = server.used_memory(), server.keys()
        outcome.samples.append(_sample(time.monotonic() - started, worker, server))
    finally:
        worker.stop()
        broker.stop()
        server.stop()
    _figures(outcome, plan, result, saturated, rate, txs, decisions, len(dead))
    inline_requests = len(result["records"])
    inline_customers = min(plan.inline_customers, inline_requests)
    bound = redis_bound(
        state_sizes(results),
        customers=inline_customers + len({t["customer_id"] for t in txs}),
        terminals=min(INLINE_TERMINALS, inline_requests) + len({t["terminal_id"] for t in txs}),
        devices=len({t["device_id"] for t in txs if "device_id" in t}),
        txs=inline_requests + len(txs),
        keys=keys_end - keys_start,
    )
    outcome.figures |= {
        "soak_redis_growth_bytes": float(redis_end - redis_start),
        "soak_redis_new_keys": float(keys_end - keys_start),
        "soak_redis_bound_bytes": bound,
        "soak_redis_growth_to_bound": (redis_end - redis_start) / bound if bound else 0.0,
    }
    return outcome


def _write_stream(
    path: Path, plan: SoakPlan, seconds: float, prefix: str, seed: int
) -> list[dict[str, Any]]:
    """A stream of ``seconds`` at the plan's rate into ``path``, event time at the wall clock's
    pace: five minutes of soak are five minutes of history, so the entities' state grows as it
    would in five real minutes."""
    txs = synthetic_stream(
        int(plan.stream_rate * seconds), prefix, customers=plan.stream_customers,
        terminals=STREAM_TERMINALS, spacing_s=1 / plan.stream_rate, seed=seed,
    )  # fmt: skip
    path.write_bytes(b"\n".join(orjson.dumps(tx) for tx in txs) + b"\n")
    return txs


def _sample(at: float, worker: Serve, server: PrivateRedis) -> tuple[float, ...]:
    """One row of :attr:`SoakOutcome.samples`."""
    calls, usec = server.script_time()
    return (at, worker.rss_bytes(), server.used_memory(), worker.cpu_seconds(),
            server.cpu_seconds(), calls, usec)  # fmt: skip


def _usage(samples: list[tuple[float, ...]], start_s: float, end_s: float) -> dict[str, float]:
    """Worker and Redis CPU (share of one core) and µs per ``EVALSHA`` between two times.

    >>> _usage([(0, 0, 0, 1.0, 2.0, 10, 500), (10, 0, 0, 6.0, 4.0, 110, 5500)], 0, 10)
    {'worker_cpu': 0.5, 'redis_cpu': 0.2, 'script_us': 50.0}
    """
    inside = [s for s in samples if start_s <= s[0] <= end_s]
    if len(inside) < 2:
        return {"worker_cpu": 0.0, "redis_cpu": 0.0, "script_us": 0.0}
    first, last = inside[0], inside[-1]
    seconds, calls = last[0] - first[0], last[5] - first[5]
    return {
        "worker_cpu": round((last[3] - first[3]) / seconds, 3),
        "redis_cpu": round((last[4] - first[4]) / seconds, 3),
        "script_us": round((last[6] - first[6]) / calls, 1) if calls else 0.0,
    }


def _figures(
    outcome: SoakOutcome,
    plan: SoakPlan,
    result: dict[str, Any],
    saturated: float,
    rate: float,
    txs: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    dead_letters: int,
) -> None:
    records = result["records"]
    minutes = int(plan.soak_s // 60) if plan.soak_s >= 120 else 4  # short runs: quarters
    span, warm = plan.soak_s / minutes, outcome.warm_up_s
    for m in range(minutes):
        start, end = warm + m * span, warm + (m + 1) * span
        w = window(records, start, end)
        outcome.minutes.append(
            {"minute": m + 1.0, "requests": w.requests, "errors": w.server_errors + w.no_answer,
             "p50_ms": w.p50_ms, "p99_ms": w.p99_ms, "max_ms": w.max_ms,
             "server_p99_ms": w.server_p99_ms, "sent_late_p99_ms": w.sent_late_p99_ms}
            | _usage(outcome.samples, start, end)
        )  # fmt: skip
    total, everything = window(records, warm, 1e9), window(records, 0, 1e9)
    after = [s for s in outcome.samples if s[0] >= warm] or outcome.samples
    rss_warm, rss_end = after[0][1], outcome.samples[-1][1]
    first, last = outcome.minutes[0]["p99_ms"], outcome.minutes[-1]["p99_ms"]
    decided = {d["tx_id"] for d in decisions}
    outcome.figures = {
        "soak_saturation_per_s": saturated,
        "soak_stream_beside_saturation_per_s": plan.stream_rate,
        "soak_inline_rate_per_s": rate,
        "soak_warm_up_s": warm,
        "soak_inline_achieved_per_s": total.requests / (result["seconds"] - warm),
        "soak_inline_requests": float(total.requests),
        "soak_inline_errors": float(everything.server_errors + everything.no_answer),
        "soak_inline_non_200": float(everything.requests - everything.ok),
        "soak_client_p99_first_minute_ms": first,
        "soak_client_p99_last_minute_ms": last,
        "soak_p99_last_to_first": last / first if first else 0.0,
        "soak_p99_worst_to_first": (
            max(m["p99_ms"] for m in outcome.minutes) / first if first else 0.0
        ),
        "soak_client_p99_ms": total.p99_ms,
        "soak_server_p99_first_minute_ms": outcome.minutes[0]["server_p99_ms"],
        "soak_server_p99_last_minute_ms": outcome.minutes[-1]["server_p99_ms"],
        "soak_client_gc_pause_max_ms": max(
            (p[2] for p in result.get("client_gc_pauses", [])), default=0.0
        ),
        "soak_stream_transactions": float(len(txs)),
        "soak_stream_missing": float(len({t["tx_id"] for t in txs} - decided)),
        "soak_dead_letters": float(dead_letters),
        "soak_worker_rss_after_warm_up_mib": rss_warm / 2**20,
        "soak_worker_rss_end_mib": rss_end / 2**20,
        "soak_worker_rss_growth": (rss_end - rss_warm) / rss_warm if rss_warm else 0.0,
    }


def plot(outcome: SoakOutcome, path: Path, warm_up_s: float) -> None:
    """Memory over time (worker RSS, Redis used memory) and p99 per minute, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s[0] for s in outcome.samples]
    figure, (memory, latency) = plt.subplots(2, 1, figsize=(8, 6.5))
    memory.plot(times, [s[1] / 2**20 for s in outcome.samples], label="worker RSS (MiB)")
    memory.plot(times, [s[2] / 2**20 for s in outcome.samples], label="Redis used_memory (MiB)")
    memory.axvline(warm_up_s, color="grey", linestyle=":", label="end of warm-up")
    memory.set_xlabel("seconds into the soak")
    memory.set_ylabel("MiB")
    memory.set_title("verdict bench chaos: memory during the soak")
    memory.legend(loc="upper left")
    memory.grid(alpha=0.3)
    minutes = [m["minute"] for m in outcome.minutes]
    latency.bar(minutes, [m["p99_ms"] for m in outcome.minutes], label="client p99 (ms)")
    latency.plot(minutes, [m["p50_ms"] for m in outcome.minutes], "o-", color="black",
                 label="client p50 (ms)")  # fmt: skip
    latency.set_xlabel("minute of the soak, after the warm-up")
    latency.set_ylabel("ms")
    latency.legend(loc="upper left")
    latency.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
