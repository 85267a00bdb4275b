"""Window arithmetic, calendar and units: the pieces every feature is computed from."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.records import Transaction
from state.inputs import Calendar, id_hash, prepare, to_cents
from state.settings import StateSettings
from state.windows import DAY, HOUR, MAX_CENTS, Retention, in_window, later_than

times = st.integers(min_value=700_000_000, max_value=4_000_000_000)
widths = st.sampled_from([HOUR, DAY, 7 * DAY, 30 * DAY])


@given(t=times, ts=times, width=widths)
def test_window_is_trailing_and_closed_on_the_right(t: int, ts: int, width: int) -> None:
    assert in_window(t, ts, width) == (ts - width < t <= ts)
    assert in_window(ts, ts, width)  # the current transaction is always in
    assert not in_window(ts - width, ts, width)  # the left edge is out


@given(t=times, ts=times, narrow=widths, wide=widths)
def test_a_wider_window_holds_everything_a_narrower_one_does(
    t: int, ts: int, narrow: int, wide: int
) -> None:
    if narrow <= wide and in_window(t, ts, narrow):
        assert in_window(t, ts, wide)


@given(
    count=st.integers(min_value=1, max_value=10_000),
    lo=st.integers(min_value=0, max_value=3599),
    span=st.integers(min_value=0, max_value=3599),
    edge=st.integers(min_value=-10, max_value=7300),
)
def test_bucket_share_is_bounded_and_monotone(count: int, lo: int, span: int, edge: int) -> None:
    hi = lo + span if count > 1 else lo
    share = later_than(count, lo, hi, edge)
    assert 0 <= share <= count
    assert later_than(count, lo, hi, edge + 1) <= share  # a later edge leaves fewer events
    if edge < lo:
        assert share == count
    if edge >= hi:
        assert share == 0


@given(
    lo=st.integers(min_value=0, max_value=3000),
    gap=st.integers(min_value=1, max_value=599),
    edge=st.integers(min_value=-5, max_value=3700),
)
def test_bucket_share_is_exact_for_two_events(lo: int, gap: int, edge: int) -> None:
    events = [lo, lo + gap]
    assert later_than(2, lo, lo + gap, edge) == sum(1 for t in events if t > edge)


def test_retention_covers_each_window_plus_the_margin() -> None:
    retention = Retention.from_settings(StateSettings(late_margin_s=3600))
    assert retention.customer_debits == 30 * DAY + 3600
    assert retention.customer_credits == 90 * DAY + 3600
    assert retention.terminal_seconds == DAY + 3600
    assert retention.too_late("customer") == 90 * DAY + 3600
    # a repeat must still be recognised as long as it could still be counted
    assert retention.snapshot_s > retention.too_late("customer")


@given(amount=st.floats(min_value=0, max_value=1e13, allow_nan=False))
def test_cents_round_half_even_and_clamp(amount: float) -> None:
    cents = to_cents(amount)
    assert 0 <= cents <= MAX_CENTS
    if amount * 100 < MAX_CENTS:
        assert abs(cents - amount * 100) <= 0.5 + 1e-6 * amount


def test_common_amounts_are_whole_cents() -> None:
    assert to_cents(129.95) == 12995
    assert to_cents(0.29) == 29
    assert to_cents(0.0) == 0


def test_identifier_hash_is_four_stable_bytes() -> None:
    assert id_hash("t0007781") == id_hash("t0007781")
    assert len(id_hash("t0007781")) == 4
    assert id_hash("a") != id_hash("b")


def _epoch(*args: int, tz: object = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[arg-type,misc]


def test_calendar_months_follow_the_configured_zone() -> None:
    utc = Calendar(StateSettings())
    paris = Calendar(StateSettings(timezone="Europe/Paris"))
    new_year_utc = _epoch(2026, 1, 1)
    # 23:30 UTC on Dec 31 is already January in Paris
    assert utc.at(new_year_utc - 1800).month == utc.at(new_year_utc).month - 1
    assert paris.at(new_year_utc - 1800).month == utc.at(new_year_utc).month
    assert utc.at(new_year_utc - 1).month_next == new_year_utc
    assert paris.at(new_year_utc - 1800).month_next == _epoch(2026, 1, 31, 23)  # Feb 1 local


def test_night_and_weekend_are_local() -> None:
    calendar = Calendar(StateSettings(timezone="Asia/Tokyo", night_end_hour=6))
    saturday_0300_tokyo = _epoch(2026, 3, 6, 18)  # Friday 18:00 UTC
    local = calendar.at(saturday_0300_tokyo)
    assert local.is_night and local.is_weekend


def test_prepared_transaction_carries_state_units() -> None:
    tx = Transaction(
        tx_id="t1",
        ts=1772362800.9,
        customer_id="c1",
        amount=10.5,
        direction="credit",
        terminal_id="T",
        device_id="D",
        country="FR",
        attributes={"risk": 0.25},
    )
    p = prepare(tx, Calendar(StateSettings()))
    assert p.ts == 1772362800 and p.day == 1772362800 // DAY
    assert not p.debit and p.cents == 1050
    assert p.terminal_hash == id_hash("T") and p.device_hash == id_hash("D")
    assert p.features["attr_risk"] == 0.25 and p.features["is_credit"] == 1.0


@pytest.mark.parametrize("bucket", [60, 3600, 21_600])
def test_bucket_setting_must_divide_a_day(bucket: int) -> None:
    assert StateSettings(terminal_bucket_s=bucket).terminal_bucket_s == bucket


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="divide one day"):
        StateSettings(terminal_bucket_s=7000)
    with pytest.raises(ValueError, match="IANA"):
        StateSettings(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="extra"):
        StateSettings(windows=3)  # type: ignore[call-arg]
    assert math.isclose(StateSettings().label_horizon_s / DAY, 45)
