"""The decision engine on the real Redis: the same decisions as in memory; Redis down, degraded."""

from __future__ import annotations

import time

import redis

from decisions.caps import RedisCapStore
from decisions.engine import DecisionEngine
from decisions.lists import RedisListStore
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import Scores
from events.records import Transaction
from state.redis_wire import client_from_settings
from state.settings import RedisSettings
from tests.unit.decisions.harness import DAY, HOUR, T0, World, bench, held, medical, salary, tx


def story() -> list[Transaction]:
    return [
        salary("s1", T0),
        medical("m1", T0 + HOUR),
        tx("blocked", T0 + 2 * HOUR, terminal_id="t-bad"),
        tx("bad", T0 + DAY),
        salary("s2", T0 + 3 * DAY),
        tx("trip", T0 + 8 * DAY, country="JP"),
        salary("s3", T0 + 40 * DAY),
        salary("s3", T0 + 40 * DAY),  # redelivered
    ]


def world() -> World:
    w = World()
    w.scores_by_tx["bad"] = Scores(fraud=0.95, anomaly=0.3, model_version="m")
    w.features_by_tx["trip"] = {"cust_foreign": 1.0, "cust_new_country_90d": 1.0}
    return w


def summary(results: list) -> list[tuple[str, list[str], dict[str, str]]]:  # type: ignore[type-arg]
    return [(r.decision.outcome, [t.trigger_id for t in r.triggers], held(r)) for r in results]


def test_redis_stores_decide_exactly_like_the_in_memory_ones(redis_client: redis.Redis) -> None:
    memory = bench(world=world())
    memory.lists.add("blocked_terminals", ["t-bad"])
    lists = RedisListStore(redis_client, prefix="test")
    lists.add("blocked_terminals", ["t-bad"])
    w = world()
    engine = DecisionEngine(
        PolicyHolder(load_policy()), w, w, RedisCapStore(redis_client, prefix="test"), lists
    )
    expected = summary(memory.run(story()))
    assert summary([engine.decide(t) for t in story()]) == expected
    assert [o for o, _, _ in expected][2:4] == ["decline", "decline"]


def test_with_redis_down_the_engine_answers_degraded_and_fast() -> None:
    settings = RedisSettings(url="redis://127.0.0.1:1/0", connect_timeout_s=0.05)
    down = client_from_settings(settings)  # no retries: redis-py's default backs off for seconds
    w = World(features_down=True)
    engine = DecisionEngine(
        PolicyHolder(load_policy()), w, w, RedisCapStore(down), RedisListStore(down)
    )
    started = time.perf_counter()
    salary_result = engine.decide(salary("s"))
    challenged = engine.decide(tx("big", amount=900.0))
    declined = engine.decide(tx("huge", amount=60_000.0))
    assert time.perf_counter() - started < 5  # a bound on hanging, not a benchmark
    assert all(r.decision.degraded for r in (salary_result, challenged, declined))
    assert [r.code for r in salary_result.decision.reasons] == [
        "degraded_features", "degraded_lists", "degraded_fraud_model", "degraded_anomaly_model",
        "approved",
    ]  # fmt: skip
    assert held(salary_result) == {"salary_wealth_offer": "no_consent"}
    assert challenged.decision.outcome == "challenge"
    assert [t.code for t in challenged.triggers] == ["fraud_confirmation"]  # needs no cap
    assert declined.decision.outcome == "decline"
    assert declined.decision.reasons[0].code == "degraded_caps"  # the quiet period not recorded
