"""Conformance cases for every :class:`~decisions.marketing.CapStore` (in memory and Redis).

Each case takes a fresh store. The unit suite runs them on the in-memory store; the
integration suite runs the very same functions on Redis, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from decisions.marketing import CapLimits, CapRequest, CapStore

DAY_MS: Final = 86_400_000
T: Final = 1_772_445_600_000  # 2026-03-02T10:00Z in ms
LIMITS: Final = CapLimits(
    window_ms=7 * DAY_MS, max_per_window=3, quiet_decline_ms=7 * DAY_MS, quiet_fraud_ms=7 * DAY_MS
)


def offer(code: str, n: int | str, cooldown_days: float = 30) -> CapRequest:
    """A marketing request."""
    return CapRequest(f"tr-{code}-{n}", code, True, round(cooldown_days * DAY_MS))


def service(code: str, n: int | str, cooldown_days: float = 0) -> CapRequest:
    """A service (non-marketing) request."""
    return CapRequest(f"tr-{code}-{n}", code, False, round(cooldown_days * DAY_MS))


def one(store: CapStore, at: int, request: CapRequest, customer: str = "c1") -> str | None:
    """The verdict on one request."""
    return store.admit(customer, at, [request], LIMITS)[0]


def case_offer_cooldown_is_symmetric_in_event_time(store: CapStore) -> None:
    assert one(store, T + 20 * DAY_MS, offer("salary", 1)) is None
    assert one(store, T, offer("salary", 2)) == "offer_cap"  # late: 20 days before
    assert one(store, T + 49 * DAY_MS, offer("salary", 3)) == "offer_cap"
    assert one(store, T + 50 * DAY_MS, offer("salary", 4)) is None  # exactly 30 days later
    assert one(store, T + 50 * DAY_MS, offer("medical", 1)) is None  # another code


def case_window_cap_counts_marketing_across_codes(store: CapStore) -> None:
    for day, code in enumerate(("a", "b", "c")):
        assert one(store, T + day * DAY_MS, offer(code, 1, cooldown_days=0)) is None
    assert one(store, T + 6 * DAY_MS, offer("d", 1, cooldown_days=0)) == "window_cap"
    assert one(store, T + 7 * DAY_MS, offer("d", 2, cooldown_days=0)) is None


def case_window_cap_checks_windows_after_a_late_event(store: CapStore) -> None:
    for day, code in ((3, "a"), (4, "b"), (5, "c")):
        assert one(store, T + day * DAY_MS, offer(code, 1, cooldown_days=0)) is None
    # a late one at day 0: the window (day -2, day 5] would hold four
    assert one(store, T, offer("d", 1, cooldown_days=0)) == "window_cap"
    assert one(store, T - 3 * DAY_MS, offer("d", 2, cooldown_days=0)) is None


def case_requests_of_one_call_count_against_each_other(store: CapStore) -> None:
    assert one(store, T, offer("a", 1, 0)) is None
    answers = store.admit(
        "c1", T + DAY_MS, [offer("b", 1, 0), offer("c", 1, 0), offer("d", 1, 0)], LIMITS
    )
    assert answers == [None, None, "window_cap"]


def case_a_decline_starts_a_quiet_period(store: CapStore) -> None:
    assert store.admit("c1", T, [], LIMITS, decline_ref="tx-declined") == []
    assert one(store, T + 7 * DAY_MS - 1, offer("salary", 1)) == "quiet_after_decline"
    assert one(store, T + DAY_MS, service("churn", 1)) is None  # service triggers are not quiet
    assert one(store, T + 7 * DAY_MS, offer("salary", 2)) is None
    assert one(store, T - 1, offer("medical", 1)) is None  # before the decline, in event time


def case_a_confirmed_fraud_starts_a_quiet_period(store: CapStore) -> None:
    store.note_fraud("c1", T, "tx-fraud")
    assert one(store, T + 3 * DAY_MS, offer("salary", 1)) == "quiet_after_fraud"
    assert one(store, T + 7 * DAY_MS, offer("salary", 2)) is None
    store.admit("c1", T + 8 * DAY_MS, [], LIMITS, decline_ref="tx-d")
    store.note_fraud("c1", T + 8 * DAY_MS, "tx-f2")
    assert one(store, T + 9 * DAY_MS, offer("medical", 1)) == "quiet_after_decline"


def case_a_decline_in_the_same_call_silences_its_offers(store: CapStore) -> None:
    answers = store.admit("c1", T, [offer("a", 1), service("b", 1)], LIMITS, decline_ref="x")
    assert answers == ["quiet_after_decline", None]


def case_an_admitted_trigger_is_admitted_again_and_counted_once(store: CapStore) -> None:
    request = offer("a", 1, 0)
    assert one(store, T, request) is None
    assert one(store, T, request) is None
    assert one(store, T, request) is None
    assert one(store, T + DAY_MS, offer("b", 1, 0)) is None
    assert one(store, T + DAY_MS, offer("c", 1, 0)) is None
    assert one(store, T + DAY_MS, offer("d", 1, 0)) == "window_cap"


def case_service_triggers_have_only_their_cooldown(store: CapStore) -> None:
    for n in range(5):
        assert one(store, T + n, service("fraud_confirmation", n)) is None
    assert one(store, T, service("high_potential", 1, cooldown_days=90)) is None
    assert one(store, T + 89 * DAY_MS, service("high_potential", 2, 90)) == "cooldown"
    assert one(store, T + 90 * DAY_MS, service("high_potential", 3, 90)) is None


def case_customers_are_independent(store: CapStore) -> None:
    assert one(store, T, offer("a", 1), customer="c1") is None
    assert one(store, T, offer("a", 2), customer="c2") is None
    store.admit("c3", T, [], LIMITS, decline_ref="x")
    assert one(store, T + DAY_MS, offer("a", 3), customer="c1") == "offer_cap"
    assert one(store, T + 31 * DAY_MS, offer("a", 4), customer="c1") is None


def case_zero_switches_a_rule_off(store: CapStore) -> None:
    off = CapLimits(window_ms=0, max_per_window=1, quiet_decline_ms=0, quiet_fraud_ms=0)
    store.note_fraud("c1", T, "f")
    assert store.admit("c1", T, [], off, decline_ref="d") == []
    answers = [store.admit("c1", T + n, [offer(f"k{n}", n, 0)], off)[0] for n in range(5)]
    assert answers == [None] * 5


def case_history_beyond_the_retention_is_forgotten(store: CapStore) -> None:
    assert one(store, T, offer("a", 1)) is None
    assert one(store, T + 200 * DAY_MS, offer("a", 2)) is None  # trims the first
    assert one(store, T + DAY_MS, offer("a", 3)) is None  # too late to be compared


CASES: Final[tuple[Callable[[CapStore], None], ...]] = (
    case_offer_cooldown_is_symmetric_in_event_time,
    case_window_cap_counts_marketing_across_codes,
    case_window_cap_checks_windows_after_a_late_event,
    case_requests_of_one_call_count_against_each_other,
    case_a_decline_starts_a_quiet_period,
    case_a_confirmed_fraud_starts_a_quiet_period,
    case_a_decline_in_the_same_call_silences_its_offers,
    case_an_admitted_trigger_is_admitted_again_and_counted_once,
    case_service_triggers_have_only_their_cooldown,
    case_customers_are_independent,
    case_zero_switches_a_rule_off,
    case_history_beyond_the_retention_is_forgotten,
)
