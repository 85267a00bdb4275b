"""The stream the model benchmarks learn from: simulated transactions -> features -> labels.

The simulator writes the handbook-size data (only the handbook's fraud scenarios, labels 7
days after each transaction); an :class:`~state.memory_store.InMemoryFeatureStore` turns each
transaction into the features a decision would see, with every label applied to the store at
its own time (so terminal fraud rates only know the labels that had arrived). The result is
kept as arrays: one row of features per transaction, and the labels in arrival order with the
number of transactions decided before each arrived. Candidates then replay it without the
store. Building it takes minutes, so it is cached on disk under a key of its configuration.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from events.parsing import parse_label, parse_transaction
from replay.simulator import SimulationConfig, simulate
from state.memory_store import InMemoryFeatureStore

CACHE_DIR = Path(tempfile.gettempdir()) / "verdict-bench-cache"
DAY_S = 86400
#: Version of the cached layout: a change of the arrays kept makes a new cache key.
LAYOUT = 2


@dataclass
class FeatureStream:
    """Features of every transaction and the labels in the order they arrived.

    Attributes
    ----------
    names
        Feature names, the columns of ``features``.
    features
        One row per transaction, in decision order (float32).
    ts, day, customer, is_fraud
        Per transaction: event time, day since the start, customer number, the truth.
    segment
        Per transaction: the customer's segment number (see ``segments``).
    terminal
        Per transaction: the terminal's number (-1: none).
    scenario
        Per transaction: the number of the fraud scenario that made it fraud (see
        ``scenarios``), -1 for a legitimate one.
    label_row, label_fraud, label_after
        Per label that the store accepted, in arrival order: the labelled transaction's row,
        the verdict, and how many transactions had been decided when it arrived.
    """

    names: list[str]
    features: np.ndarray
    ts: np.ndarray
    day: np.ndarray
    customer: np.ndarray
    segment: np.ndarray
    segments: list[str]
    terminal: np.ndarray
    scenario: np.ndarray
    scenarios: list[str]
    is_fraud: np.ndarray
    label_row: np.ndarray
    label_fraud: np.ndarray
    label_after: np.ndarray

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def rows(self, start: int, stop: int) -> list[dict[str, float]]:
        """Transactions ``start:stop`` as feature dicts (what a model is given)."""
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.features[start:stop].tolist()]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        meta = json.dumps(
            {"names": self.names, "segments": self.segments, "scenarios": self.scenarios}
        )
        save: Any = np.savez  # numpy's stub mistakes the arrays for its keyword options
        save(path, meta=np.array(meta), **arrays)

    @classmethod
    def load(cls, path: Path) -> FeatureStream:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in data.files if k != "meta"}
        return cls(
            names=meta["names"], segments=meta["segments"], scenarios=meta["scenarios"], **arrays
        )


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def _label_time(line: bytes) -> float:
    return float(parse_label(line).ts)


def _segments(path: Path) -> tuple[list[str], dict[str, int]]:
    """Segment names, and each customer's segment number."""
    names: list[str] = []
    number: dict[str, int] = {}
    for line in _lines(path):
        record = orjson.loads(line)
        name = record.get("segment") or "none"
        if name not in names:
            names.append(name)
        number[record["customer_id"]] = names.index(name)
    return names, number


def _truth(
    row: int, line: bytes, is_fraud: np.ndarray, scenario: np.ndarray, names: list[str]
) -> None:
    """Record the truth of a labelled transaction (and the simulator's scenario, if fraud)."""
    record = orjson.loads(line)
    is_fraud[row] = bool(record["is_fraud"])
    name = record.get("scenario")
    if record["is_fraud"] and name:
        if name not in names:
            names.append(name)
        scenario[row] = names.index(name)


def build_stream(config: SimulationConfig, workdir: Path) -> FeatureStream:
    """Simulate, then compute every transaction's features with labels applied at their ts."""
    n = simulate(config, workdir, progress=False).transactions
    segment_names, segment_of = _segments(workdir / "customers.jsonl")
    store = InMemoryFeatureStore()
    names: list[str] = []
    matrix = np.empty((0, 0), dtype=np.float32)
    ts = np.empty(n)
    customers = np.empty(n, dtype=np.int32)
    segments = np.empty(n, dtype=np.int16)
    terminals = np.full(n, -1, dtype=np.int32)
    scenario = np.full(n, -1, dtype=np.int8)
    scenario_names: list[str] = []
    terminal_number: dict[str, int] = {}
    is_fraud = np.zeros(n, dtype=bool)
    customer_number: dict[str, int] = {}
    row_of: dict[str, int] = {}
    label_row: list[int] = []
    label_fraud: list[bool] = []
    label_after: list[int] = []
    labels = _lines(workdir / "labels.jsonl")
    pending = next(labels, None)
    for i, line in enumerate(_lines(workdir / "transactions.jsonl")):
        tx = parse_transaction(line)
        while pending is not None and _label_time(pending) <= tx.ts:
            label = parse_label(pending)
            row = row_of.get(label.tx_id)
            if row is not None:
                _truth(row, pending, is_fraud, scenario, scenario_names)
                if store.learn_label(label) is not None:
                    label_row.append(row)
                    label_fraud.append(label.is_fraud)
                    label_after.append(i)
            pending = next(labels, None)
        features = store.update_and_get(tx)
        if not names:
            names = list(features)
            matrix = np.empty((n, len(names)), dtype=np.float32)
        elif len(features) != len(names):
            raise ValueError(f"transaction {tx.tx_id} has features {sorted(features)}")
        matrix[i] = [features[name] for name in names]
        row_of[tx.tx_id] = i
        ts[i] = tx.ts
        customers[i] = customer_number.setdefault(tx.customer_id, len(customer_number))
        if tx.terminal_id is not None:
            terminals[i] = terminal_number.setdefault(tx.terminal_id, len(terminal_number))
        segments[i] = segment_of.get(tx.customer_id, 0)
    for line in labels if pending is None else [pending, *labels]:  # after the last tx
        row = row_of.get(parse_label(line).tx_id)
        if row is not None:
            _truth(row, line, is_fraud, scenario, scenario_names)
    return FeatureStream(
        names=names,
        features=matrix,
        ts=ts,
        day=((ts - config.start_epoch) // DAY_S).astype(np.int32),
        customer=customers,
        segment=segments,
        segments=segment_names,
        terminal=terminals,
        scenario=scenario,
        scenarios=scenario_names,
        is_fraud=is_fraud,
        label_row=np.array(label_row, dtype=np.int64),
        label_fraud=np.array(label_fraud, dtype=bool),
        label_after=np.array(label_after, dtype=np.int64),
    )


def load_stream(config: SimulationConfig, cache_dir: Path = CACHE_DIR) -> tuple[FeatureStream, str]:
    """The stream of ``config``, from the cache when it is there; and where it came from."""
    described = json.dumps({"layout": LAYOUT, **config.to_dict()}, sort_keys=True)
    key = hashlib.sha256(described.encode()).hexdigest()[:16]
    path = cache_dir / f"stream-{key}.npz"
    if path.exists():
        return FeatureStream.load(path), f"cached in {path}"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        stream = build_stream(config, Path(folder))
    stream.save(path)
    return stream, f"built in {time.perf_counter() - started:.0f} s, cached in {path}"


def delayed_terminal_risk(
    stream: FeatureStream, delay_days: int = 7, windows: tuple[int, ...] = (1, 7, 30)
) -> tuple[list[str], np.ndarray]:
    """The handbook's terminal risk features, for a what-if: the share of fraud among the
    terminal's transactions of ``[t - delay - w, t - delay)`` (all labelled by ``t``).

    Returns the names and a ``(len(stream), 2 * len(windows))`` matrix (risk, then count).
    """
    out = np.zeros((len(stream), 2 * len(windows)), dtype=np.float32)
    order = np.lexsort((stream.ts, stream.terminal))
    terminal = stream.terminal[order]
    starts = np.flatnonzero(np.diff(np.concatenate(([-2], terminal))))
    bounds = [*starts.tolist(), len(order)]
    for a, b in itertools.pairwise(bounds):
        rows = order[a:b]
        if stream.terminal[rows[0]] < 0:
            continue
        ts = stream.ts[rows]
        frauds = np.concatenate(([0], np.cumsum(stream.is_fraud[rows])))
        end = np.searchsorted(ts, ts - delay_days * DAY_S, side="left")
        for w, days in enumerate(windows):
            start = np.searchsorted(ts, ts - (delay_days + days) * DAY_S, side="left")
            count = end - start
            out[rows, 2 * w] = np.where(
                count > 0, (frauds[end] - frauds[start]) / np.maximum(count, 1), 0.0
            )
            out[rows, 2 * w + 1] = count
    names = [f"term_risk_delayed_{d}d" for d in windows]
    counts = [f"term_count_delayed_{d}d" for d in windows]
    return [n for pair in zip(names, counts, strict=True) for n in pair], out
