"""Small event-time structures shared by the in-memory entities (mirrored in state/lua/lib.lua).

A *last-seen table* maps a key (a terminal, country, device or customer) to the latest event
time it was seen, in time order (:func:`touch` keeps it so); a *time list* is a sorted list
of event times (fraud-labelled transactions).
Both forget what falls out of their retention, relative to the entity's latest event time.
"""

from __future__ import annotations

import itertools
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
    count = len(table)
    for seen in table.values():  # in time order: the keys seen by the edge come first
        if seen > edge:
            break
        count -= 1
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
    """Record ``key`` seen at ``ts`` (latest wins), unless ``ts`` is at or before ``cutoff``.

    The table is kept in time order (a key seen again moves to the end; a late one is put in
    its place), so that :func:`forget` and :func:`distinct_as_if_seen` stop at the first key
    seen after their edge instead of reading every key.

    >>> table = {}
    >>> for key, ts in (("a", 5), ("b", 7), ("a", 9), ("c", 6), ("b", 3)):
    ...     touch(table, key, ts, cutoff=0)
    >>> table
    {'c': 6, 'b': 7, 'a': 9}
    """
    if ts <= cutoff:
        return
    last = table.get(key)
    if last is not None:
        if last >= ts:
            return
        del table[key]
    late = bool(table) and next(reversed(table.values())) > ts
    table[key] = ts
    if late:  # rare: a transaction older than the latest, out of order
        ordered = sorted(table.items(), key=lambda item: item[1])
        table.clear()
        table.update(ordered)


def forget(table: dict[K, int], cutoff: int) -> None:
    """Drop every key last seen at or before ``cutoff`` (the table is in time order).

    >>> table = {"c": 6, "b": 7, "a": 9}
    >>> forget(table, 7)
    >>> table
    {'a': 9}
    """
    stale = 0
    for last in table.values():
        if last > cutoff:
            break
        stale += 1
    for key in list(itertools.islice(table, stale)):
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
