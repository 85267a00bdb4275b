"""Small event-time structures shared by the in-memory entities (mirrored in state/lua/lib.lua).

A *last-seen table* maps a key (a terminal, country, device or customer) to the latest event
time it was seen; a *time list* is a sorted list of event times (fraud-labelled transactions).
Both forget what falls out of their retention, relative to the entity's latest event time.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import TypeVar

K = TypeVar("K")


def distinct_as_if_seen(table: dict[K, int], key: K | None, edge: int) -> int:
    """Keys last seen after ``edge``, counting ``key`` as seen now (if given).

    >>> distinct_as_if_seen({"a": 5, "b": 10}, "a", edge=6)
    2
    >>> distinct_as_if_seen({"a": 5, "b": 10}, None, edge=6)
    1
    """
    count = sum(1 for last in table.values() if last > edge)
    if key is not None:
        last = table.get(key)
        if last is None or last <= edge:
            count += 1
    return count


def seen_after(table: dict[K, int], key: K, edge: int) -> bool:
    """Whether ``key`` was last seen after ``edge`` (i.e. it is not new in that window)."""
    last = table.get(key)
    return last is not None and last > edge


def touch(table: dict[K, int], key: K, ts: int, cutoff: int) -> None:
    """Record ``key`` seen at ``ts`` (latest wins), unless ``ts`` is at or before ``cutoff``."""
    if ts > cutoff:
        last = table.get(key)
        if last is None or last < ts:
            table[key] = ts


def forget(table: dict[K, int], cutoff: int) -> None:
    """Drop every key last seen at or before ``cutoff``."""
    for key in [key for key, last in table.items() if last <= cutoff]:
        del table[key]


def count_in(times: list[int], lo: int, hi: int) -> int:
    """Times ``t`` of a sorted list with ``lo < t <= hi``.

    >>> count_in([1, 2, 2, 5], 1, 2)
    2
    """
    return bisect_right(times, hi) - bisect_right(times, lo)


def add_time(times: list[int], ts: int, cutoff: int) -> None:
    """Insert ``ts`` in order, unless it is at or before ``cutoff``."""
    if ts > cutoff:
        insort(times, ts)


def remove_time(times: list[int], ts: int) -> None:
    """Remove one occurrence of ``ts`` if present."""
    index = bisect_right(times, ts) - 1
    if index >= 0 and times[index] == ts:
        del times[index]


def drop_through(times: list[int], cutoff: int) -> int:
    """Remove the prefix of times at or before ``cutoff``; return how many were removed."""
    count = bisect_right(times, cutoff)
    if count:
        del times[:count]
    return count
