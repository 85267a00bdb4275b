"""Event times written out: the same text as ``datetime.isoformat`` for every time in range."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.eventtime import MAX_EVENT_TIME, MIN_EVENT_TIME, format_event_time


def by_datetime(seconds: float) -> str:
    """The reference: what ``datetime`` prints (microseconds rounded half to even)."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


@settings(max_examples=2000)
@given(seconds=st.floats(min_value=MIN_EVENT_TIME, max_value=MAX_EVENT_TIME))
def test_any_time_in_range_is_written_as_datetime_writes_it(seconds: float) -> None:
    assert format_event_time(seconds) == by_datetime(seconds)


@settings(max_examples=500)
@given(
    whole=st.integers(min_value=int(MIN_EVENT_TIME), max_value=int(MAX_EVENT_TIME) - 1),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_whole_microseconds_are_kept(whole: int, micros: int) -> None:
    seconds = whole + micros / 1e6
    assert format_event_time(seconds) == by_datetime(seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1772362800.0, "2026-03-01T11:00:00Z"),
        (1772362800.25, "2026-03-01T11:00:00.250000Z"),
        (1772362800.9999996, "2026-03-01T11:00:01Z"),  # rounds up into the next second
        (1772409599.9999996, "2026-03-02T00:00:00Z"),  # and into the next day
        (MIN_EVENT_TIME, "1990-01-01T00:00:00Z"),
        (MAX_EVENT_TIME, "2100-01-01T00:00:00Z"),
        (951782400.0, "2000-02-29T00:00:00Z"),
    ],
)
def test_edges(seconds: float, text: str) -> None:
    assert format_event_time(seconds) == text
    assert by_datetime(seconds) == text
