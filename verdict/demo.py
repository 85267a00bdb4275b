"""``verdict demo``: the whole path on the embedded default, in a few minutes.

Brings the embedded stack up, simulates a week of bank transactions with every scenario on,
replays them (with their customers and labels) through the broker at full speed while a
consumer reads and checks every event, and ends with a summary a person can read in a minute.
The report and data are written under ``verdict-demo/``. Nothing is left running unless asked.

The reading side is, for now, the contract-checking consumer of :mod:`verdict.demo_consumer`;
the decision engine takes its place as the stream workers land.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from events import topics
from replay.producer import ReplaySummary, publish
from replay.simulator import SimulationConfig, SimulationSummary, parse_scenarios, simulate
from replay.sources import BadLine, merge_by_time, read_records
from verdict.demo_consumer import StreamCounter, StreamTally
from verdict.settings import Settings
from verdict.stack import EmbeddedStack


@dataclass(frozen=True)
class DemoOptions:
    """Size and place of a demo run."""

    out_dir: Path = Path("verdict-demo")
    customers: int = 3000
    terminals: int = 6000
    days: int = 7
    seed: int = 7
    keep_running: bool = False
    consume_timeout_s: float = 120.0


@dataclass
class DemoReport:
    """What the demo did, for the summary and ``report.json``."""

    simulation: SimulationSummary
    replay: ReplaySummary
    tally: StreamTally
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        tally = self.tally
        return {
            "seconds": round(self.seconds, 2),
            "simulation": self.simulation.to_dict(),
            "replay": {
                "published": dict(self.replay.published),
                "bad_lines": len(self.replay.bad_lines),
                "seconds": round(self.replay.seconds, 3),
                "events_per_second": round(self.replay.rate),
            },
            "consumer": {
                "consumed": dict(tally.consumed),
                "invalid": dict(tally.invalid),
                "seconds": round(tally.seconds, 3),
                "latency_ms": {
                    q: round(tally.latency_percentile(p), 2)
                    for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
                },
                "transactions_by_type": dict(tally.transactions_by_type),
                "transactions_by_channel": dict(tally.transactions_by_channel),
                "fraud_labels": tally.fraud_labels,
            },
        }


def run_demo(settings: Settings, options: DemoOptions, console: Console) -> DemoReport:
    """Run the demo end to end and print its summary; stop what it started."""
    started = time.perf_counter()
    stack = EmbeddedStack(settings)
    console.rule("[bold]Verdict demo")
    console.print("[bold]1/4 stack[/bold]: the embedded broker and Redis")
    stack_status = stack.up()
    console.print(stack_status.render())
    try:
        data_dir = options.out_dir / "data"
        console.print(
            f"[bold]2/4 simulate[/bold]: {options.customers:,} customers, {options.days} days, "
            "every scenario"
        )
        config = SimulationConfig(
            customers=options.customers,
            terminals=options.terminals,
            days=options.days,
            seed=options.seed,
            scenarios=parse_scenarios("all"),
        )
        simulation = simulate(config, data_dir, progress=True)
        console.print(
            f"    {simulation.transactions:,} transactions, {simulation.frauds:,} fraud "
            f"({simulation.fraud_rate:.2%}), {simulation.customers:,} customers, "
            f"in {simulation.seconds:.1f} s -> {data_dir}/"
        )
        console.print("[bold]3/4 stream[/bold]: replay through the broker into a consumer")
        replay, tally = asyncio.run(_stream(settings, data_dir, options, console))
    finally:
        if not options.keep_running:  # stop what this demo started, nothing else
            if "redis" in stack_status.started:
                console.print(f"    {stack.redis.stop()}")
            if "broker" in stack_status.started:
                console.print(f"    {stack.broker.stop()}")
    report = DemoReport(simulation, replay, tally, time.perf_counter() - started)
    _write_report(report, options.out_dir)
    _print_summary(report, options.out_dir, console)
    return report


async def _stream(
    settings: Settings, data_dir: Path, options: DemoOptions, console: Console
) -> tuple[ReplaySummary, StreamTally]:
    servers = settings.kafka.bootstrap_servers
    counter = StreamCounter(servers, [topics.CUSTOMERS, topics.TRANSACTIONS, topics.LABELS])
    await counter.start()
    published: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    reading = asyncio.create_task(counter.consume(published, options.consume_timeout_s))
    summary = ReplaySummary()

    def bad(line: BadLine) -> None:
        summary.bad_lines.append(line)

    files = [data_dir / f"{name}.jsonl" for name in ("customers", "transactions", "labels")]
    streams = [iter(read_records(path, on_bad=bad)) for path in files]
    with Progress(
        TextColumn("    replay"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:,.0f} events/s"), console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("replay", total=None, rate=0.0)

        def advance(count: int) -> None:
            bar.advance(task, count)
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(task, rate=bar.tasks[0].completed / elapsed if elapsed else 0.0)

        try:
            await publish(merge_by_time(streams), servers, summary=summary, on_progress=advance)
        finally:
            published.set_result(summary.total)
        tally = await reading
    return summary, tally


def _write_report(report: DemoReport, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_bytes(
        orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    )


def _print_summary(report: DemoReport, out_dir: Path, console: Console) -> None:
    tally, replay = report.tally, report.replay
    console.print("[bold]4/4 summary[/bold]")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row(
        "published",
        f"{replay.total:,} events in {replay.seconds:.2f} s ({replay.rate:,.0f}/s), "
        f"{len(replay.bad_lines)} bad lines",
    )
    table.add_row(
        "consumed",
        f"{tally.total:,} events, {sum(tally.invalid.values())} failing their contract, "
        f"in {tally.seconds:.2f} s",
    )
    table.add_row(
        "latency",
        f"producer -> parsed: p50 {tally.latency_percentile(50):.1f} ms, "
        f"p99 {tally.latency_percentile(99):.1f} ms, max {tally.latency_percentile(100):.1f} ms "
        "(a replay at full speed: mostly time queued behind earlier events)",
    )
    kinds = ", ".join(f"{k} {v:,}" for k, v in tally.transactions_by_type.most_common())
    table.add_row("transactions", kinds)
    channels = ", ".join(f"{k} {v:,}" for k, v in tally.transactions_by_channel.most_common())
    table.add_row("channels", channels)
    table.add_row("labels", f"{tally.consumed[topics.LABELS]:,}, {tally.fraud_labels:,} fraud")
    table.add_row("total time", f"{report.seconds:.1f} s")
    console.print(table)
    missing = replay.total - tally.total
    if missing:
        console.print(f"[red]{missing:,} published events were not read back[/red]")
    console.print(f"Report: {out_dir / 'report.json'}; data: {out_dir / 'data'}/")
