"""Chaos, part 1: the worker is SIGKILLed twice during a replay and restarted each time.

A simulated bank (``replay/simulator``, every scenario, so triggers fire) gives N transactions;
the profiles go into the feature store first (as the ``customers`` topic would have put them)
and the transactions are published by ``verdict replay`` at full speed while one ``verdict
serve`` decides them. At two random moments (by decisions published: once in the first half,
once in the second) the worker is SIGKILLed and a new one started in the same consumer group.
Afterwards:

- every transaction has a decision (collapsed by ``tx_id``), none is invented;
- every decision's features equal an exact in-memory recomputation of the stream, and so
  does the live view in Redis of every customer, terminal and device;
- alerts and triggers carry stable ids: repeats of an id (redeliveries) always mean the same
  transaction and code, so consumers collapse them; the marketing caps hold over the distinct
  triggers;
- restart to resume: from starting the new process to its first decision published.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.chaos_checks import (
    cap_violations,
    compare_state,
    covering,
    decision_feature_mismatches,
    duplicates,
    read_topic,
    recompute,
)
from benchmarks.chaos_procs import Broker, PrivateRedis, Serve, finish_replay, replay
from decisions.policy_file import PolicyHolder
from events import topics
from events.parsing import parse_customer
from replay.simulator.config import SimulationConfig, parse_scenarios
from replay.simulator.run import CUSTOMERS_FILE, TRANSACTIONS_FILE, simulate
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from verdict.settings import Settings

#: Simulated transactions per customer and day with every scenario on (measured).
PER_CUSTOMER_DAY = 1.9
#: Transactions a second the replay publishes (paced, so that the kills fall inside it).
REPLAY_RATE = 2_500.0


@dataclass
class CrashOutcome:
    """What part 1 measured."""

    transactions: int
    kills_at: list[int] = field(default_factory=list)
    resume_s: list[float] = field(default_factory=list)
    api_ready_s: list[float] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def simulated_stream(folder: Path, n: int, seed: int) -> tuple[Path, list[dict[str, Any]], Path]:
    """A simulated bank of at least ``n`` transactions cut to exactly ``n``: the file to
    replay, its transactions, and the profiles file."""
    customers = max(200, n // 100)
    days = math.ceil(n / (customers * PER_CUSTOMER_DAY)) + 3
    config = SimulationConfig(
        customers=customers, terminals=2 * customers, days=days, seed=seed,
        scenarios=parse_scenarios("all"),
    )  # fmt: skip
    simulate(config, folder, progress=False)
    lines = (folder / TRANSACTIONS_FILE).read_bytes().splitlines()[:n]
    if len(lines) < n:
        raise RuntimeError(f"the simulation made {len(lines)} transactions, {n} needed")
    stream = folder / "transactions.jsonl"
    stream.write_bytes(b"\n".join(lines) + b"\n")
    return stream, [orjson.loads(line) for line in lines], folder / CUSTOMERS_FILE


def _wait_decisions(worker: Serve, target: int, timeout_s: float) -> int:
    """Poll until ``worker`` has published ``target`` decisions; what it had last."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        if worker.process is not None and worker.process.poll() is not None:
            raise RuntimeError(f"verdict serve exited; see {worker.log_path}")
        seen = worker.published(topics.DECISIONS) or seen
        if seen >= target:
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"{target} decisions not published within {timeout_s:.0f} s")


def run_crash(folder: Path, n: int, seed: int) -> CrashOutcome:
    """Part 1 at size ``n`` (see the module docstring)."""
    rnd = random.Random(seed)
    stream, txs, customers_file = simulated_stream(folder / "sim", n, seed)
    profiles = [parse_customer(line) for line in customers_file.read_bytes().splitlines()]
    outcome = CrashOutcome(transactions=n)
    server = PrivateRedis(folder / "redis")
    broker = Broker(folder / "broker")
    workers: list[Serve] = []
    try:
        server.start()
        broker.start()
        store = RedisFeatureStore(RedisSettings(url=server.url, socket_timeout_s=5.0))
        for profile in profiles:
            store.put_customer(profile)

        def worker(index: int) -> Serve:
            found = Serve(broker.kafka, server.url, "chaos-crash", folder, name="worker")
            found.log_path = folder / f"worker-{index}.log"
            workers.append(found)
            return found.start()

        current = worker(0)
        current.wait_ready()
        span_s = _epoch(txs[-1]["ts"]) - _epoch(txs[0]["ts"])
        speed = max(1.0, span_s / (n / REPLAY_RATE))
        replaying = replay(broker.kafka, stream, speed=f"{speed:.1f}")
        replay_started = time.monotonic()
        targets = [int(n * rnd.uniform(0.15, 0.40)), int(n * rnd.uniform(0.55, 0.80))]
        done = 0
        for index, target in enumerate(targets, start=1):
            done += _wait_decisions(current, target - done, timeout_s=60 + n / 200)
            current.kill()
            outcome.kills_at.append(done)
            current = worker(index)
            outcome.api_ready_s.append(current.wait_ready())
            _wait_decisions(current, 1, timeout_s=120)
            outcome.resume_s.append(time.monotonic() - current.started)
        outcome.notes.append(
            f"replay at {speed:,.0f}x the recorded pace (~{REPLAY_RATE:,.0f} transactions/s); "
            f"kills after {outcome.kills_at} decisions published, "
            f"{time.monotonic() - replay_started:.0f} s into the replay, which was "
            + ("still publishing" if replaying.poll() is None else "done publishing")
        )
        finish_replay(replaying, "the crash's stream")
        ids = {tx["tx_id"] for tx in txs}
        decisions = read_topic(broker.kafka, topics.DECISIONS, covering(ids), 120 + n / 200)
        current.stop()
        alerts = read_topic(broker.kafka, topics.ALERTS)
        triggers = read_topic(broker.kafka, topics.TRIGGERS)
        dead = read_topic(broker.kafka, topics.DEAD_LETTERS)
        _check(outcome, txs, profiles, store, decisions, alerts, triggers, len(dead))
        store.client.close()
    finally:
        for each in workers:
            each.stop()
        broker.stop()
        server.stop()
    return outcome


def _epoch(ts: Any) -> float:
    if isinstance(ts, int | float):
        return float(ts)
    from datetime import datetime

    return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()


def _check(
    outcome: CrashOutcome,
    txs: list[dict[str, Any]],
    profiles: list[Any],
    store: RedisFeatureStore,
    decisions: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    triggers: list[dict[str, Any]],
    dead_letters: int,
) -> None:
    ids = {tx["tx_id"] for tx in txs}
    decided = {d["tx_id"] for d in decisions}
    first: dict[str, dict[str, Any]] = {}
    for d in decisions:
        first.setdefault(d["tx_id"], d)
    reference, features = recompute(txs, profiles)
    compared, differ = compare_state(store, reference, txs)
    mismatched = decision_feature_mismatches(first.values(), features)
    interleaved = decision_feature_mismatches(first.values(), features, cross_partition=True)
    alert_count, alert_ids, alert_conflicts = duplicates(alerts, "alert_id")
    trigger_count, trigger_ids, trigger_conflicts = duplicates(triggers, "trigger_id")
    holder = PolicyHolder.from_settings(Settings().decisions)
    policy = holder.current()
    marketing = frozenset(rule.code for rule in policy.triggers.enabled if rule.marketing)
    violations = cap_violations(triggers, policy.marketing, marketing)
    outcome.figures = {
        "crash_transactions": float(len(ids)),
        "crash_decisions_missing": float(len(ids - decided)),
        "crash_decisions_unknown": float(len(decided - ids)),
        "crash_decision_messages": float(len(decisions)),
        "crash_redelivered_decisions": float(len(decisions) - len(decided)),
        "crash_decision_feature_mismatches": float(len(mismatched)),
        "crash_decisions_terminal_device_features_interleaved": float(len(interleaved)),
        "crash_entities_compared": float(compared),
        "crash_entity_feature_mismatches": float(len(differ)),
        "crash_alert_messages": float(alert_count),
        "crash_alerts_distinct": float(alert_ids),
        "crash_alert_id_conflicts": float(alert_conflicts),
        "crash_trigger_messages": float(trigger_count),
        "crash_triggers_distinct": float(trigger_ids),
        "crash_trigger_id_conflicts": float(trigger_conflicts),
        "crash_trigger_cap_violations": float(len(violations)),
        "crash_dead_letters": float(dead_letters),
        "crash_restart_to_resume_max_s": max(outcome.resume_s, default=0.0),
    }
    outcome.notes += [f"state differs: {e}" for e in differ[:5]]
    outcome.notes += [f"decision features differ: {t}" for t in mismatched[:5]]
    outcome.notes += [f"terminal/device features at decision time: {t}" for t in interleaved[:2]]
    outcome.notes += [f"cap violated: {v}" for v in violations[:5]]
