"""``verdict bench replay``: ``verdict replay --speed max`` and ``verdict backtest`` (issue #8).

In one run, on servers of its own (:mod:`benchmarks.replay_runs`):

1. the stream: ``verdict simulate`` with the handbook's defaults (5,000 customers, 10,000
   terminals, 183 days: ~1.78 M transactions, as many labels); 300 customers and 20 days with
   ``--quick``; cached under ``/tmp/verdict-bench-replay`` by its parameters;
2. baseline: the replay's reading alone: the three files read, validated and merged by event
   time (:mod:`replay.sources`), no broker;
3. baselines: the same bytes, keys and partitions, held in memory, through aiokafka's batch
   API and through its plain ``send`` (the first :data:`RAW_SEND_MAX` only), each to a fresh
   embedded broker on a free port;
4. ``verdict replay --speed max`` of the three files (:func:`replay.producer.replay_files`,
   what the command runs) to a fresh broker: events/s, against the goal and the batch
   baseline;
5. baseline: the backtest's driver with an engine that decides nothing (reading, parsing,
   merging and batching alone), in this process;
6. ``verdict backtest`` as a process of its own, ``--state memory``, then ``--state redis``
   on a private ``redis-server`` (a free port, no persistence): wall seconds, transactions/s,
   peak RSS, the quality it reports. The command's default keeps the features in a second
   process on this 2-core machine (:mod:`replay.pipeline`); baseline: ``--state memory
   --processes 1``, in the same run;
7. a plot (``replay.png``): the replay's events/s and each backtest's transactions/s and
   resident memory over time.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks.harness import BenchContext, BenchResult
from benchmarks.replay_plot import plot
from benchmarks.replay_runs import (
    BacktestRun,
    Stream,
    Timed,
    cached_stream,
    private_broker,
    private_redis,
    raw_send,
    raw_send_batch,
    read_merged,
    redis_memory,
    replay,
    run_backtest,
)
from decisions.engine import DecisionResult
from events.records import CustomerProfile, Label, Transaction
from replay.backtest import DEFAULT_SPAN_S, Backtest
from replay.quality import Ledger

PLOT: Final = "replay.png"
#: Messages of the plain-``send`` baseline (one call each is slow; a rate needs no more).
RAW_SEND_MAX: Final = 300_000
#: customers, terminals, days: the handbook's bank, and a small one for ``--quick``.
FULL: Final = (5000, 10_000, 183)
QUICK: Final = (300, 600, 20)
GOALS: Final = {
    "replay_events_per_s": ">= 50000",
    "backtest_memory_wall_s": "<= 180",
    "backtest_redis_wall_s": "<= 360",
}


class _NoEngine:
    """An engine that decides nothing, a learner and a profile store that keep nothing."""

    def decide_many(
        self, txs: Sequence[Transaction], *, require_features: bool = False
    ) -> list[DecisionResult]:
        return []

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        return None

    def on_label(self, label: Label) -> None:
        return None

    def on_labels(self, labels: Sequence[Label]) -> None:
        return None

    def put_customer(self, profile: CustomerProfile) -> None:
        return None


def driver_alone(stream: Stream) -> Timed:
    """The backtest's driver without decisions: read, parse, merge and batch the files."""
    nothing = _NoEngine()
    with open(os.devnull, "wb") as out:
        summary = Backtest(nothing, nothing, nothing, Ledger(), span_s=DEFAULT_SPAN_S).run(
            stream.files, out
        )
    return Timed(summary.decisions, summary.seconds)


def run(ctx: BenchContext) -> BenchResult:
    """Run the benchmark (see the module docstring)."""
    load: dict[str, tuple[float, float, float]] = {"start": os.getloadavg()}
    stream = cached_stream(*(QUICK if ctx.quick else FULL))
    with tempfile.TemporaryDirectory(prefix="verdict-bench-replay-") as tmp:
        folder = Path(tmp)
        read, raw = read_merged(stream.paths)
        load["raw_send_batch"] = os.getloadavg()
        with private_broker(folder / "broker-batch") as kafka:
            batch = raw_send_batch(raw, kafka)
        with private_broker(folder / "broker-send") as kafka:
            send = raw_send(raw[:RAW_SEND_MAX], kafka)
        del raw
        load["replay"] = os.getloadavg()
        with private_broker(folder / "broker-replay") as kafka:
            replayed, summary = replay(stream.paths, kafka)
        load["driver_alone"] = os.getloadavg()
        driver = driver_alone(stream)
        load["backtest_memory"] = os.getloadavg()
        memory = run_backtest(stream, folder, "memory")
        load["backtest_memory_one_process"] = os.getloadavg()
        alone = run_backtest(stream, folder, "memory", processes=1)
        load["backtest_redis"] = os.getloadavg()
        with private_redis(folder / "redis") as url:
            env = dict(os.environ, VERDICT_REDIS__URL=url)
            on_redis = run_backtest(stream, folder, "redis", env)
            used = redis_memory(url)
        load["end"] = os.getloadavg()
        if summary.bad_lines:
            raise RuntimeError(f"the replay skipped {len(summary.bad_lines)} lines")
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    runs = {"memory": memory, "memory --processes 1": alone, "redis": on_redis}
    plot(replayed, batch.rate, runs, ctx.out_dir / PLOT)
    return _result(stream, read, batch, send, replayed, driver, runs, used, load)


def _quality(run: BacktestRun) -> dict[str, float]:
    numbers = run.report["quality"]
    found = {
        "roc_auc": numbers["roc_auc"],
        "average_precision": numbers["average_precision"],
        f"card_precision_at_{numbers['k']}": numbers["card_precision"],
    }
    return {name: math.nan if value is None else float(value) for name, value in found.items()}


def _backtest_metrics(run: BacktestRun) -> dict[str, float]:
    prefix = f"backtest_{run.state}"
    return {
        f"{prefix}_wall_s": run.wall_s,
        f"{prefix}_tx_per_s": run.decisions / run.wall_s,
        f"{prefix}_deciding_tx_per_s": run.decisions / run.deciding_s,
        f"{prefix}_peak_rss_mib": run.peak_rss_bytes / 2**20,
    } | {f"{prefix}_{name}": value for name, value in _quality(run).items()}


def _result(
    stream: Stream,
    read: Timed,
    batch: Timed,
    send: Timed,
    replayed: Timed,
    driver: Timed,
    runs: dict[str, BacktestRun],
    used: dict[str, float],
    load: dict[str, tuple[float, float, float]],
) -> BenchResult:
    memory, alone, on_redis = runs["memory"], runs["memory --processes 1"], runs["redis"]
    metrics = {
        "replay_events_per_s": replayed.rate,
        "replay_ratio_to_raw_send_batch": replayed.rate / batch.rate,
        "replay_s": replayed.seconds,
        **_backtest_metrics(memory),
        "backtest_memory_speedup_over_one_process": alone.wall_s / memory.wall_s,
        **_backtest_metrics(on_redis),
        "redis_used_memory_peak_mib": used["peak_mib"],
    }
    baseline = {
        "raw_send_batch_events_per_s": batch.rate,
        "raw_send_events_per_s": send.rate,
        "replay_read_validate_merge_events_per_s": read.rate,
        "backtest_driver_alone_tx_per_s": driver.rate,
        "backtest_driver_alone_s": driver.seconds,
        "backtest_memory_one_process_wall_s": alone.wall_s,
        "backtest_memory_one_process_tx_per_s": alone.decisions / alone.wall_s,
        "backtest_memory_one_process_peak_rss_mib": alone.peak_rss_bytes / 2**20,
    }
    return BenchResult(
        name="replay",
        metrics=metrics,
        baseline=baseline,
        goals=dict(GOALS),
        notes=_notes(stream, send, replayed, driver, runs, used, load),
        report=_report(stream, read, batch, replayed, driver, runs)
        + "\n\n"
        + where_the_time_goes(metrics, baseline, memory, alone, on_redis),
    )


def _notes(
    stream: Stream,
    send: Timed,
    replayed: Timed,
    driver: Timed,
    runs: dict[str, BacktestRun],
    used: dict[str, float],
    load: dict[str, tuple[float, float, float]],
) -> list[str]:
    memory, alone, on_redis = runs["memory"], runs["memory --processes 1"], runs["redis"]
    s = stream.summary
    config = s["config"]
    made = (
        f"simulated in {stream.simulate_s:.1f} s"
        if stream.simulate_s
        else f"read from the cache {stream.folder}"
    )
    same = _quality(memory) == _quality(on_redis) == _quality(alone)
    return [
        f"Stream: `verdict simulate` defaults but size: {config['customers']:,} customers, "
        f"{config['terminals']:,} terminals, {config['days']} days, seed {config['seed']}: "
        f"{s['transactions']:,} transactions ({s['frauds']:,} fraud), {s['labels']:,} labels, "
        f"{s['customers']:,} profiles; {made}.",
        f"Replay: the three files, {replayed.events:,} events, merged by event time and "
        "validated, to a fresh embedded broker (Tansu, memory only) with 4 partitions a topic, "
        "acks=1. The raw baselines publish the same bytes, keys and partitions from memory; "
        f"plain `send` only the first {send.events:,}.",
        f"Backtest: `verdict backtest` (span {memory.report['run']['span_s']:g} s of event "
        "time, the default) as a process of its own, on "
        f"{memory.processes} process{'es' if memory.processes > 1 else ''} (the default; the "
        "baseline `--processes 1`); wall seconds from the start of the command to its exit "
        "(Python start-up, reading the labels for the truth and the quality report included); "
        "`*_deciding_tx_per_s` counts the command's own clock; resident memory counts the "
        f"feature stage too. Decisions: {memory.decisions:,} (memory), {alone.decisions:,} "
        f"(memory, one process), {on_redis.decisions:,} (redis); the quality of the three runs "
        f"is {'identical' if same else '**different**'}.",
        f"The driver alone (reading, parsing, merging, batching; no decisions) took "
        f"{driver.seconds:.1f} s of the memory run's {memory.deciding_s:.1f} s of deciding.",
        f"Redis: a private `redis-server` without persistence; {used['keys']:,.0f} keys and "
        f"{used['used_mib']:,.0f} MiB used at the end (peak {used['peak_mib']:,.0f} MiB).",
        "Load average (1, 5, 15 min) before each phase, on this shared 2-core machine: "
        + "; ".join(f"{k} {a:.2f} {b:.2f} {c:.2f}" for k, (a, b, c) in load.items())
        + ".",
    ]


def _report(
    stream: Stream,
    read: Timed,
    batch: Timed,
    replayed: Timed,
    driver: Timed,
    runs: dict[str, BacktestRun],
) -> str:
    rows = [
        "| run | items | seconds | items/s |",
        "|---|---:|---:|---:|",
        _row("replay: read, validate, merge (no broker)", read),
        _row("replay: raw aiokafka `send_batch` of the bytes", batch),
        _row("`verdict replay --speed max`", replayed),
        _row("backtest driver, no decisions", driver),
        *(_row(f"`verdict backtest --state {name}`", Timed(run.decisions, run.wall_s))
          for name, run in runs.items()),
    ]  # fmt: skip
    quality_rows = [
        "| --state | ROC AUC | average precision | card precision@100 | alert rate |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        q: dict[str, Any] = run.report["quality"]
        quality_rows.append(
            f"| {name} | {_fmt(q['roc_auc'])} | {_fmt(q['average_precision'])} | "
            f"{_fmt(q['card_precision'])} | {_fmt(q['outcomes']['alert_rate'])} |"
        )
    return "\n".join(
        [
            "## The runs",
            "",
            *rows,
            "",
            "## Quality the backtests printed",
            "",
            *quality_rows,
            "",
            f"Over {stream.summary['transactions']:,} transactions; cards known compromised "
            "are left out of ROC AUC, average precision and card precision (see "
            "`replay/quality.py`).",
            "",
            f"![replay events/s and backtest transactions/s over time]({PLOT})",
        ]
    )


def _row(name: str, timed: Timed) -> str:
    return f"| {name} | {timed.events:,} | {timed.seconds:,.1f} | {timed.rate:,.0f} |"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def where_the_time_goes(
    metrics: dict[str, float],
    baseline: dict[str, float],
    memory: BacktestRun,
    alone: BacktestRun,
    on_redis: BacktestRun,
) -> str:
    """What the run's own numbers say of the cost of each part, and a profile's breakdown."""
    n = memory.decisions
    driver_s = baseline["backtest_driver_alone_s"]
    read_us = 1e6 / baseline["replay_read_validate_merge_events_per_s"]
    send_us = 1e6 / baseline["raw_send_batch_events_per_s"]
    replay_us = 1e6 / metrics["replay_events_per_s"]
    goal_rate = n / float(GOALS["backtest_memory_wall_s"].split()[1])
    return f"""## Where the time goes

**Replay.** Per event: reading, validating and merging {read_us:.1f} µs, sending the bytes
{send_us:.1f} µs (the raw batch baseline), the replay {replay_us:.1f} µs. What our code costs
over the raw producer is mostly the reading and validating of every line
(`replay/sources.py`, pydantic), not the producer loop.

**Backtest.** In one process the memory run took {alone.wall_s:.1f} s,
{alone.deciding_s / n * 1e6:.0f} µs a transaction with its label; the driver alone (reading,
parsing, merging, batching) {driver_s:.1f} s of it. On {memory.processes} processes it took
{memory.wall_s:.1f} s ({metrics["backtest_memory_speedup_over_one_process"]:.2f}x); Redis
{on_redis.wall_s:.1f} s. The memory goal needs {goal_rate:,.0f} transactions/s in all,
~{1e6 / goal_rate:.0f} µs a transaction with its label.

The stage runs the feature store (and reads, parses and merges the files); the deciding
process the models, the policy and the output. A label is learnt from the features its
decision was taken on, which both processes keep for ten days (`replay/replayed.py`): the
stage sends a mark instead of building and sending the snapshot again. py-spy on the handbook
stream (2026-12-05, at e5302f5, span 60 s, `--state memory`), the stage: the store's update of
each transaction 47% of its time, reading, parsing and merging 12%, the anomaly model 13%,
labels 15%, pickling the steps 7%; the deciding process: deciding 57%, learning from the
labels 28%, unpickling and restoring the steps 13%. The stage was 100% busy and the deciding
process 70-85% (CPU ticks per 10 s from `/proc`), so the anomaly model moved to the deciding
process (155ca52), and a span of 300 s pays the fixed cost of a step (scoring, learning and
shipping a batch) a fifth as often, with the same quality to the last digit. The work per
transaction and per label in the feature store, the policy and the models is what sets the
speed, not the driver.

On Redis the stage waited for replies three quarters of its time while Redis was busy two
thirds of it (30-day simulation, 2026-12-06): one step asked, answered, then the next. It now
sends up to eight steps ahead of the answers it reads, on one connection that Redis runs in
order (`state/redis_steps.py`): the same decisions, 391.7 s -> 324.3 s on the handbook stream
(alternating with the code before), with Redis, the stage and the deciding process at 83%,
48% and 59% of a core on the 30-day simulation: together most of this machine's two cores.
The load average in the notes says how much
other jobs took of the two cores during this run."""
