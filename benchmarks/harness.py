"""What every benchmark shares: its context, its result, the machine it ran on, the report.

A benchmark is a module in ``benchmarks/`` with a function ``run(ctx: BenchContext) ->
BenchResult``; :data:`BENCHMARKS` names them. ``verdict bench [NAME]`` runs them and writes
``benchmarks/results/<name>.json`` and ``<name>.md``. Results carry a baseline measured in the
same run wherever one exists, so a number is always read against something.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from verdict.settings import Settings

#: Benchmark name -> module under ``benchmarks`` that defines ``run``.
BENCHMARKS: Final[dict[str, str]] = {
    "chaos": "benchmarks.chaos",
    "decisions": "benchmarks.decisions",
    "events": "benchmarks.events_parse",
    "inline": "benchmarks.inline",
    "hst": "benchmarks.models_hst",
    "models": "benchmarks.models",
    "propensity": "benchmarks.models_propensity",
    "replay": "benchmarks.replay",
    "state": "benchmarks.state",
    "stream": "benchmarks.stream",
}

RESULTS_DIR: Final = Path(__file__).parent / "results"


@dataclass(frozen=True)
class BenchContext:
    """What a benchmark may use: settings (Redis, Kafka URLs), size, and where to write."""

    settings: Settings
    quick: bool = False
    out_dir: Path = RESULTS_DIR


@dataclass
class BenchResult:
    """One benchmark's numbers.

    ``metrics`` and ``baseline`` map a name that carries its unit (``parse_us_per_event``) to a
    value; ``goals`` maps a metric name to the goal it is held against (``"<= 10"``).
    """

    name: str
    metrics: dict[str, float]
    baseline: dict[str, float] = field(default_factory=dict)
    goals: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    report: str = ""
    seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)


def machine_info() -> dict[str, Any]:
    """The machine a result was measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def reference_ms() -> float:
    """Milliseconds of a fixed pure-Python workload (the best of five): how fast this shared
    machine runs Python at the moment, so that runs on different days can be compared."""
    best = math.inf
    for _ in range(5):
        started = time.perf_counter()
        table: dict[int, int] = {}
        for i in range(200_000):
            table[i & 1023] = table.get(i & 1023, 0) + i
        best = min(best, time.perf_counter() - started)
    return best * 1000.0


def cpu_ticks() -> tuple[int, int]:
    """All CPU ticks of the machine so far and the stolen ones (by the hypervisor), from
    ``/proc/stat`` (zeros where it cannot be read)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0, 0
    ticks = [int(f) for f in fields[:8]]
    return sum(ticks), ticks[7] if len(ticks) > 7 else 0


def _goal_met(value: float, goal: str) -> str:
    operator, _, threshold = goal.partition(" ")
    limit = float(threshold)
    met = value <= limit if operator == "<=" else value >= limit
    return "met" if met else "**missed**"


def _speed(machine: Mapping[str, Any]) -> str:
    if "reference_ms_before" not in machine:
        return ""
    return (
        f" Pure-Python reference workload {machine['reference_ms_before']:.1f} ms before, "
        f"{machine['reference_ms_after']:.1f} ms after (lower is faster; "
        "`benchmarks.harness.reference_ms`); CPU stolen by the hypervisor: "
        f"{machine['steal_percent']:.1f}% of the run."
    )


def render_markdown(result: BenchResult) -> str:
    """A short report: machine, metrics with baselines and goals, notes, details."""
    machine = result.machine
    lines = [
        f"# Benchmark `{result.name}`",
        "",
        f"Measured {machine.get('measured_at', '?')} on {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores, {machine.get('memory_gib', '?')} GiB, "
        f"Python {machine.get('python', '?')}; the run took {result.seconds:.1f} s."
        + _speed(machine),
        "",
        "| metric | value | goal | |",
        "|---|---:|---|---|",
    ]
    for name, value in result.metrics.items():
        goal = result.goals.get(name, "")
        verdict = _goal_met(value, goal) if goal else ""
        lines.append(f"| `{name}` | {value:,.4g} | {goal} | {verdict} |")
    if result.baseline:
        lines += [
            "",
            "Baselines measured in the same run:",
            "",
            "| baseline | value |",
            "|---|---:|",
        ]
        lines += [f"| `{name}` | {value:,.4g} |" for name, value in result.baseline.items()]
    if result.notes:
        lines += ["", *[f"- {note}" for note in result.notes]]
    if result.report:
        lines += ["", result.report.strip()]
    return "\n".join(lines) + "\n"


def run_benchmark(name: str, ctx: BenchContext) -> BenchResult:
    """Run one benchmark by name and write its JSON and markdown report."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    run: Callable[[BenchContext], BenchResult] = module.run
    before_ms, (ticks, stolen) = reference_ms(), cpu_ticks()
    started = time.perf_counter()
    result = run(ctx)
    result.seconds = time.perf_counter() - started
    after_ticks, after_stolen = cpu_ticks()
    result.machine = machine_info() | {
        "reference_ms_before": before_ms,
        "reference_ms_after": reference_ms(),
        "steal_percent": 100.0 * (after_stolen - stolen) / max(after_ticks - ticks, 1),
    }
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = ctx.out_dir / f"{name}.json"
    json_path.write_bytes(orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2))
    (ctx.out_dir / f"{name}.md").write_text(render_markdown(result))
    return result
