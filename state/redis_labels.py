"""Labels on the Redis feature store: the scripts that apply them, what their replies say, and
the snapshots a label is learnt from.

A label names a transaction; the transaction's index (``{x:<tx_id>}``, written when it was
first decided: customer, terminal, device, time and its own features) says which entities'
scripts apply the label, and each entity's dedupe record of that transaction holds its part of
the snapshot. A store that is the only writer of its database (a backtest's feature stage)
keeps the indexes of the transactions it decided (:class:`IndexMemory`), and labels of those
skip the round trip that reads them.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from events.records import Label
from state.features import (
    CUSTOMER_PART,
    DEVICE_PART,
    EMPTY_DEVICE,
    EMPTY_TERMINAL,
    TERMINAL_PART,
    CustomerPart,
    DevicePart,
    TerminalPart,
    vector,
)
from state.redis_commands import Commands, bucket_key, index_key, pack
from state.store import APPLIED, LABEL_OUTCOMES
from state.windows import DAY

#: How to read the replies of some labels' scripts: each label's position, its index, its
#: scripts.
LabelPlan = list[tuple[int, list[Any], int]]


class IndexMemory:
    """The indexes of the latest transactions decided, as Redis holds them: ``most`` at most
    (0: none)."""

    def __init__(self, most: int = 0) -> None:
        self.most = most
        self._by_tx: OrderedDict[str, list[Any]] = OrderedDict()  # oldest first

    def __contains__(self, tx_id: str) -> bool:
        return tx_id in self._by_tx

    def add(self, tx_id: str, index: list[Any]) -> None:
        """Keep ``tx_id``'s index (the oldest is forgotten past ``most``)."""
        self._by_tx[tx_id] = index
        if len(self._by_tx) > self.most:
            self._by_tx.popitem(last=False)

    def get(self, tx_id: str) -> list[Any] | None:
        """``tx_id``'s index if kept."""
        return self._by_tx.get(tx_id)


class LabelScripts:
    """The scripts that apply labels, and their outcomes.

    Parameters
    ----------
    commands
        The store's packed commands (script SHAs).
    horizon_s
        Labels later than this after their transaction are ignored (``expired``).
    memory
        The indexes the store keeps.
    run
        One round trip of the store (to read the indexes not kept).
    ignored
        Told the reason of each label ignored (for the metrics).
    """

    def __init__(
        self,
        commands: Commands,
        horizon_s: float,
        memory: IndexMemory,
        run: Callable[[list[bytes]], list[Any]],
        ignored: Callable[[str], None],
    ) -> None:
        self._commands = commands
        self._horizon_s = horizon_s
        self._memory = memory
        self._run = run
        self._ignored = ignored

    def remembers(self, labels: Sequence[Label]) -> bool:
        """Whether every label's transaction has its index kept: then :meth:`commands_for`
        asks Redis nothing."""
        memory = self._memory
        return all(label.tx_id in memory for label in labels)

    def commands_for(self, labels: Sequence[Label]) -> tuple[list[bytes], LabelPlan]:
        """The scripts that apply ``labels``, and what :meth:`outcomes` needs to read their
        replies; the indexes not kept are read first (one round trip)."""
        known = [self._memory.get(label.tx_id) for label in labels]
        unknown = [index_key(label.tx_id) for label, kept in zip(labels, known, strict=True)
                   if kept is None]  # fmt: skip
        raw = iter(self._run([pack(b"GET", key) for key in unknown]) if unknown else ())
        commands: list[bytes] = []
        plan: LabelPlan = []
        for i, (label, kept) in enumerate(zip(labels, known, strict=True)):
            if kept is None:
                found = next(raw)
                if found is None:
                    self._ignored("unknown")
                    continue
            index = kept if kept is not None else orjson.loads(found)
            customer_id, terminal_id, device_id, ts, _ = index
            label_ts = math.floor(label.ts)
            if label_ts - ts > self._horizon_s:
                self._ignored("expired")
                continue
            fraud = b"1" if label.is_fraud else b"0"
            args = [b"l", label.tx_id.encode(), b"%d" % ts, fraud, b"%d" % label_ts]
            day = ts // DAY
            scripts = [self._commands.script("customer", customer_id, day, args)]
            if terminal_id is not None:
                scripts.append(self._commands.script("terminal", terminal_id, day, args))
            if device_id is not None:
                scripts.append(self._commands.script("device", device_id, day, args))
            commands += scripts
            plan.append((i, index, len(scripts)))
        return commands, plan

    def outcomes(
        self, labels: Sequence[Label], plan: LabelPlan, replies: Sequence[Any]
    ) -> list[dict[str, float] | None]:
        """Each label's snapshot if it was news, from the replies to :meth:`commands_for`."""
        out: list[dict[str, float] | None] = [None] * len(labels)
        it = iter(replies)
        for i, index, count in plan:
            mine = [next(it) for _ in range(count)]
            outcome = int(mine[0][0])
            if outcome != APPLIED:
                self._ignored(LABEL_OUTCOMES[outcome])
                continue
            out[i] = snapshot_from(index, [reply[1] for reply in mine])
        return out


def record_commands(tx_id: str, index: list[Any]) -> list[bytes]:
    """The reads of a transaction's dedupe records (customer first), from its index."""
    customer_id, terminal_id, device_id, ts, _ = index
    day, field = ts // DAY, tx_id.encode()
    commands = [pack(b"HGET", bucket_key("customer", customer_id, day), field)]
    if terminal_id is not None:
        commands.append(pack(b"HGET", bucket_key("terminal", terminal_id, day), field))
    if device_id is not None:
        commands.append(pack(b"HGET", bucket_key("device", device_id, day), field))
    return commands


def snapshot_from(index: list[Any], records: list[bytes]) -> dict[str, float] | None:
    """A snapshot from the index and the entities' dedupe records (customer first)."""
    _, terminal_id, device_id, _, tx_features = index
    if not records[0]:
        return None
    customer: CustomerPart = CUSTOMER_PART.unpack_from(records[0])
    rest = iter(records[1:])
    terminal: TerminalPart = EMPTY_TERMINAL
    device: DevicePart = EMPTY_DEVICE
    if terminal_id is not None:
        record = next(rest)
        if not record:
            return None
        terminal = TERMINAL_PART.unpack_from(record)
    if device_id is not None:
        record = next(rest)
        if not record:
            return None
        device = DEVICE_PART.unpack_from(record)
    return vector(tx_features, customer, terminal, device)
