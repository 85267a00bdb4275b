"""Replaying files through a real Kafka-protocol broker and reading them back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition

from events import Transaction, parse_transaction
from replay.producer import replay_files
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from verdict.demo_consumer import StreamCounter, StreamTally


def _transactions(path: Path, count: int, customers: int = 20) -> Path:
    with path.open("wb") as handle:
        for i in range(count):
            tx = {
                "tx_id": f"tx{i:06d}",
                "ts": 1_700_000_000 + i,
                "customer_id": f"c{i % customers}",
                "amount": float(i % 97),
            }
            handle.write(orjson.dumps(tx) + b"\n")
            if i == 10:
                handle.write(b'{"tx_id": "broken", "amount": "a lot"}\n')
    return path


def test_replayed_transactions_are_read_back_valid_and_complete(
    kafka_settings: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    ensure_topics(kafka_settings, [topic_name], partitions=4)
    path = _transactions(tmp_path / "transactions.jsonl", 5_000)

    async def replay_and_read() -> tuple[int, StreamTally]:
        counter = StreamCounter(
            kafka_settings.bootstrap_servers, [topic_name], {topic_name: Transaction}
        )
        await counter.start()
        summary = await asyncio.to_thread(
            replay_files, [path], kafka_settings.bootstrap_servers, topic=topic_name
        )
        assert [line.line for line in summary.bad_lines] == [12]
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(summary.total)
        return summary.total, await counter.consume(done, timeout_s=30)

    published, tally = asyncio.run(replay_and_read())
    assert published == 5_000
    assert tally.total == 5_000
    assert tally.amount_total == sum(float(i % 97) for i in range(5_000))


def test_a_customer_always_lands_on_one_partition_in_order(
    kafka_settings: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    ensure_topics(kafka_settings, [topic_name], partitions=4)
    path = _transactions(tmp_path / "transactions.jsonl", 400, customers=7)
    summary = replay_files([path], kafka_settings.bootstrap_servers, topic=topic_name)
    assert summary.total == 400
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_settings.bootstrap_servers, consumer_timeout_ms=3000
    )
    partitions = [TopicPartition(topic_name, p) for p in range(4)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen: dict[str, set[int]] = {}
    order: dict[str, list[float]] = {}
    for message in consumer:
        tx = parse_transaction(message.value)
        seen.setdefault(tx.customer_id, set()).add(message.partition)
        order.setdefault(tx.customer_id, []).append(tx.ts)
    consumer.close()
    assert sum(len(times) for times in order.values()) == 400
    assert len(seen) == 7
    assert all(len(parts) == 1 for parts in seen.values())
    assert all(times == sorted(times) for times in order.values())  # order kept per customer
    assert len({p for parts in seen.values() for p in parts}) > 1  # keys spread over partitions
