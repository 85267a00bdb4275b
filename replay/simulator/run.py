"""One simulation run: build the world, apply the scenarios in order, sort, write, summarise.

The order matters and is fixed: the handbook's everyday payments; the scenarios that change
them (``travel``, ``card_not_present``); the handbook's fraud marks; the scenarios that add
transactions of their own. Each part draws from its own random stream, so switching a
scenario on or off leaves the others' draws unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from replay.simulator import account_scenarios, card_scenarios, handbook
from replay.simulator.config import SCENARIO_NAMES, SimulationConfig
from replay.simulator.table import Transactions
from replay.simulator.world import World
from replay.simulator.writer import customer_ids, write_customers, write_transactions_and_labels

TRANSACTIONS_FILE: Final = "transactions.jsonl"
LABELS_FILE: Final = "labels.jsonl"
CUSTOMERS_FILE: Final = "customers.jsonl"
SUMMARY_FILE: Final = "summary.json"


@dataclass(frozen=True)
class ScenarioCount:
    """What one scenario did: transactions it made or changed, the fraud it accounts for, and
    (``no_consent``) the customers it changed."""

    transactions: int = 0
    frauds: int = 0
    customers: int = 0


@dataclass(frozen=True)
class SimulationSummary:
    """The outcome of :func:`simulate` (also written as ``summary.json``).

    Attributes
    ----------
    scenarios
        By scenario name (only those switched on). For a fraud scenario, ``frauds`` counts the
        transactions labelled with its name (a later handbook scenario takes over an earlier
        one's transaction, as in the handbook).
    schedule
        When the handbook compromised terminals and cards: ``{"handbook_terminal":
        [[day, "t01234"], ...], "handbook_card": [[day, "c0042"], ...]}``.
    """

    out_dir: Path
    config: SimulationConfig
    transactions: int
    frauds: int
    labels: int
    customers: int
    seconds: float
    scenarios: dict[str, ScenarioCount] = field(default_factory=dict)
    schedule: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    @property
    def fraud_rate(self) -> float:
        """Share of transactions that are fraud."""
        return self.frauds / self.transactions if self.transactions else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "transactions": self.transactions,
            "frauds": self.frauds,
            "fraud_rate": round(self.fraud_rate, 6),
            "labels": self.labels,
            "customers": self.customers,
            "seconds": round(self.seconds, 3),
            "seed": self.config.seed,
            "files": [TRANSACTIONS_FILE, LABELS_FILE, CUSTOMERS_FILE],
            "scenarios": {
                name: {
                    "transactions": count.transactions,
                    "frauds": count.frauds,
                    "customers": count.customers,
                }
                for name, count in self.scenarios.items()
            },
            "config": self.config.to_dict(),
            "schedule": {name: [list(item) for item in v] for name, v in self.schedule.items()},
        }


def simulate(
    config: SimulationConfig, out_dir: Path, *, progress: bool = True
) -> SimulationSummary:
    """Simulate ``config`` and write its files into ``out_dir`` (created when missing).

    Writes ``transactions.jsonl`` (by time), ``labels.jsonl`` (by time), ``customers.jsonl``
    and ``summary.json``.

    Parameters
    ----------
    config
        What to simulate; the same config writes the same bytes.
    out_dir
        Folder of the files.
    progress
        Show a progress bar on standard error.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     summary = simulate(SimulationConfig(customers=50, terminals=100, days=5),
    ...                        Path(folder), progress=False)
    >>> summary.transactions > 0, summary.labels == summary.transactions
    (True, True)
    """
    began = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, ScenarioCount] = {}
    schedule: dict[str, list[tuple[int, str]]] = {}
    with _progress_bar(progress) as bar:
        steps = bar.add_task("simulating", total=len(config.scenarios) + 2)

        def step(label: str) -> None:
            bar.update(steps, advance=1, description=label)

        world = World.build(config)
        base = handbook.everyday_spending(world)
        step("handbook spending")
        _change_everyday(world, base, counts, step)
        schedule = _handbook_fraud(world, base, counts, step)
        tx = Transactions.concat([base, *_added(world, counts, step)])
        tx = tx.take(np.argsort(tx.ts, kind="stable"))
        step("simulated")
        frauds = np.bincount(tx.fraud[tx.fraud >= 0], minlength=len(SCENARIO_NAMES))
        for name in config.scenarios:
            done, fraud = counts.get(name, ScenarioCount()), int(frauds[SCENARIO_NAMES.index(name)])
            counts[name] = ScenarioCount(done.transactions or fraud, fraud, done.customers)

        writing = bar.add_task("writing", total=len(tx))
        write_customers(out_dir / CUSTOMERS_FILE, world)
        labels = write_transactions_and_labels(
            out_dir / TRANSACTIONS_FILE,
            out_dir / LABELS_FILE,
            tx,
            world,
            on_rows=lambda rows: bar.update(writing, advance=rows),
        )
    summary = SimulationSummary(
        out_dir=out_dir,
        config=config,
        transactions=len(tx),
        frauds=int((tx.fraud >= 0).sum()),
        labels=labels,
        customers=config.customers,
        seconds=time.perf_counter() - began,
        scenarios={name: counts[name] for name in SCENARIO_NAMES if name in counts},
        schedule=schedule,
    )
    (out_dir / SUMMARY_FILE).write_bytes(
        orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    return summary


def _change_everyday(
    world: World, base: Transactions, counts: dict[str, ScenarioCount], step: Callable[[str], None]
) -> None:
    for name, change in (
        ("travel", card_scenarios.travel),
        ("card_not_present", card_scenarios.card_not_present),
    ):
        if world.config.enabled(name):
            counts[name] = ScenarioCount(transactions=change(world, base))
            step(name)


def _handbook_fraud(
    world: World, base: Transactions, counts: dict[str, ScenarioCount], step: Callable[[str], None]
) -> dict[str, list[tuple[int, str]]]:
    config, schedule = world.config, {}
    if config.enabled("handbook_amount"):
        handbook.amount_fraud(world, base)
        step("handbook_amount")
    if config.enabled("handbook_terminal"):
        terminals = world.names.lookup()
        schedule["handbook_terminal"] = [
            (day, str(terminals[t])) for day, t in handbook.terminal_fraud(world, base)
        ]
        step("handbook_terminal")
    if config.enabled("handbook_card"):
        customers = customer_ids(config.customers)
        schedule["handbook_card"] = [
            (day, str(customers[c])) for day, c in handbook.card_fraud(world, base)
        ]
        step("handbook_card")
    return schedule


def _added(
    world: World, counts: dict[str, ScenarioCount], step: Callable[[str], None]
) -> Iterator[Transactions]:
    config = world.config
    credits: list[Transactions] = []
    makers: tuple[tuple[str, Callable[[World], Transactions]], ...] = (
        ("account_takeover", card_scenarios.account_takeover),
        ("shared_device", card_scenarios.shared_device),
        ("salary", account_scenarios.salary),
        ("medical", account_scenarios.medical),
        ("deposit_growth", account_scenarios.deposit_growth),
    )
    for name, make in makers:
        if config.enabled(name):
            rows = make(world)
            counts[name] = ScenarioCount(transactions=len(rows))
            if name in ("salary", "deposit_growth"):
                credits.append(rows)
            step(name)
            yield rows
    if config.enabled("outflow_other_bank"):
        rows = account_scenarios.outflow_other_bank(world, Transactions.concat(credits))
        counts["outflow_other_bank"] = ScenarioCount(transactions=len(rows))
        step("outflow_other_bank")
        yield rows
    if config.enabled("no_consent"):
        withdrawn = int((~world.population.marketing_consent).sum())
        counts["no_consent"] = ScenarioCount(customers=withdrawn)
        step("no_consent")


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress]:
    bar = Progress(
        TextColumn("[bold]{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
    with bar:
        yield bar
