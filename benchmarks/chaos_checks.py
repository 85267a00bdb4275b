"""What a chaos run checks afterwards: topics read back, features recomputed, ids and caps.

- :func:`read_topic`: every message of a topic from the beginning (until a condition holds);
- :func:`synthetic_stream`: transactions of customers, terminals and devices of a prefix;
- :func:`compare_state`: the live view in Redis against an exact recomputation in memory;
- :func:`duplicates` and :func:`cap_violations`: what consumers of alerts and triggers see
  once they collapse repeats by their stable ids, and whether the marketing caps held.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from decisions.policy import MarketingPolicy
from events.parsing import parse_transaction
from events.records import CustomerProfile
from state.memory_store import InMemoryFeatureStore
from state.redis_store import RedisFeatureStore
from state.store import Entity
from streams.settings import KafkaSettings

DAY_MS: Final = 86_400_000
Done = Callable[[list[dict[str, Any]]], bool]


def read_topic(
    kafka: KafkaSettings, topic: str, done: Done | None = None, timeout_s: float = 120.0
) -> list[dict[str, Any]]:
    """Every message of ``topic`` from the beginning, as JSON plus ``_ts_ms`` (broker time):
    until ``done`` holds (or the timeout), or without it up to the end offsets at the start."""
    return asyncio.run(_read_topic(kafka, topic, done, timeout_s))


async def _read_topic(
    kafka: KafkaSettings, topic: str, done: Done | None, timeout_s: float
) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=50_000)
            for messages in batches.values():
                found.extend({**orjson.loads(m.value), "_ts_ms": m.timestamp} for m in messages)
            if done is not None:
                if done(found):
                    break
            elif all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                break
        return found
    finally:
        await consumer.stop()


def covering(ids: Iterable[str], key: str = "tx_id") -> Done:
    """A ``done`` for :func:`read_topic`: every one of ``ids`` has a message."""
    wanted = set(ids)
    seen: set[str] = set()
    read = [0]

    def complete(found: list[dict[str, Any]]) -> bool:
        seen.update(m[key] for m in found[read[0] :])
        read[0] = len(found)
        return wanted <= seen

    return complete


def synthetic_stream(
    n: int,
    prefix: str,
    *,
    customers: int = 300,
    terminals: int = 200,
    spacing_s: float = 17.0,
    start: float = 1_772_445_600.0,
    seed: int = 1,
) -> list[dict[str, Any]]:
    """``n`` transactions in event-time order (``spacing_s`` apart) of the prefix's own
    entities."""
    rnd = random.Random(seed)
    txs: list[dict[str, Any]] = []
    for i in range(n):
        customer = f"{prefix}c{rnd.randrange(customers):04d}"
        tx: dict[str, Any] = {
            "tx_id": f"{prefix}{i:07d}",
            "ts": start + i * spacing_s + rnd.random() * min(spacing_s, 1.0),
            "customer_id": customer,
            "amount": round(rnd.lognormvariate(3.5, 1.0), 2),
            "terminal_id": f"{prefix}t{rnd.randrange(terminals):04d}",
            "country": "FR" if rnd.random() < 0.95 else "DE",
        }
        if rnd.random() < 0.3:
            tx["device_id"] = f"{prefix}d{rnd.randrange(120):04d}"
        if rnd.random() < 0.05:
            tx["direction"] = "credit"
        txs.append(tx)
    return txs


def recompute(
    txs: Iterable[Mapping[str, Any]], profiles: Iterable[CustomerProfile] = ()
) -> tuple[InMemoryFeatureStore, dict[str, dict[str, float]]]:
    """The features of ``txs`` recomputed in memory one at a time in order (profiles first):
    the store, and each transaction's features by ``tx_id``."""
    reference = InMemoryFeatureStore()
    for profile in profiles:
        reference.put_customer(profile)
    features: dict[str, dict[str, float]] = {}
    for tx in txs:
        parsed = parse_transaction(dict(tx))
        features.setdefault(parsed.tx_id, reference.update_and_get(parsed))
    return reference, features


def _close(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(abs(a[k] - b[k]) <= 1e-9 + 1e-9 * abs(b[k]) for k in a)


def compare_state(
    store: RedisFeatureStore,
    reference: InMemoryFeatureStore,
    txs: Iterable[Mapping[str, Any]],
) -> tuple[int, list[str]]:
    """Every customer, terminal and device of ``txs``: the live view in Redis against the
    recomputation. The number of entities compared, and those that differ."""
    ids: dict[Entity, set[str]] = {"customer": set(), "terminal": set(), "device": set()}
    for tx in txs:
        ids["customer"].add(tx["customer_id"])
        if tx.get("terminal_id"):
            ids["terminal"].add(tx["terminal_id"])
        if tx.get("device_id"):
            ids["device"].add(tx["device_id"])
    differ = [
        f"{entity} {name}"
        for entity, names in ids.items()
        for name in sorted(names)
        if not _close(store.get(entity, name), reference.get(entity, name))
    ]
    return sum(len(names) for names in ids.values()), differ


#: Features of entities other than the customer: a terminal or a device is shared by customers
#: whose transactions travel on different partitions, so what it had seen when a transaction
#: was decided depends on how the partitions interleaved (its final state does not).
CROSS_PARTITION: Final = ("term_", "device_")


def decision_feature_mismatches(
    decisions: Iterable[Mapping[str, Any]],
    expected: Mapping[str, Mapping[str, float]],
    cross_partition: bool = False,
) -> list[str]:
    """Every decision whose features differ from the recomputation's: its ``tx_id`` and the
    first feature that differs (got, wanted). Only the features partitioned with the customer
    (``cross_partition`` False), or only the others (True)."""
    found = []
    for d in decisions:
        want = expected.get(d["tx_id"])
        if want is None:
            continue
        got = {
            k: v
            for k, v in d["features"].items()
            if k.startswith(CROSS_PARTITION) == cross_partition
        }
        want = {k: v for k, v in want.items() if k.startswith(CROSS_PARTITION) == cross_partition}
        if not _close(got, want):
            names = sorted(set(got) ^ set(want)) or [
                k for k in want if abs(got[k] - want[k]) > 1e-9 + 1e-9 * abs(want[k])
            ]
            first = names[0]
            found.append(f"{d['tx_id']} {first}: {got.get(first)} != {want.get(first)}")
    return found


def duplicates(messages: Iterable[Mapping[str, Any]], key: str) -> tuple[int, int, int]:
    """Messages, distinct ids, and ids whose copies disagree on what they are about (the
    transaction and, for triggers, the code): a stable id must always mean the same thing."""
    about: dict[str, set[tuple[str, str]]] = defaultdict(set)
    count = 0
    for m in messages:
        count += 1
        about[m[key]].add((str(m.get("tx_id")), str(m.get("code", ""))))
    return count, len(about), sum(1 for meanings in about.values() if len(meanings) > 1)


def cap_violations(
    triggers: Iterable[Mapping[str, Any]],
    policy: MarketingPolicy,
    marketing_codes: frozenset[str],
) -> list[str]:
    """Marketing triggers (collapsed by ``trigger_id``) that break a cap: the same offer code
    twice within ``offer_cooldown_days``, or more than ``max_per_window`` in a rolling window."""
    distinct: dict[str, tuple[str, str, int]] = {}
    for t in triggers:
        if t["code"] in marketing_codes:
            ts_ms = _ts_ms(t["ts"])
            distinct.setdefault(t["trigger_id"], (t["customer_id"], t["code"], ts_ms))
    by_customer: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for customer, code, ts_ms in distinct.values():
        by_customer[customer].append((ts_ms, code))
    cooldown = round(policy.offer_cooldown_days * DAY_MS)
    window = round(policy.window_days * DAY_MS)
    found: list[str] = []
    for customer, granted in by_customer.items():
        granted.sort()
        last: dict[str, int] = {}
        for i, (ts_ms, code) in enumerate(granted):
            if code in last and ts_ms - last[code] < cooldown:
                found.append(f"{customer}: {code} twice within {policy.offer_cooldown_days} d")
            last[code] = ts_ms
            in_window = sum(1 for t, _ in granted[: i + 1] if ts_ms - window < t <= ts_ms)
            if in_window > policy.max_per_window:
                found.append(f"{customer}: {in_window} marketing triggers in a window")
    return found


def _ts_ms(ts: Any) -> int:
    if isinstance(ts, int | float):
        return round(float(ts) * 1000)
    from datetime import datetime

    return round(datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp() * 1000)
