"""Steps pipelined on one connection (state.redis_steps): the answers of one step at a time."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from events.records import Label
from state.memory_store import InMemoryFeatureStore
from state.redis_steps import SentStep
from state.redis_store import RedisFeatureStore
from state.settings import RedisSettings
from state.store import FeatureStoreUnavailable
from tests.unit.state.streams import realistic

D = 86_400


def test_steps_sent_ahead_answer_as_steps_asked_one_at_a_time(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    """Batches and labels go out three steps ahead of the answers read; labels of
    transactions in a step not read yet, of forgotten ones and of unknown ones included."""
    txs = realistic(seed=7, customers=15, days=20, late_share=0.1, max_late_s=2 * D,
                    repeat_share=0.05, terminals=6)  # fmt: skip
    batches = [txs[start : start + 53] for start in range(0, len(txs), 53)]
    steps: list[tuple[str, Any]] = []
    for i, batch in enumerate(batches):
        steps.append(("decide", batch))
        labelled = [*batch[::7], *(batches[i - 3][::5] if i >= 3 else [])]  # now, and older
        labels = [Label(tx_id=t.tx_id, is_fraud=n % 3 == 0, ts=t.ts + 3600, source="analyst")
                  for n, t in enumerate(labelled)]  # fmt: skip
        labels.append(Label(tx_id=f"unknown-{i}", is_fraud=True, ts=batch[-1].ts, source="analyst"))
        steps.append(("learn", labels))

    memory = InMemoryFeatureStore()
    expected = [
        memory.update_and_get_many(arg) if kind == "decide" else list(memory.learn_labels(arg))
        for kind, arg in steps
    ]
    store = RedisFeatureStore(redis_settings)
    store.indexes = 100  # fewer than the transactions: some labels read their index
    pipeline = store.pipeline()
    sent: list[SentStep[Any]] = []
    found: list[Any] = []
    for kind, arg in steps:
        sent.append(
            pipeline.send_transactions(arg) if kind == "decide" else pipeline.send_labels(arg)
        )
        if len(sent) > 3:
            found.append(sent[len(found)].result())
    found += [step.result() for step in sent[len(found) :]]
    pipeline.close()
    assert found == expected
    assert any(x is None for answers in found for x in answers)  # unknown and repeats: None


def test_a_redis_that_lost_its_scripts_mid_run_fails_the_run_clearly(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    txs = realistic(seed=8, customers=5, days=3, terminals=3)
    store = RedisFeatureStore(redis_settings)
    pipeline = store.pipeline()
    first = pipeline.send_transactions(txs[:10])
    assert len(first.result()) == 10
    redis_client.script_flush()  # a restarted Redis has no scripts (and none of the state)
    lost = pipeline.send_transactions(txs[10:20])
    with pytest.raises(FeatureStoreUnavailable, match="lost the scripts"):
        lost.result()
