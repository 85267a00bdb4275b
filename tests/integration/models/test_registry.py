"""The model registry against the real Redis: versions, publication cadence, live reloads."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client import CollectorRegistry

from events.metrics import Metrics
from models.fraud import FraudModel
from models.hst import HalfSpaceTrees
from models.registry import LiveModel, ModelRegistry, Publisher
from models.shadow import ShadowScorer

X = {"amount": 120.0, "cust_count_1h": 3.0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trained(n: int) -> FraudModel:
    model = FraudModel("ftrl")
    for i in range(n):
        model.learn_one({"amount": float(i % 30), "cust_count_1h": float(i % 4)}, i % 30 > 27)
    return model


def test_versions_round_trip_and_only_the_newest_are_kept(redis_client: redis.Redis) -> None:
    registry = ModelRegistry(redis_client, keep=2)
    assert registry.current_version("fraud") is None
    assert registry.load("fraud") is None
    models = [trained(50), trained(100), trained(150)]
    versions = [registry.publish("fraud", m, labels=i) for i, m in enumerate(models)]
    assert versions == [1, 2, 3]
    assert registry.current_version("fraud") == 3
    assert registry.versions("fraud") == [2, 3]
    loaded = registry.load("fraud")
    assert loaded is not None
    assert loaded[0] == 3
    assert loaded[1].score_one(X) == models[2].score_one(X)
    assert registry.load("fraud", 1) is None
    meta = registry.meta("fraud", 2)
    assert meta is not None
    assert meta["labels"] == 1
    assert meta["role"] == "fraud"
    assert redis_client.exists("verdict:model:{fraud}:v3")


def test_publisher_publishes_every_n_labels_or_t_seconds(redis_client: redis.Redis) -> None:
    clock = FakeClock()
    registry = ModelRegistry(redis_client)
    metrics = Metrics(CollectorRegistry())
    publisher = Publisher(
        registry, "fraud", trained(10), every_labels=5, every_s=30.0, clock=clock, metrics=metrics
    )
    assert [publisher.learnt() for _ in range(5)] == [None, None, None, None, 1]
    assert publisher.tick() is None  # nothing new learnt
    publisher.learnt(2)
    assert publisher.tick() is None
    clock.now += 31.0
    assert publisher.tick() == 2
    assert registry.current_version("fraud") == 2
    published = metrics.model_versions.labels(role="fraud", event="published")
    assert published._value.get() == 2


def test_live_model_checks_at_most_every_t_seconds(redis_client: redis.Redis) -> None:
    clock = FakeClock()
    registry = ModelRegistry(redis_client)
    fallback = FraudModel("ftrl")
    live = LiveModel(registry, "fraud", fallback, check_every_s=5.0, clock=clock)
    assert live.get() == (0, fallback)
    assert live.label == "fraud:v0"
    model = trained(80)
    registry.publish("fraud", model)
    assert live.get()[0] == 0  # not yet time to look
    clock.now += 5.0
    version, current = live.get()
    assert version == 1
    assert current.score_one(X) == model.score_one(X)
    calls = []
    original = registry.current_version

    def counting(role: str) -> int | None:
        calls.append(role)
        return original(role)

    registry.current_version = counting  # type: ignore[method-assign]
    for _ in range(1000):
        live.get()
    assert calls == []  # the hot path never asked Redis


def test_live_model_follows_publications_in_the_background(redis_client: redis.Redis) -> None:
    registry = ModelRegistry(redis_client)
    live = LiveModel(registry, "anomaly", HalfSpaceTrees(seed=1), check_every_s=3600.0)
    live.get()  # the one timed check, now an hour away
    live.listen()
    try:
        time.sleep(0.2)  # let the subscription settle
        model = HalfSpaceTrees(n_trees=3, height=3, window_size=5, seed=2)
        for i in range(20):
            model.learn_one({"a": (i % 7) / 7})
        registry.publish("anomaly", model)
        deadline = time.monotonic() + 5.0
        while live.version != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert live.get()[0] == 1
        assert live.model.score_one({"a": 0.5}) == model.score_one({"a": 0.5})
    finally:
        live.close()


def test_shadow_challenger_is_recorded_never_returned_as_the_score(
    redis_client: redis.Redis,
) -> None:
    registry = ModelRegistry(redis_client)
    champion, challenger = trained(60), trained(200)
    registry.publish("fraud", champion)
    registry.publish("fraud_challenger", challenger)
    metrics = Metrics(CollectorRegistry())
    scorer = ShadowScorer(
        LiveModel(registry, "fraud", FraudModel()),
        LiveModel(registry, "fraud_challenger", FraudModel()),
        metrics=metrics,
    )
    result = scorer.score_one(X)
    assert result.score == pytest.approx(champion.score_one(X))
    assert result.shadow_score == pytest.approx(challenger.score_one(X))
    assert (result.version, result.shadow_version) == ("fraud:v1", "fraud_challenger:v1")
    assert scorer.mean_gap == pytest.approx(abs(result.score - result.shadow_score))
    assert metrics.shadow_scores.labels(role="fraud")._value.get() == 1
    solo = ShadowScorer(LiveModel(registry, "fraud", FraudModel()))
    assert solo.score_one(X).shadow_score is None


def test_a_scorer_keeps_its_model_when_redis_is_gone() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1)
    fallback = FraudModel()
    live = LiveModel(ModelRegistry(dead), "fraud", fallback)
    assert live.get() == (0, fallback)
