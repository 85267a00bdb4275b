"""Last-seen tables kept in time order answer exactly as a plain scan of every key would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from state.lastseen import distinct_as_if_seen, forget, touch

#: A stream of (key, time) sightings, mostly in time order with late ones mixed in.
SIGHTINGS = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 400)), max_size=120)


def _scan_forget(table: dict[int, int], cutoff: int) -> dict[int, int]:
    return {key: last for key, last in table.items() if last > cutoff}


def _scan_distinct(table: dict[int, int], key: int | None, edge: int) -> int:
    count = sum(1 for last in table.values() if last > edge)
    return count + (key is not None and table.get(key, edge) <= edge)


@given(SIGHTINGS, st.integers(1, 200), st.integers(0, 100))
def test_an_ordered_table_forgets_and_counts_as_a_scan_does(
    sightings: list[tuple[int, int]], retention: int, window: int
) -> None:
    table: dict[int, int] = {}
    plain: dict[int, int] = {}
    now = 0
    for key, ts in sightings:
        now = max(now, ts)
        edge = ts - window
        assert distinct_as_if_seen(table, key, edge) == _scan_distinct(plain, key, edge)
        assert distinct_as_if_seen(table, None, edge) == _scan_distinct(plain, None, edge)
        touch(table, key, ts, now - retention)
        if ts > now - retention and plain.get(key, -1) < ts:
            plain[key] = ts
        forget(table, now - retention)
        plain = _scan_forget(plain, now - retention)
        assert table == plain
        assert list(table.values()) == sorted(table.values())  # the order the scans rely on
