"""``verdict backtest``'s run: the engine built as ``verdict serve`` builds it, driven through
the stream files, in one process or with the features in a second one
(:mod:`replay.pipeline`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from prometheus_client import CollectorRegistry

from decisions.feedback import EngineFeedback
from decisions.lists import InMemoryListStore
from decisions.policy_file import PolicyHolder
from events.metrics import Metrics
from replay.backtest import (
    DEFAULT_BATCH_SIZE,
    Analysts,
    Backtest,
    BacktestFiles,
    BacktestSummary,
    Shadow,
)
from replay.pipeline import Pipeline, StageJob
from replay.quality import Ledger, Truth
from replay.replayed import ReplayedFeatures
from replay.sources import BadLine
from verdict.settings import Settings
from verdict.wiring import build_engine


@dataclass(frozen=True)
class BacktestOptions:
    """What to backtest, and how (the command's options)."""

    files: BacktestFiles
    state: Literal["redis", "memory"]
    span_s: float
    strict: bool = False
    feedback: int = 0
    shadow: Path | None = None
    processes: Literal[1, 2] = 1


def run_backtest(
    settings: Settings,
    options: BacktestOptions,
    ledger: Ledger,
    truth: Truth | None,
    out: BinaryIO,
    *,
    on_bad: Callable[[BadLine], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> BacktestSummary:
    """Decide every transaction of the files into ``out``, one decision line each.

    With two processes the feature stage starts first, so that it loads while this process
    builds its engine; it cannot run beside simulated analysts (``feedback``).
    """
    if options.processes == 2 and options.feedback:
        raise ValueError("simulated analysts need one process: their verdicts change features")
    stage: Pipeline | None = None
    replayed: ReplayedFeatures | None = None
    if options.processes == 2:
        replayed = ReplayedFeatures()
        job = StageJob(settings, options.state, options.files, options.span_s, DEFAULT_BATCH_SIZE)
        stage = Pipeline(job, replayed)
    # The block and allow lists live in the process, also on Redis: a backtest starts from an
    # empty database and nothing edits them meanwhile, so they answer as Redis would, without
    # the round trip per batch that cost the deciding process a quarter of its time on Redis
    # (waiting behind the feature stage's scripts; 10 simulated days, 2026-12-05).
    lists = InMemoryListStore()
    try:
        parts = build_engine(  # metrics on a registry of their own: nothing is served
            settings, Metrics(CollectorRegistry()), state=options.state, features=replayed,
            lists=lists,
        )  # fmt: skip
        parts.model_publisher = None  # the backtest's models are its own: nothing published
        shadow = options.shadow
        run = Backtest(  # a feedback without the registry's publisher: the models are its own
            parts.engine, EngineFeedback(parts.engine, parts.feedback.labels, parts.offers),
            replayed or parts.store, ledger,
            analysts=Analysts(options.feedback, truth) if options.feedback and truth else None,
            shadow=Shadow(PolicyHolder.from_file(shadow, interval_s=0), lists) if shadow else None,
            span_s=options.span_s,
            default_currency=settings.events.default_currency, strict=options.strict,
            on_bad=on_bad, on_progress=on_progress,
        )  # fmt: skip
        if stage is not None:
            return run.run_steps(stage.steps(), out)
        return run.run(options.files, out)
    finally:
        if stage is not None:
            stage.close()
