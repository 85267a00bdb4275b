"""Conformance cases for every :class:`~decisions.lists.ListStore` (in memory and Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from decisions.lists import ListStore


def case_hits_name_the_lists_that_hold_the_value(store: ListStore) -> None:
    assert store.add("blocked_customers", ["c1", "c2"]) == 2
    assert store.add("blocked_devices", ["d1"]) == 1
    probes = [("blocked_customers", "c2"), ("blocked_devices", "d2"), ("blocked_terminals", "t")]
    assert store.hits(probes) == frozenset({"blocked_customers"})
    assert store.hits([]) == frozenset()


def case_adding_twice_counts_once_and_removing_takes_effect(store: ListStore) -> None:
    assert store.add("l", ["a"]) == 1
    assert store.add("l", ["a", "b"]) == 1
    assert store.members("l") == frozenset({"a", "b"})
    assert store.remove("l", ["a", "zzz"]) == 1
    assert store.hits([("l", "a"), ("l", "b")]) == frozenset({"l"})
    assert store.remove("l", ["b"]) == 1
    assert store.hits([("l", "b")]) == frozenset()
    assert store.add("l", []) == 0
    assert store.remove("l", []) == 0


def case_values_are_matched_exactly(store: ListStore) -> None:
    store.add("l", ["C1", "203.0.113.7"])
    assert store.hits([("l", "c1")]) == frozenset()
    assert store.hits([("l", "203.0.113.7")]) == frozenset({"l"})
    assert store.members("missing") == frozenset()


def case_an_answer_asked_early_gives_what_hits_many_gives(store: ListStore) -> None:
    store.add("blocked_customers", ["c1"])
    store.add("blocked_devices", ["d1", "d2"])
    batch = [
        [("blocked_customers", "c1"), ("blocked_devices", "d9")],
        [],
        [("blocked_customers", "c9"), ("blocked_devices", "d2")],
        [("blocked_customers", "c1"), ("blocked_devices", "d1")],
    ]
    first, second = store.ask_many(batch), store.ask_many([[("blocked_devices", "d1")]])
    assert second() == [frozenset({"blocked_devices"})]  # answers may be read in any order
    expected = [
        frozenset({"blocked_customers"}),
        frozenset(),
        frozenset({"blocked_devices"}),
        frozenset({"blocked_customers", "blocked_devices"}),
    ]
    assert first() == expected == store.hits_many(batch)
    assert store.ask_many([[], []])() == [frozenset(), frozenset()]


CASES: Final[tuple[Callable[[ListStore], None], ...]] = (
    case_hits_name_the_lists_that_hold_the_value,
    case_adding_twice_counts_once_and_removing_takes_effect,
    case_values_are_matched_exactly,
    case_an_answer_asked_early_gives_what_hits_many_gives,
)
