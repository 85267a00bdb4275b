"""Event time: the one way Verdict reads and writes the ``ts`` of an event.

A time is ISO-8601 with a zone, or a number of epoch seconds. Internally it is a float of epoch
seconds (UTC), which is what every window computes with.

>>> parse_event_time("2026-03-01T12:00:00+01:00")
1772362800.0
>>> parse_event_time(1772362800)
1772362800.0
>>> format_event_time(1772362800.0)
'2026-03-01T11:00:00Z'
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

#: Earliest accepted event time (1990-01-01): anything older is a unit or typing mistake.
MIN_EVENT_TIME: Final = 631_152_000.0
#: Latest accepted event time (2100-01-01).
MAX_EVENT_TIME: Final = 4_102_444_800.0


def parse_event_time(value: object) -> float:
    """Return epoch seconds for an ISO-8601 string with a zone, or a number of epoch seconds.

    Raises
    ------
    ValueError
        With a message that says what is wrong (no zone, not a time, out of range).
    """
    if isinstance(value, bool):
        raise ValueError("must be an ISO-8601 time with a zone or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float: far outside the range anyway
            raise ValueError("is outside 1990-01-01 .. 2100-01-01") from None
        if not math.isfinite(seconds):
            raise ValueError("must be a finite number of epoch seconds")
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"is not an ISO-8601 time: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            raise ValueError("has no time zone (add Z or +HH:MM)")
        seconds = parsed.timestamp()
    else:
        raise ValueError("must be an ISO-8601 time with a zone or epoch seconds")
    if not MIN_EVENT_TIME <= seconds <= MAX_EVENT_TIME:
        raise ValueError("is outside 1990-01-01 .. 2100-01-01")
    return seconds


#: "YYYY-MM-DDT" of each day since the epoch formatted so far (at most ~40,000 days in range).
_DATES: dict[int, str] = {}


def format_event_time(seconds: float) -> str:
    """ISO-8601 in UTC with a ``Z``, to the second when whole, else to the microsecond.

    The text of ``datetime.fromtimestamp(seconds, UTC).isoformat()`` (microseconds rounded
    half to even, as it rounds them) at half its cost: every output record carries a time.

    >>> format_event_time(1772362800.0000005), format_event_time(1772362800.9999995)
    ('2026-03-01T11:00:00Z', '2026-03-01T11:00:01Z')
    """
    fraction, whole = math.modf(seconds)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1.0, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1.0, micros + 1_000_000
    day, second = divmod(int(whole), 86_400)
    date = _DATES.get(day)
    if date is None:
        date = _DATES[day] = datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    if micros:
        return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{micros:06d}Z"
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}Z"
