"""Every Prometheus metric of Verdict, in one place: name, help text, labels, buckets.

Importing this module registers nothing. A :class:`Metrics` is built once at the front door on
a registry (the default one for ``/metrics``, a fresh one in tests) and passed to the components
that record into it.

>>> from prometheus_client import CollectorRegistry
>>> metrics = Metrics(CollectorRegistry())
>>> metrics.late_events.labels(entity="customer").inc()
"""

from __future__ import annotations

from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

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
