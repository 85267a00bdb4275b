"""Stream files in, publishable records out: JSONL or CSV, validated, merged by event time.

A file's contract and topic come from its name (``transactions.jsonl`` -> ``transactions``,
``offer_responses.csv`` -> ``offer-responses``); another destination topic can be given, and
then the contract is still the file name's (or the given topic's, when it is an input topic).
Every line is checked against its contract; a bad line becomes a :class:`BadLine` with its line
number, never a silent drop.
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from events import EVENT_TYPES, EventValidationError, FieldProblem, parse_event, to_json
from events.eventtime import parse_event_time

#: Fields of CSV files that hold numbers or booleans (everything else stays text).
_CSV_NUMBERS: Final = frozenset({"amount", "ts", "opened_at"})
_CSV_BOOLEANS: Final = frozenset({"is_fraud", "accepted", "marketing_consent"})


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One event ready to publish: where it goes, its key, its bytes, its event time."""

    ts: float
    topic: str
    key: bytes
    value: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that does not satisfy its contract."""

    path: Path
    line: int
    error: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.error}"


class UnknownTopicError(EventValidationError):
    """A file whose topic cannot be told from its name."""

    code = "unknown_topic"


def topic_of(path: Path) -> str:
    """The input topic a stream file belongs to, from its name.

    >>> topic_of(Path("data/offer_responses.jsonl")), topic_of(Path("transactions.csv"))
    ('offer-responses', 'transactions')
    """
    stem = path.name.split(".")[0].replace("_", "-")
    if stem not in EVENT_TYPES:
        raise UnknownTopicError(
            [FieldProblem("file", f"{path.name}: name it after a topic: {', '.join(EVENT_TYPES)}")]
        )
    return stem


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            record: dict[str, Any] = {}
            try:
                for name, text in row.items():
                    if text in ("", None) or name is None:
                        continue
                    if name.startswith("attributes."):
                        record.setdefault("attributes", {})[name[11:]] = float(text)
                    elif name in _CSV_NUMBERS and _is_number(text):
                        record[name] = float(text)
                    elif name in _CSV_BOOLEANS:
                        record[name] = {"true": True, "false": False}.get(text.lower(), text)
                    else:
                        record[name] = text
            except ValueError as error:
                yield number, f"attributes: {error}"
                continue
            yield number, record


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, text in enumerate(handle, start=1):
            line = text.strip()
            if line:
                yield number, line


def read_records(
    path: Path,
    topic: str | None = None,
    *,
    validate: bool = True,
    on_bad: Callable[[BadLine], None],
) -> Iterator[StreamRecord]:
    """Yield the records of one file in file order; bad lines go to ``on_bad``.

    With ``validate=False`` (JSONL only) lines are published as they are, even when invalid:
    for testing what the engine does with bad input. They still need a key and a time, taken
    leniently (missing -> empty key, time 0).
    """
    kind = topic if topic in EVENT_TYPES else topic_of(path)
    topic = topic or kind
    record_type = EVENT_TYPES[kind]
    rows: Iterable[tuple[int, bytes | dict[str, Any] | str]]
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_lines(path)
    for number, row in rows:
        if isinstance(row, str):
            on_bad(BadLine(path, number, row))
            continue
        origin = f"{path.name}:{number}"
        if not validate and isinstance(row, bytes):
            yield _lenient(row, topic, origin)
            continue
        try:
            event = parse_event(record_type, row)
        except EventValidationError as error:
            on_bad(BadLine(path, number, str(error)))
            continue
        key = str(getattr(event, "customer_id", None) or getattr(event, "tx_id", ""))
        value = row if isinstance(row, bytes) else to_json(event)
        yield StreamRecord(getattr(event, "ts", None) or 0.0, topic, key.encode(), value, origin)


def _lenient(line: bytes, topic: str, origin: str) -> StreamRecord:
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return StreamRecord(0.0, topic, b"", line, origin)
    key = str(body.get("customer_id") or body.get("tx_id") or "")
    try:
        ts = parse_event_time(body.get("ts"))
    except ValueError:
        ts = 0.0
    return StreamRecord(ts, topic, key.encode(), line, origin)


def merge_by_time(streams: Iterable[Iterator[StreamRecord]]) -> Iterator[StreamRecord]:
    """Merge files, each in event-time order, into one stream in event-time order.

    Ties keep the order of the files given; a file that is itself out of order is published in
    its own order (the merge never reorders lines within a file).
    """
    return heapq.merge(*streams, key=lambda record: record.ts)
