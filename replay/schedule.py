"""What a backtest does, in order: the steps of a recorded stream on event time.

:func:`read_streams` parses the stream files (each in event-time order) and :func:`schedule`
merges them by ``ts`` into steps: decide a batch of transactions, learn a group of labels,
take a profile, let the simulated analysts give the verdicts due. Whoever runs the steps
(:class:`~replay.backtest.Backtest`, alone or fed by the feature stage of
:mod:`replay.pipeline`) applies each before the next is made: the schedule reads the analysts'
next due time lazily, after the decisions before it were reviewed.

See :mod:`replay.backtest` for the rules: how a batch closes (``span_s``, ``batch_size``), and
that what becomes known while a batch is open is applied when it closes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Final

from events.errors import EventValidationError
from events.parsing import parse_event
from events.records import CustomerProfile, Event, Label, Transaction
from replay.analysts import Analysts
from replay.sources import BadLine, read_records

TRANSACTIONS: Final = "transactions"
LABELS: Final = "labels"
CUSTOMERS: Final = "customers"

#: One event of a stream file: its event time, its topic and the parsed event.
Item = tuple[float, str, Event]
_ts = itemgetter(0)


@dataclass(frozen=True)
class BacktestFiles:
    """The stream files of one backtest (JSONL or CSV, each in event-time order)."""

    transactions: Path
    labels: Path | None = None
    customers: Path | None = None


@dataclass(frozen=True, slots=True)
class Decide:
    """Decide these transactions in one batch."""

    batch: list[Transaction]


@dataclass(frozen=True, slots=True)
class Learn:
    """These labels became known, one after the other, nothing decided in between."""

    labels: list[Label]


@dataclass(frozen=True, slots=True)
class Profile:
    """A customer profile became known."""

    profile: CustomerProfile


@dataclass(frozen=True, slots=True)
class Review:
    """The analysts give the verdicts due before ``until``."""

    until: float


@dataclass(frozen=True, slots=True)
class Skip:
    """A bad line was read (a feature stage in another process reports it this way)."""

    bad: BadLine


Step = Decide | Learn | Profile | Review | Skip


def events_in(step: Step) -> int:
    """Transactions or labels a step handles (one for the others)."""
    if isinstance(step, Decide):
        return len(step.batch)
    return len(step.labels) if isinstance(step, Learn) else 1


def schedule(
    items: Iterator[Item],
    *,
    span_s: float,
    batch_size: int,
    analysts: Analysts | None = None,
) -> Iterator[Step]:
    """The steps of the merged ``items``; apply each before asking for the next."""
    exact = span_s <= 0
    batch: list[Transaction] = []
    pending: list[Item] = []  # labels and profiles known while the batch is open
    limit = math.inf  # the open batch takes events up to this event time
    for item in items:
        ts, topic, event = item
        if batch and (ts > limit or (len(batch) >= batch_size if topic == TRANSACTIONS else exact)):
            yield from _close(batch, pending, analysts, until=ts)
            batch = []
        if analysts is not None and not batch and analysts.next_due < ts:
            yield from _known(pending)
            yield Review(ts)
        if topic == TRANSACTIONS:
            if not batch:
                yield from _known(pending)  # what became known before it
                limit = ts + span_s if not exact else math.inf
                if analysts is not None:  # its verdicts on this batch, or earlier ones
                    limit = min(limit, ts + analysts.delay_s, analysts.next_due)
            batch.append(event)  # type: ignore[arg-type]
        else:  # applied before the next decision, in order (consecutive labels as one)
            pending.append(item)
    yield from _close(batch, pending, analysts, until=math.inf)


def _close(
    batch: list[Transaction], pending: list[Item], analysts: Analysts | None, until: float
) -> Iterator[Step]:
    """Decide the open batch, then what became known meanwhile, then the verdicts due."""
    if batch:
        yield Decide(batch)
    yield from _known(pending)
    if analysts is not None:
        yield Review(until)


def _known(pending: list[Item]) -> Iterator[Step]:
    """The labels and profiles of ``pending`` in order, consecutive labels as one group (the
    fraud model learns them in one pass); ``pending`` is emptied."""
    labels: list[Label] = []
    for _, topic, event in pending:
        if topic == LABELS:
            labels.append(event)  # type: ignore[arg-type]
            continue
        if labels:
            yield Learn(labels)
            labels = []
        yield Profile(event)  # type: ignore[arg-type]
    if labels:
        yield Learn(labels)
    pending.clear()


def read_streams(
    files: BacktestFiles,
    default_currency: str,
    on_bad: Callable[[BadLine], None],
) -> Iterator[Item]:
    """The events of ``files`` merged by event time, each parsed once; bad lines go to
    ``on_bad`` (which may raise to stop) and are skipped."""
    streams: list[Iterator[Item]] = []
    if files.customers is not None:  # all profiles, by time (a file of them is small)
        profiles = _read(files.customers, CUSTOMERS, CustomerProfile, default_currency, on_bad)
        streams.append(iter(sorted(profiles, key=_ts)))
    streams.append(_read(files.transactions, TRANSACTIONS, Transaction, default_currency, on_bad))
    if files.labels is not None:
        streams.append(_read(files.labels, LABELS, Label, default_currency, on_bad))
    return heapq.merge(*streams, key=_ts)


def _read(
    path: Path,
    topic: str,
    record_type: type[Event],
    currency: str,
    on_bad: Callable[[BadLine], None],
) -> Iterator[Item]:
    """The events of one file in file order, each parsed once; bad lines are skipped."""
    if path.suffix.lower() == ".csv":  # validated by the reader, as JSON
        for record in read_records(path, topic, on_bad=on_bad):
            event = parse_event(record_type, record.value, default_currency=currency)
            yield getattr(event, "ts", None) or 0.0, topic, event
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                event = parse_event(record_type, line, default_currency=currency)
            except EventValidationError as error:
                if line.strip():
                    on_bad(BadLine(path, number, str(error)))
                continue
            yield getattr(event, "ts", None) or 0.0, topic, event
