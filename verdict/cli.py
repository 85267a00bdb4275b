"""The ``verdict`` command line: the front door of the engine.

Every command builds one :class:`~verdict.settings.Settings` from the environment and passes
sections down. A :class:`~events.errors.VerdictError` ends the command with its message and exit
status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import pydantic
import typer
from rich.console import Console

from events.errors import VerdictError
from verdict.settings import Settings

app = typer.Typer(
    name="verdict",
    help="Verdict: real-time decisions on payments, with online-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(help="The embedded broker and Redis of one machine.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
console = Console(stderr=True)


@stack_app.command("up")
def stack_up() -> None:
    """Start the embedded broker (and Redis when none is reachable); a no-op when running."""
    from verdict.stack import EmbeddedStack

    status = EmbeddedStack(Settings()).up()
    console.print(status.render())


@stack_app.command("down")
def stack_down() -> None:
    """Stop everything ``stack up`` started."""
    from verdict.stack import EmbeddedStack

    for line in EmbeddedStack(Settings()).down():
        console.print(line)


@stack_app.command("status")
def stack_status() -> None:
    """Say what runs, where, and since when."""
    from verdict.stack import EmbeddedStack

    console.print(EmbeddedStack(Settings()).status().render())


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Option(help="Folder to write the JSONL files into.")] = None,
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 5000,
    terminals: Annotated[int, typer.Option(min=1, help="Number of terminals.")] = 10000,
    days: Annotated[int, typer.Option(min=1, help="Days of transactions.")] = 183,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (same seed, same files).")] = 0,
    start: Annotated[str, typer.Option(help="First day (UTC), YYYY-MM-DD.")] = "2018-04-01",
    label_delay: Annotated[
        str, typer.Option(help="Delay before a label is known: 7d, 12h, 30m, 45s.")
    ] = "7d",
    scenarios: Annotated[
        str, typer.Option(help="handbook | all | NAME,NAME... (see --list-scenarios)")
    ] = "handbook",
    rate: Annotated[
        list[str] | None,
        typer.Option(help="A scenario's rate, NAME=VALUE (repeatable; see --list-scenarios)."),
    ] = None,
    fraud_labels_only: Annotated[
        bool, typer.Option("--fraud-labels-only", help="Label fraud only, like a chargeback feed.")
    ] = False,
    list_scenarios: Annotated[
        bool,
        typer.Option("--list-scenarios", help="List the scenarios and their rates, then stop."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Write simulated bank transactions, customers and delayed labels (JSONL)."""
    from datetime import date

    from rich.table import Table

    from replay.simulator import (
        HANDBOOK,
        SCENARIOS,
        SimulationConfig,
        SimulationConfigError,
        parse_duration,
        parse_rates,
        parse_scenarios,
    )
    from replay.simulator import simulate as run_simulation

    if list_scenarios:
        table = Table("scenario", "rate", "rate means", "fraud", "what it does")
        for item in SCENARIOS:
            name = f"{item.name} (handbook)" if item.name in HANDBOOK else item.name
            fraud = "yes" if item.fraud else ""
            table.add_row(name, f"{item.rate:g}", item.unit, fraud, item.description)
        Console().print(table)
        return
    if out is None:
        raise typer.BadParameter("is required (the folder to write into)", param_hint="--out")
    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        raise SimulationConfigError(f"--start {start!r} is not a date (YYYY-MM-DD)") from None
    config = SimulationConfig(
        customers=customers,
        terminals=terminals,
        days=days,
        seed=seed,
        start=first_day,
        label_delay_s=parse_duration(label_delay),
        scenarios=parse_scenarios(scenarios),
        rates=parse_rates(rate or []),
        fraud_labels_only=fraud_labels_only,
    )
    summary = run_simulation(config, out, progress=progress)
    table = Table("scenario", "transactions", "fraud", title=f"verdict simulate -> {out}")
    for name, count in summary.scenarios.items():
        made = f"{count.customers:,} customers" if count.customers else f"{count.transactions:,}"
        table.add_row(name, made, f"{count.frauds:,}")
    console.print(table)
    console.print(
        f"{summary.transactions:,} transactions, {summary.frauds:,} fraud "
        f"({summary.fraud_rate:.3%}), {summary.labels:,} labels, {summary.customers:,} customers "
        f"in {summary.seconds:.1f} s"
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the report and data.")] = Path(
        "verdict-demo"
    ),
    customers: Annotated[int, typer.Option(min=10, help="Simulated customers.")] = 3000,
    days: Annotated[int, typer.Option(min=1, help="Simulated days.")] = 7,
    keep_running: Annotated[
        bool, typer.Option(help="Leave the embedded stack running afterwards.")
    ] = False,
) -> None:
    """The main job on the embedded default: stack up, simulate, stream, report."""
    from verdict.demo import DemoOptions, run_demo

    options = DemoOptions(
        out_dir=out,
        customers=customers,
        terminals=customers * 2,
        days=days,
        keep_running=keep_running,
    )
    report = run_demo(Settings(), options, Console())
    if len(report.outputs.decisions) < report.simulation.transactions:
        raise typer.Exit(1)


@app.command()
def serve(
    port: Annotated[
        int | None, typer.Option(help="Port of the API and /metrics (default: api.port).")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes in one consumer group.")
    ] = 1,
) -> None:
    """Stream workers, the inline API and /metrics, in one process (or N)."""
    from verdict.serve import serve as run

    raise typer.Exit(run(Settings(), port=port, workers=workers))


@app.command()
def replay(
    files: Annotated[
        list[Path],
        typer.Argument(help="JSONL or CSV files, named by topic.", exists=True, dir_okay=False),
    ],
    speed: Annotated[
        str, typer.Option(help="max, or a factor of the recorded pace (10 = ten times faster).")
    ] = "max",
    strict: Annotated[bool, typer.Option(help="Stop at the first bad line.")] = False,
    topic: Annotated[
        str | None, typer.Option(help="Publish every file to this topic (else from the name).")
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="Check every line against its contract (--no-validate: as is).")
    ] = True,
) -> None:
    """Publish stream files to Kafka, merged by event time, keyed by customer_id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from replay.producer import replay_files

    settings = Settings()
    pace = None if speed == "max" else _positive_float(speed, "--speed")
    with Progress(
        TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:,.0f} events/s"), console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("replay", total=None, rate=0.0)

        def advance(count: int) -> None:
            bar.advance(task, count)
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(task, rate=bar.tasks[0].completed / elapsed if elapsed else 0.0)

        summary = replay_files(
            files, settings.kafka.bootstrap_servers, speed=pace, strict=strict,
            validate=validate, topic=topic, on_progress=advance,
            on_bad=lambda line: console.print(f"[yellow]skipped[/yellow] {line}"),
        )  # fmt: skip
    for name, count in sorted(summary.published.items()):
        console.print(f"{name:>16}: {count:,} published")
    console.print(
        f"{summary.total:,} events in {summary.seconds:.1f} s ({summary.rate:,.0f}/s); "
        f"{len(summary.bad_lines):,} bad lines skipped"
    )


@app.command()
def bench(
    name: Annotated[str | None, typer.Argument(help="One benchmark; all when omitted.")] = None,
    quick: Annotated[bool, typer.Option(help="Smaller sizes, for a smoke run.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the results (default: benchmarks/results, the report)."),
    ] = None,
) -> None:
    """Run benchmarks; write <out>/<name>.json and .md (benchmarks/results by default)."""
    from benchmarks import harness

    known = harness.BENCHMARKS
    names = [name] if name else list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        console.print(f"[red]unknown benchmark {unknown[0]!r}[/red]; known: {', '.join(known)}")
        raise typer.Exit(2)
    context = harness.BenchContext(Settings(), quick=quick, out_dir=out or harness.RESULTS_DIR)
    for bench_name in names:
        console.print(f"[bold]bench {bench_name}[/bold] ...")
        result = harness.run_benchmark(bench_name, context)
        Console().print(harness.render_markdown(result), markup=False)


@app.command()
def backtest(
    file: Annotated[
        Path,
        typer.Argument(help="Transactions (JSONL or CSV), by time.", exists=True, dir_okay=False),
    ],
    out: Annotated[Path, typer.Option(help="Where to write one decision per transaction (JSONL).")],
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels, merged by their ts; their is_fraud is the truth.", exists=True),
    ] = None,
    customers: Annotated[
        Path | None, typer.Option(help="Customer profiles (JSONL or CSV).", exists=True)
    ] = None,
    state: Annotated[str, typer.Option(help="redis (serve's feature store) or memory.")] = "redis",
    feedback: Annotated[
        int, typer.Option(min=0, help="Analysts: K alerts a day labelled an hour later (0: none).")
    ] = 0,
    shadow: Annotated[
        Path | None, typer.Option(help="A second policy file, to compare outcomes.", exists=True)
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the numbers as JSON.")] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Cards a day for card precision@k.")] = 100,
    skip_days: Annotated[int, typer.Option(min=0, help="Warm-up days left out of quality.")] = 0,
    span: Annotated[  # the default is replay.backtest.DEFAULT_SPAN_S (imported late)
        float, typer.Option(min=0.0, help="Seconds of event time a batch spans (0: exact).")
    ] = 300.0,
    flush: Annotated[bool, typer.Option("--flush", help="Empty the Redis database first.")] = False,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad line.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    processes: Annotated[
        int,
        typer.Option(
            min=0,
            max=2,
            help="2: keep the features in a second process, beside the decisions (not with "
            "--feedback); 1: one process; 0: 2 on a machine of two cores or more.",
        ),
    ] = 0,
) -> None:
    """Decide a recorded stream in-process on event time; print the quality against the labels."""
    import time
    from dataclasses import asdict

    import orjson
    import redis
    from rich.progress import MofNCompleteColumn, Progress, TextColumn

    from replay.backtest import BacktestFiles
    from replay.quality import Ledger, Truth, quality, report_lines
    from state.redis_wire import client_from_settings
    from verdict.backtesting import BacktestOptions, run_backtest

    began = time.perf_counter()
    if state not in ("redis", "memory"):
        raise typer.BadParameter(f"must be redis or memory, not {state!r}", param_hint="--state")
    if feedback and labels is None:
        raise typer.BadParameter("needs --labels (the analysts' truth)", param_hint="--feedback")
    if feedback and processes == 2:
        raise typer.BadParameter("the analysts need one process", param_hint="--processes 2")
    two = processes == 2 or (processes == 0 and not feedback and (os.cpu_count() or 1) >= 2)
    settings = Settings()
    if state == "redis":  # checked before the engine is built: it would resume a stored model
        try:
            client = client_from_settings(settings.redis)
            if flush:
                client.flushdb(asynchronous=True)
            held = client.dbsize()
        except (redis.RedisError, OSError) as error:
            raise typer.BadParameter(f"Redis: {error}", param_hint="--state redis") from None
        if held:
            raise typer.BadParameter(
                f"the Redis database {settings.redis.url} holds data and a backtest starts "
                "from empty state: set VERDICT_REDIS__URL to another database, or --flush",
                param_hint="--state redis",
            )
    files = BacktestFiles(file, labels, customers)
    truth = Truth.from_labels(labels) if labels is not None else None
    ledger = Ledger(truth)
    options = BacktestOptions(
        files, "memory" if state == "memory" else "redis", span, strict, feedback, shadow,
        processes=2 if two else 1,
    )  # fmt: skip
    with out.open("wb") as handle, Progress(
        TextColumn("backtest"), MofNCompleteColumn(), TextColumn("{task.fields[rate]:,.0f} tx/s"),
        console=console, transient=True, disable=not progress,
    ) as bar:  # fmt: skip
        task = bar.add_task("backtest", total=None, rate=0.0)
        summary = run_backtest(
            settings, options, ledger, truth, handle,
            on_bad=lambda line: console.print(f"[yellow]skipped[/yellow] {line}"),
            on_progress=lambda n: bar.update(
                task, completed=n, rate=n / (bar.tasks[0].elapsed or 1.0)
            ),
        )  # fmt: skip
    numbers = quality(ledger, k=top_k, skip_days=skip_days)
    console.print(
        f"{summary.decisions:,} decisions -> {out}: {summary.seconds:.1f} s deciding "
        f"({summary.rate:,.0f} tx/s, --state {state} --span {span:g}, "
        f"{2 if two else 1} process{'es' if two else ''}), "
        f"{time.perf_counter() - began:.1f} s in all; {summary.labels:,} labels, "
        f"{summary.customers:,} profiles, {summary.bad_lines:,} bad lines skipped"
    )
    if feedback:
        console.print(
            f"analysts: {summary.analyst_labels:,} alerts investigated, "
            f"{summary.analyst_frauds:,} of them fraud"
        )
    typer.echo("\n".join(report_lines(numbers, with_truth=bool(truth and truth.frauds))))
    if report is not None:
        run_info = {**asdict(summary), "rate": summary.rate, "state": state, "span_s": span,
                    "feedback": feedback, "processes": 2 if two else 1}  # fmt: skip
        body = {"run": {**run_info, "shadow": shadow and str(shadow)}, "quality": numbers.to_dict()}
        report.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))


def _positive_float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise typer.BadParameter(
            f"must be 'max' or a positive number, not {text!r}", param_hint=option
        )
    return value


def main() -> None:
    """Console-script entry point: run the app, turning our errors into clear messages."""
    try:
        app()
    except VerdictError as error:
        console.print(f"[red]error:[/red] {error}")
        sys.exit(2)
    except pydantic.ValidationError as error:  # settings from the environment
        console.print(f"[red]error in the settings:[/red] {error}")
        sys.exit(2)


if __name__ == "__main__":
    main()
