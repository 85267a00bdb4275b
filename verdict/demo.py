"""``verdict demo``: the whole engine on the embedded default, in a few minutes.

Brings the embedded stack up, simulates a week of bank transactions with every scenario on,
starts the engine (stream worker + inline API, one process), replays the week (customers,
transactions, and labels one day later) through the broker at full speed with a live progress
display, sends requests through the inline API, and ends with a summary a person can read in a
minute: throughput, latencies, outcomes, the alerts and triggers raised with examples, and the
quality the models reached. The report and its plots (latency, decisions over time, ROC and
precision-recall curves; :mod:`verdict.demo_plots`) go to ``verdict-demo/``; nothing is left
running unless asked (``--keep-running``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from models.evaluation import average_precision, roc_auc
from replay.producer import ReplaySummary, publish
from replay.simulator import SimulationConfig, SimulationSummary, parse_scenarios, simulate
from replay.sources import BadLine, merge_by_time, read_records
from state.redis_wire import client_from_settings, url_with_db
from state.settings import RedisSettings
from verdict import event_loop, plots
from verdict.demo_outputs import OutputReader, Outputs, Scored, scored
from verdict.demo_plots import draw
from verdict.demo_report import print_summary, write_report
from verdict.processes import StackError
from verdict.serve import run_worker
from verdict.settings import Settings
from verdict.stack import EmbeddedStack

#: The Redis database of the demo's state (emptied at each run) and the key that marks it so.
DEMO_DB: Final = 14
DEMO_MARK: Final = "verdict:demo"


@dataclass(frozen=True)
class DemoOptions:
    """Size and place of a demo run."""

    out_dir: Path = Path("verdict-demo")
    customers: int = 3000
    terminals: int = 6000
    days: int = 7
    #: The week's first day: 23-29 April holds the salary days (25th-28th), so salary offers show.
    start: date = date(2018, 4, 23)
    seed: int = 7
    label_delay: str = "1d"
    inline_requests: int = 500
    keep_running: bool = False
    timeout_s: float = 240.0


@dataclass
class DemoReport:
    """What the demo did."""

    simulation: SimulationSummary
    replay: ReplaySummary
    outputs: Outputs
    inline_ms: list[float]
    quality: dict[str, float]
    seconds: float
    api_url: str
    truth: Scored = field(default_factory=lambda: Scored([], [], []))
    plots: list[str] = field(default_factory=list)

    def percentile(self, values: list[float], q: float) -> float:
        """The q-th percentile (0-100) of ``values``, nan when empty."""
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        out = self.outputs
        stream_ms = [d.get("latency_ms", 0.0) for d in out.decisions.values()]
        return {
            "seconds": round(self.seconds, 1),
            "transactions": self.simulation.transactions,
            "fraud_rate": round(self.simulation.fraud_rate, 5),
            "replay": {
                "published": dict(self.replay.published),
                "events_per_s": round(self.replay.rate),
                "bad_lines": len(self.replay.bad_lines),
            },
            "stream": {
                "decisions": len(out.decisions),
                "decided_per_s": round(out.decided_per_s),
                "engine_latency_ms": {
                    "p50": round(self.percentile(stream_ms, 50), 3),
                    "p99": round(self.percentile(stream_ms, 99), 3),
                },
                "outcomes": dict(out.outcomes),
                "alerts": dict(Counter(a["severity"] for a in out.alerts)),
                "triggers": dict(Counter(t["code"] for t in out.triggers)),
                "dead_letters": len(out.dead_letters),
            },
            "inline": {
                "requests": len(self.inline_ms),
                "client_latency_ms": {
                    q: round(self.percentile(self.inline_ms, p), 3)
                    for q, p in (("p50", 50), ("p99", 99), ("max", 100))
                },
            },
            "quality": {k: round(v, 4) for k, v in self.quality.items()},
            "plots": self.plots if plots.available() else plots.SKIPPED,
        }


def claim_demo_database(
    redis_settings: RedisSettings, run_id: str, db: int = DEMO_DB
) -> RedisSettings:
    """Redis database ``db`` (:data:`DEMO_DB`), emptied: each demo starts from empty state.

    The simulated week has the same transaction ids every time, so state left by an earlier
    demo made every transaction a repeat and every label old news (the fraud model never
    learnt). A database that holds anything but an earlier demo's state is left alone.
    """
    claimed = redis_settings.model_copy(update={"url": url_with_db(redis_settings.url, db)})
    client = client_from_settings(claimed)
    try:
        if client.dbsize() and not client.exists(DEMO_MARK):
            raise StackError(
                f"Redis database {db} ({claimed.url}) holds data that is not the demo's; "
                "the demo empties its database: empty it, or point VERDICT_REDIS__URL at "
                "another Redis"
            )
        client.flushdb()
        client.set(DEMO_MARK, run_id)
    finally:
        client.close()
    return claimed


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


def run_demo(settings: Settings, options: DemoOptions, console: Console) -> DemoReport:
    """Run the demo end to end and print its summary; stop what it started."""
    started = time.perf_counter()
    stack = EmbeddedStack(settings)
    console.rule("[bold]Verdict demo")
    console.print("[bold]1/5 stack[/bold]: the embedded broker and Redis")
    stack_status = stack.up()
    console.print(stack_status.render())
    try:
        data_dir = options.out_dir / "data"
        console.print(
            f"[bold]2/5 simulate[/bold]: {options.customers:,} customers, {options.days} days, "
            f"every scenario, labels {options.label_delay} later"
        )
        from replay.simulator import parse_duration

        config = SimulationConfig(
            customers=options.customers,
            terminals=options.terminals,
            days=options.days,
            start=options.start,
            seed=options.seed,
            scenarios=parse_scenarios("all"),
            label_delay_s=parse_duration(options.label_delay),
        )
        simulation = simulate(config, data_dir, progress=True)
        console.print(
            f"    {simulation.transactions:,} transactions, {simulation.frauds:,} fraud "
            f"({simulation.fraud_rate:.2%}) in {simulation.seconds:.1f} s -> {data_dir}/"
        )
        report = event_loop.run(
            _run_engine(settings, options, simulation, data_dir, console),
            settings.stream.event_loop,
        )
    finally:
        if not options.keep_running:  # stop what this demo started, nothing else
            if "redis" in stack_status.started:
                console.print(f"    {stack.redis.stop()}")
            if "broker" in stack_status.started:
                console.print(f"    {stack.broker.stop()}")
    report.plots = draw(report.outputs, report.inline_ms, report.truth, options.out_dir)
    report.seconds = time.perf_counter() - started
    write_report(report.to_dict(), report.outputs, options.out_dir)
    print_summary(report.to_dict(), report.outputs, options.out_dir, console)
    return report


async def _run_engine(
    settings: Settings,
    options: DemoOptions,
    simulation: SimulationSummary,
    data_dir: Path,
    console: Console,
) -> DemoReport:
    port = _free_port(settings.api.port)
    run_id = f"verdict-demo-{int(time.time())}"
    worker_settings = settings.model_copy(
        update={
            "redis": claim_demo_database(settings.redis, run_id),
            "stream": settings.stream.model_copy(
                update={"app_id": run_id, "data_dir": str(options.out_dir / "worker")}
            ),
            # a registry of its own: the models start untrained, not from an earlier demo's
            "models": settings.models.model_copy(update={"registry_prefix": f"{run_id}:model"}),
        }
    )
    console.print(
        f"[bold]3/5 engine[/bold]: stream worker + inline API on 127.0.0.1:{port}; state in "
        f"Redis database {DEMO_DB}, emptied first"
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(worker_settings, port=port, registry=CollectorRegistry(), stop=stop)
    )
    try:
        reader = OutputReader(settings.kafka.bootstrap_servers, settings.kafka.partitions)
        transactions: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        following = asyncio.create_task(reader.follow(transactions, options.timeout_s))
        await asyncio.sleep(5)  # the worker joins its consumer group (~4 s on this broker)
        console.print("[bold]4/5 stream[/bold]: replay the week through Kafka at full speed")
        replay = await _replay(settings, data_dir, console)
        transactions.set_result(replay.published.get("transactions", 0))
        with console.status("    waiting for the last decisions..."):
            outputs = await following
        console.print("[bold]5/5 inline[/bold]: requests to POST /v1/decisions")
        inline_ms = await _inline(f"http://127.0.0.1:{port}", options.inline_requests)
    finally:
        stop.set()
        await worker
    truth = scored(outputs, data_dir / "labels.jsonl")
    return DemoReport(
        simulation,
        replay,
        outputs,
        inline_ms,
        _quality(truth),
        0.0,
        f"http://127.0.0.1:{port}",
        truth=truth,
    )


async def _replay(settings: Settings, data_dir: Path, console: Console) -> ReplaySummary:
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

        await publish(
            merge_by_time(streams),
            settings.kafka.bootstrap_servers,
            summary=summary,
            on_progress=advance,
        )
    return summary


async def _inline(url: str, count: int) -> list[float]:
    """Client-side latencies (ms) of ``count`` sequential decision requests."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            body = {
                "tx_id": f"inline-{time.time_ns()}-{i}",
                "ts": time.time(),
                "customer_id": f"c{i % 200:04d}",
                "amount": float(5 + (i * 37) % 400),
                "country": "FR",
                "channel": "ecom",
                "device_id": f"d-inline-{i % 50}",
            }
            started = time.perf_counter()
            async with session.post(f"{url}/v1/decisions", data=orjson.dumps(body)) as response:
                await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _quality(truth: Scored) -> dict[str, float]:
    if not truth.both_classes:
        return {}
    return {
        "fraud_auc": roc_auc(truth.is_fraud, truth.fraud_score),
        "fraud_ap": average_precision(truth.is_fraud, truth.fraud_score),
        "anomaly_auc": roc_auc(truth.is_fraud, truth.anomaly_score),
    }
