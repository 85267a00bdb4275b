"""Fixtures: small simulator runs, written to temporary folders and decoded."""

from __future__ import annotations

from typing import Any

import pytest

from replay.simulator import SimulationConfig, parse_scenarios, simulate
from tests.unit.replay.simulator.runs import BUSY_RATES, SMALL, Run, RunMaker, read_jsonl


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> RunMaker:
    """Run the simulator; keyword arguments override :data:`SMALL` (``scenarios`` as text)."""

    def run(**overrides: Any) -> Run:
        options = {**SMALL, **overrides}
        if isinstance(options.get("scenarios"), str):
            options["scenarios"] = parse_scenarios(options["scenarios"])
        out = tmp_path_factory.mktemp("sim")
        summary = simulate(SimulationConfig(**options), out, progress=False)
        return Run(
            out=out,
            summary=summary,
            transactions=read_jsonl(out / "transactions.jsonl"),
            labels=read_jsonl(out / "labels.jsonl"),
            customers=read_jsonl(out / "customers.jsonl"),
        )

    return run


@pytest.fixture(scope="module")
def handbook_run(make_run: RunMaker) -> Run:
    """The default scenarios (the handbook's three) at a small size."""
    return make_run()


@pytest.fixture(scope="module")
def all_run(make_run: RunMaker) -> Run:
    """Every scenario, busy rates, long enough (92 days) for three full calendar months."""
    return make_run(scenarios="all", days=92, rates=BUSY_RATES)
