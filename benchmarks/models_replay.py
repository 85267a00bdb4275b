"""Prequential replay of a :class:`~benchmarks.models_data.FeatureStream` through a model.

The protocol, the same for every candidate: transactions are taken in decision order in
chunks of :data:`CHUNK`; before a chunk is scored, every label that had arrived by its first
transaction is learnt (from the decision's features, as the engine learns from snapshots); the
chunk is then scored with the model as it stands. Labels arrive 7 days after their
transaction, so learning them per chunk (a few simulated minutes) instead of one by one
changes nothing that matters. The anomaly model scores and learns each transaction in order.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks.models_data import DAY_S, FeatureStream
from events.records import Label
from models.base import OnlineModel
from models.labels import LabelLearner
from models.suite import ModelSuite

CHUNK = 1000
LABEL_DELAY_S = 7 * DAY_S


@dataclass
class Outcome:
    """Scores of every transaction and what producing them cost."""

    scores: np.ndarray
    anomaly_scores: np.ndarray | None = None
    seconds: float = 0.0
    score_seconds: float = 0.0
    learn_seconds: float = 0.0
    transactions: int = 0
    labels: int = 0
    model_bytes: int = 0
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Transactions scored plus labels learnt, per second of the whole replay."""
        return (self.transactions + self.labels) / self.seconds if self.seconds else 0.0


class Features:
    """Rows of the stream as feature dicts, with optional extra columns (what-ifs)."""

    def __init__(self, stream: FeatureStream, extra: tuple[list[str], np.ndarray] | None = None):
        self.names = list(stream.names)
        self.matrix = stream.features
        if extra is not None:
            self.names += extra[0]
            self.matrix = np.concatenate([self.matrix, extra[1].astype(np.float32)], axis=1)

    def dicts(self, rows: np.ndarray | slice) -> list[dict[str, float]]:
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.matrix[rows].tolist()]


def replay(
    stream: FeatureStream,
    model: OnlineModel,
    features: Features | None = None,
    limit: int | None = None,
) -> Outcome:
    """Fraud scores of a supervised model (a :class:`ModelSuite` also gives anomaly scores)."""
    features = features or Features(stream)
    n = len(stream) if limit is None else min(limit, len(stream))
    out = Outcome(np.zeros(n), transactions=n)
    suite = model if isinstance(model, ModelSuite) else None
    if suite is not None:
        out.anomaly_scores = np.zeros(n)
    next_label = 0
    started = time.perf_counter()
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        arrived = int(np.searchsorted(stream.label_after, a, side="right"))
        if arrived > next_label:
            xs = features.dicts(stream.label_row[next_label:arrived])
            ys = stream.label_fraud[next_label:arrived].tolist()
            tick = time.perf_counter()
            model.learn_many(xs, ys)
            out.learn_seconds += time.perf_counter() - tick
            out.labels += arrived - next_label
            next_label = arrived
        xs = features.dicts(slice(a, b))
        tick = time.perf_counter()
        if suite is not None and out.anomaly_scores is not None:
            out.scores[a:b], out.anomaly_scores[a:b] = suite.decide_many(xs)
        else:
            out.scores[a:b] = model.score_many(xs)
        out.score_seconds += time.perf_counter() - tick
    out.seconds = time.perf_counter() - started
    out.model_bytes = len(pickle.dumps(model))
    return out


def replay_anomaly(stream: FeatureStream, model: OnlineModel) -> Outcome:
    """Scores of an unsupervised model that scores, then learns, each transaction."""
    features = Features(stream)
    n = len(stream)
    out = Outcome(np.zeros(n), transactions=n)
    score_learn: Callable[[list[dict[str, float]]], np.ndarray] = model.score_learn_many  # type: ignore[attr-defined]
    started = time.perf_counter()
    for a in range(0, n, CHUNK):
        xs = features.dicts(slice(a, a + CHUNK))
        tick = time.perf_counter()
        out.scores[a : a + CHUNK] = score_learn(xs)
        out.score_seconds += time.perf_counter() - tick
    out.seconds = time.perf_counter() - started
    out.model_bytes = len(pickle.dumps(model))
    return out


class _Snapshots:
    """The feature store's part in the label feed: a decision's features by transaction id."""

    def __init__(self, features: Features) -> None:
        self.features = features

    def learn_label(self, label: Label) -> dict[str, float] | None:
        return self.snapshot(label.tx_id)

    def snapshot(self, tx_id: str) -> dict[str, float] | None:
        return self.features.dicts(np.array([int(tx_id[2:])]))[0]


def replay_chargebacks(stream: FeatureStream, suite: ModelSuite, horizon_days: float) -> Outcome:
    """The chargebacks-only feed: only frauds are reported; a transaction without a fraud
    label ``horizon_days`` after it is learnt as legitimate (:class:`LabelLearner`)."""
    features = Features(stream)
    n = len(stream)
    out = Outcome(np.zeros(n), anomaly_scores=np.zeros(n), transactions=n)
    learner = LabelLearner(suite, _Snapshots(features), "chargebacks", horizon_days * DAY_S)
    frauds = np.flatnonzero(stream.label_fraud)
    fraud_after = stream.label_after[frauds]
    next_fraud = 0
    started = time.perf_counter()
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        tick = time.perf_counter()
        arrived = int(np.searchsorted(fraud_after, a, side="right"))
        for k in frauds[next_fraud:arrived]:
            row = int(stream.label_row[k])
            when = float(stream.ts[row]) + LABEL_DELAY_S
            learner.on_label(Label(tx_id=f"tx{row}", is_fraud=True, ts=when, source="chargeback"))
        next_fraud = arrived
        learner.advance(float(stream.ts[a]))
        out.learn_seconds += time.perf_counter() - tick
        tick = time.perf_counter()
        assert out.anomaly_scores is not None
        out.scores[a:b], out.anomaly_scores[a:b] = suite.decide_many(features.dicts(slice(a, b)))
        out.score_seconds += time.perf_counter() - tick
        for i in range(a, b):
            learner.on_decision(f"tx{i}", float(stream.ts[i]))
    out.seconds = time.perf_counter() - started
    out.labels = learner.learnt
    out.model_bytes = len(pickle.dumps(suite))
    out.notes = {f"labels_{k}": float(v) for k, v in learner.counts.items()}
    return out
