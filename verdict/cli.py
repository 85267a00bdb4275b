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
    label_delay: Annotated[str, typer.Option(help="Delay before a label is known: 7d, 12h.")] = "7d",
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
