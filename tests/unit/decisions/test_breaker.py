"""The circuit breaker: after one failure the engine stops calling Redis until a probe finds
it back, so a dead Redis costs one timeout, not one per request."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from decisions.breaker import CircuitBreaker
from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine
from decisions.policy_file import PolicyHolder, load_policy
from events.errors import DependencyUnavailableError
from events.metrics import Metrics
from events.records import Transaction
from tests.unit.decisions.harness import World, tx


class Probe:
    """A probe that fails while ``down`` is set, counting its calls."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.down.set()
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.down.is_set():
            raise ConnectionError("refused")


class CountingWorld(World):
    """The scripted world, counting calls to the feature store."""

    calls: int = 0

    def update_and_get(self, t: Transaction) -> dict[str, float]:
        self.calls += 1
        return super().update_and_get(t)


def engine_with_breaker() -> tuple[DecisionEngine, CountingWorld, Probe, Metrics]:
    world, probe, metrics = CountingWorld(), Probe(), Metrics(CollectorRegistry())
    breaker = CircuitBreaker(
        "redis",
        probe,
        interval_s=0.005,
        trips=metrics.dependency_trips,
        open_gauge=metrics.dependency_open,
    )
    engine = DecisionEngine(
        PolicyHolder(load_policy()),
        world,
        world,
        caps=InMemoryCapStore(),
        metrics=metrics,
        breaker=breaker,
    )
    return engine, world, probe, metrics


def test_one_failure_opens_the_breaker_and_later_calls_are_skipped() -> None:
    engine, world, _, metrics = engine_with_breaker()
    world.features_down = True
    first = engine.decide(tx("a"))
    assert first.decision.degraded
    assert world.calls == 1
    later = engine.decide_many([tx("b"), tx("c")])
    assert [r.decision.degraded for r in later] == [True, True]
    assert world.calls == 1  # the store was not called while the breaker is open
    assert later[0].decision.reasons[0].code == "degraded_features"
    registry = metrics.registry
    assert registry.get_sample_value("verdict_dependency_trips_total", {"dependency": "redis"})
    assert registry.get_sample_value("verdict_dependency_circuit_open", {"dependency": "redis"})


def test_the_breaker_closes_when_the_probe_answers_and_decisions_are_normal_again() -> None:
    engine, world, probe, metrics = engine_with_breaker()
    world.features_down = True
    engine.decide(tx("a"))
    assert engine.breaker is not None and engine.breaker.is_open
    world.features_down = False
    probe.down.clear()
    assert engine.breaker.wait_closed(timeout_s=5.0)
    result = engine.decide(tx("b"))
    assert not result.decision.degraded
    assert probe.calls >= 1
    gauge = metrics.registry.get_sample_value(
        "verdict_dependency_circuit_open", {"dependency": "redis"}
    )
    assert gauge == 0


def test_the_stream_path_waits_while_the_breaker_is_open() -> None:
    engine, world, _, _ = engine_with_breaker()
    world.features_down = True
    with pytest.raises(DependencyUnavailableError):
        engine.decide_many([tx("a")], require_features=True)
    calls = world.calls
    with pytest.raises(DependencyUnavailableError, match="down"):
        engine.decide_many([tx("b")], require_features=True)
    assert world.calls == calls


def test_trip_is_idempotent_while_open() -> None:
    probe = Probe()
    breaker = CircuitBreaker("redis", probe, interval_s=0.005)
    breaker.trip(ConnectionError("one"))
    opened = breaker.opened_at
    breaker.trip(ConnectionError("two"))
    assert breaker.opened_at == opened
    probe.down.clear()
    assert breaker.wait_closed(timeout_s=5.0)
    assert not breaker.is_open


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        CircuitBreaker("redis", lambda: None, interval_s=0)
