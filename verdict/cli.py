"""The ``verdict`` command line: the front door of the engine.

Every command builds one :class:`~verdict.settings.Settings` from the environment and passes
sections down. A :class:`~events.errors.VerdictError` ends the command with its message and exit
status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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
    out: Annotated[Path, typer.Option(help="Folder to write the JSONL files into.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 5000,
    terminals: Annotated[int, typer.Option(min=1, help="Number of terminals.")] = 10000,
    days: Annotated[int, typer.Option(min=1, help="Days of transactions.")] = 183,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    label_delay: Annotated[
        str, typer.Option(help="Delay before a label is known: 7d, 12h.")
    ] = "7d",
    scenarios: Annotated[
        str, typer.Option(help="handbook | all | NAME,NAME... (see --list-scenarios)")
    ] = "handbook",
) -> None:
    """Write simulated bank transactions, customers and delayed labels (JSONL)."""
    raise typer.Exit(_not_yet("simulate"))


@app.command()
def demo() -> None:
    """The main job on the embedded default: stack up, simulate, stream, report."""
    raise typer.Exit(_not_yet("demo"))


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
) -> None:
    """Run benchmarks; write benchmarks/results/<name>.json and .md."""
    from benchmarks.harness import BENCHMARKS, BenchContext, render_markdown, run_benchmark

    names = [name] if name else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        console.print(
            f"[red]unknown benchmark {unknown[0]!r}[/red]; known: {', '.join(BENCHMARKS)}"
        )
        raise typer.Exit(2)
    context = BenchContext(Settings(), quick=quick)
    for bench_name in names:
        console.print(f"[bold]bench {bench_name}[/bold] ...")
        result = run_benchmark(bench_name, context)
        Console().print(render_markdown(result))


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


def _not_yet(command: str) -> int:
    console.print(f"[red]verdict {command}: not built yet[/red]")
    return 2


def main() -> None:
    """Console-script entry point: run the app, turning our errors into clear messages."""
    try:
        app()
    except VerdictError as error:
        console.print(f"[red]error:[/red] {error}")
        sys.exit(2)


if __name__ == "__main__":
    main()
