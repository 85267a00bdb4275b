"""The in-memory cap store: the conformance cases, and the caps' invariants under any order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisions.caps import InMemoryCapStore, window_full
from decisions.marketing import CapLimits, CapRequest, CapStore, to_ms
from tests.unit.decisions.cap_cases import CASES, DAY_MS, LIMITS, T


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_conformance(case: Callable[[CapStore], None]) -> None:
    case(InMemoryCapStore())


def test_event_time_is_whole_milliseconds() -> None:
    assert to_ms(1772445600.0004) == 1772445600000
    assert to_ms(1772445600.0006) == 1772445600001


def test_window_full_looks_only_at_windows_holding_the_new_event() -> None:
    week = 7 * DAY_MS
    assert not window_full([], 0, week, 1)
    assert window_full([0], 0, week, 1)
    assert not window_full([-week], 0, week, 1)  # (-week, 0] excludes -week
    assert window_full([week - 1], 0, week, 1)
    assert not window_full([week], 0, week, 1)


def test_retention_is_twice_the_longest_window_and_at_least_ninety_days() -> None:
    assert LIMITS.retention_ms([]) == 90 * DAY_MS
    long = CapRequest("x", "a", True, 60 * DAY_MS)
    assert LIMITS.retention_ms([long]) == 120 * DAY_MS


# One event: (customer, minute of event time within 60 days, code, marketing?).
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.integers(0, 60 * 24 * 60),
        st.sampled_from(["salary", "medical", "travel", "high_potential"]),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events=EVENTS, cooldown_days=st.sampled_from([0, 1, 30]), most=st.integers(1, 4))
def test_admitted_triggers_respect_every_cap_in_any_arrival_order(
    events: list[tuple[str, int, str, bool]], cooldown_days: int, most: int
) -> None:
    limits = CapLimits(7 * DAY_MS, most, 0, 0)
    store = InMemoryCapStore()
    admitted: list[tuple[str, int, str, bool]] = []
    for n, (customer, minute, code, marketing) in enumerate(events):
        at = T + minute * 60_000
        request = CapRequest(f"tr-{n}", code, marketing, cooldown_days * DAY_MS)
        if store.admit(customer, at, [request], limits) == [None]:
            admitted.append((customer, at, code, marketing))
    cooldown = cooldown_days * DAY_MS
    for i, (customer, at, code, marketing) in enumerate(admitted):
        for j, (other, then, other_code, _) in enumerate(admitted):
            if i != j and other == customer and other_code == code:
                assert abs(then - at) >= cooldown  # per code: spaced, before or after
        if marketing:  # any 7-day window ending here holds at most `most` marketing triggers
            window = [
                t for c, t, _, m in admitted if c == customer and m and at - 7 * DAY_MS < t <= at
            ]
            assert len(window) <= most


@given(events=EVENTS)
def test_redelivering_everything_changes_no_answer(
    events: list[tuple[str, int, str, bool]],
) -> None:
    store = InMemoryCapStore()
    requests = [
        (customer, T + minute * 60_000, CapRequest(f"tr-{n}", code, marketing, 30 * DAY_MS))
        for n, (customer, minute, code, marketing) in enumerate(events)
    ]
    first = [store.admit(c, at, [r], LIMITS)[0] for c, at, r in requests]
    again = [store.admit(c, at, [r], LIMITS)[0] for c, at, r in requests]
    assert [a for a, f in zip(again, first, strict=True) if f is None] == [
        None for f in first if f is None
    ]
