"""Small simulator runs shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from replay.simulator import SimulationSummary

#: Small enough for a unit test, big enough for every scenario to show.
SMALL: dict[str, Any] = {"customers": 100, "terminals": 200, "days": 30, "seed": 11}
#: Rates high enough that a small run shows each scenario several times.
BUSY_RATES: dict[str, float] = {
    "account_takeover": 2.0,
    "shared_device": 0.3,
    "medical": 1.0,
    "deposit_growth": 0.08,
    "outflow_other_bank": 0.1,
}


@dataclass
class Run:
    """A finished run and its files, decoded."""

    out: Path
    summary: SimulationSummary
    transactions: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    customers: list[dict[str, Any]]

    def file(self, name: str) -> bytes:
        """The bytes of one written file."""
        return (self.out / name).read_bytes()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file, decoded."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


RunMaker = Callable[..., Run]
