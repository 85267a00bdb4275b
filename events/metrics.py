"""Every Prometheus metric of Verdict, in one place: name, help text, labels, buckets.

Importing this module registers nothing. A :class:`Metrics` is built once at the front door on
a registry (the default one for ``/metrics``, a fresh one in tests) and passed to the components
that record into it.

>>> from prometheus_client import CollectorRegistry
>>> metrics = Metrics(CollectorRegistry())
>>> metrics.late_events.labels(entity="customer").inc()
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Final, Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

#: Buckets for operations that should take well under a millisecond (Redis on loopback).
FAST_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


class Metrics:
    """The metric objects, registered on ``registry`` when built."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.registry = registry
        self.feature_store_latency = Histogram(
            "verdict_feature_store_latency_seconds",
            "Time of one feature-store operation, from call to answer.",
            ["store", "op"],
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.feature_store_errors = Counter(
            "verdict_feature_store_errors_total",
            "Feature-store operations that failed (timeout, connection, script).",
            ["store", "kind"],
            registry=registry,
        )
        self.late_events = Counter(
            "verdict_late_events_total",
            "Transactions older than the longest window at arrival: counted in no window.",
            ["entity"],
            registry=registry,
        )
        self.out_of_order_events = Counter(
            "verdict_out_of_order_events_total",
            "Transactions older than the entity's latest but inside its horizon: placed in the "
            "right windows.",
            ["entity"],
            registry=registry,
        )
        self.duplicate_events = Counter(
            "verdict_duplicate_events_total",
            "Transactions seen again (same tx_id): they change nothing.",
            registry=registry,
        )
        self.labels_ignored = Counter(
            "verdict_labels_ignored_total",
            "Labels for unknown or expired transactions, or repeated: ignored.",
            ["reason"],
            registry=registry,
        )
        self.decisions = Counter(
            "verdict_decisions_total",
            "Decisions taken, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.decision_latency = Histogram(
            "verdict_decision_latency_seconds",
            "Time of one decision: features, scores, lists, policy and caps.",
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.degraded_decisions = Counter(
            "verdict_degraded_decisions_total",
            "Decisions taken without a dependency, by the dependency that was missing.",
            ["dependency"],
            registry=registry,
        )
        self.triggers = Counter(
            "verdict_triggers_total",
            "Triggers emitted (after every marketing rule), by code.",
            ["code"],
            registry=registry,
        )
        self.trigger_suppressions = Counter(
            "verdict_trigger_suppressions_total",
            "Triggers that fired but were held back, by code and by the rule that held them.",
            ["code", "rule"],
            registry=registry,
        )
        self.policy_reloads = Counter(
            "verdict_policy_reloads_total",
            "Attempts to load a changed policy file: loaded, or invalid (the old policy kept).",
            ["result"],
            registry=registry,
        )
        self.model_labels = Counter(
            "verdict_model_labels_total",
            "Labels offered to a model: learnt (fraud, legitimate, legitimate after the label "
            "horizon), early (before their transaction's decision: learnt when it is taken) or "
            "ignored (no feature snapshot: unknown, expired or repeated).",
            ["role", "outcome"],
            registry=registry,
        )
        self.model_versions = Counter(
            "verdict_model_versions_total",
            "Model versions published by the learner, or loaded by a scorer.",
            ["role", "event"],
            registry=registry,
        )
        self.shadow_scores = Counter(
            "verdict_shadow_scores_total",
            "Transactions scored by a challenger in shadow beside the champion (never acted on).",
            ["role"],
            registry=registry,
        )
        self.http_requests = Counter(
            "verdict_http_requests_total",
            "HTTP requests answered, by route template and status code.",
            ["route", "status"],
            registry=registry,
        )
        self.http_latency = Histogram(
            "verdict_http_request_latency_seconds",
            "Server-side time of one HTTP request, from routing to the response.",
            ["route"],
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.http_rate_limited = Counter(
            "verdict_http_rate_limited_total",
            "HTTP requests refused with 429 because the API's request rate limit was reached, "
            "by route template.",
            ["route"],
            registry=registry,
        )
        self.events_published = Counter(
            "verdict_events_published_total",
            "Events handed to the broker by the asynchronous publisher, by topic.",
            ["topic"],
            registry=registry,
        )
        self.publish_dropped = Counter(
            "verdict_publish_dropped_total",
            "Events the publisher could not keep (its bounded buffer was full), by topic.",
            ["topic"],
            registry=registry,
        )
        self.dependency_trips = Counter(
            "verdict_dependency_trips_total",
            "Times a dependency failed and its circuit breaker opened (calls skipped, decisions "
            "degraded, until a background probe finds it back), by dependency.",
            ["dependency"],
            registry=registry,
        )
        self.dependency_open = Gauge(
            "verdict_dependency_circuit_open",
            "1 while a dependency's circuit breaker is open (the dependency is treated as down).",
            ["dependency"],
            registry=registry,
        )
        self.publish_buffered = Gauge(
            "verdict_publish_buffered_events",
            "Events waiting in the publisher's buffer for the broker.",
            registry=registry,
        )
        self.dead_letters = Counter(
            "verdict_dead_letters_total",
            "Messages a stream step could not handle, sent to dead-letters, by step and reason.",
            ["step", "reason"],
            registry=registry,
        )
        self.alerts = Counter(
            "verdict_alerts_total",
            "Alerts raised for the risk team, by severity.",
            ["severity"],
            registry=registry,
        )
        self.stream_latency = Histogram(
            "verdict_stream_latency_seconds",
            "Event to decision on the stream path: from the message's broker timestamp to its "
            "decision being handed to the publisher.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.event_loop_lag = Histogram(
            "verdict_event_loop_lag_seconds",
            "How late the worker's event loop ran a timer due every 50 ms: the time it was busy "
            "with something else (a stream chunk, a batch of decisions, a garbage collection), "
            "which every inline request arriving meanwhile waits too.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.stream_batch_size = Histogram(
            "verdict_stream_batch_size",
            "Messages per micro-batch, by step.",
            ["step"],
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=registry,
        )
        self.stream_pauses = Counter(
            "verdict_stream_pauses_total",
            "Times a step paused to wait for a dependency (Redis, the broker), by step.",
            ["step"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "verdict_consumer_lag_messages",
            "Messages behind the end of each partition this worker consumes.",
            ["topic", "partition"],
            registry=registry,
        )
        self.build_info = Info(
            "verdict_build",
            "Versions in force: the engine, the policy and the models.",
            registry=registry,
        )


M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    """The children of a labelled metric, each made once: ``labels()`` checks and hashes its
    arguments under a lock on every call, which costs more than the update on a hot path.
    Label values must come from small sets (routes, statuses, outcomes).

    >>> from prometheus_client import CollectorRegistry
    >>> c = Counter("x_total", "x", ["route", "status"], registry=CollectorRegistry())
    >>> requests = Children(c)
    >>> requests(route="/v1/decisions", status="200").inc()
    >>> requests(route="/v1/decisions", status="200") is c.labels("/v1/decisions", "200")
    True
    """

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._made: dict[tuple[tuple[str, str], ...], M] = {}

    def __call__(self, **labels: str) -> M:
        key = tuple(labels.items())
        child = self._made.get(key)
        if child is None:
            child = self._made[key] = self._metric.labels(**labels)
        return child


def observe_many(histogram: Histogram, values: Iterable[float]) -> None:
    """``histogram.observe(v)`` for each of ``values``, with one locked increment per bucket
    touched instead of two per value (the engine records a whole batch of decisions at once).

    It reads the histogram's buckets as ``observe`` does (prometheus-client's ``_upper_bounds``,
    ``_buckets`` and ``_sum``; a unit test holds it to ``observe``).

    >>> from prometheus_client import CollectorRegistry
    >>> h = Histogram("x_seconds", "x", buckets=(0.1, 1.0), registry=CollectorRegistry())
    >>> observe_many(h, [0.05, 0.1, 0.5, 7.0])
    >>> [s.value for s in h.collect()[0].samples if s.name == "x_seconds_bucket"]
    [2.0, 3.0, 4.0]
    """
    bounds: list[float] = histogram._upper_bounds
    counts = [0] * len(bounds)
    total = 0.0
    for value in values:
        total += value
        counts[bisect_left(bounds, value)] += 1  # the first bound at or above it, as observe
    if not any(counts):
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
