"""The soak's arithmetic: its warm-up, its windows and its usage figures."""

from __future__ import annotations

import pytest

from benchmarks.chaos_checks import synthetic_stream
from benchmarks.chaos_load import body, window
from benchmarks.chaos_soak import SoakPlan, _usage
from decisions.console.books import PER_CUSTOMER


def test_the_warm_up_lasts_until_the_activity_book_is_full() -> None:
    plan = SoakPlan(warm_up_s=60.0, inline_customers=5000, stream_customers=0)
    assert plan.warm_up_for(500.0) == pytest.approx(5000 * PER_CUSTOMER / 500.0)
    assert plan.warm_up_for(1e6) == 60.0  # never shorter than asked
    streamed = SoakPlan(inline_customers=5000, stream_customers=8000, stream_rate=200.0)
    assert streamed.warm_up_for(500.0) == pytest.approx(8000 * PER_CUSTOMER / 200.0)


def test_a_window_reports_the_server_time_and_how_late_the_client_sent() -> None:
    records = [
        [0.5, 40.0, 200, False, 3.0, 0.5],
        [1.2, 90.0, 200, False, 30.0, 12.0],
        [1.4, 20.0, 200, False, -1.0, 1.0],  # no Server-Timing: left out of the server p99
        [2.5, 500.0, 200, False, 400.0, 0.1],  # outside the window
    ]
    w = window(records, 1.0, 2.0)
    assert (w.requests, w.p99_ms, w.server_p99_ms, w.sent_late_p99_ms) == (2, 90.0, 30.0, 12.0)


def test_usage_is_the_share_of_a_core_and_the_time_per_script_between_two_samples() -> None:
    samples: list[tuple[float, ...]] = [
        (0.0, 0, 0, 10.0, 5.0, 1000, 50_000),
        (30.0, 0, 0, 19.0, 8.0, 3000, 250_000),
        (60.0, 0, 0, 40.0, 20.0, 9000, 1_000_000),
    ]
    assert _usage(samples, 0.0, 30.0) == {"worker_cpu": 0.3, "redis_cpu": 0.1, "script_us": 100.0}
    assert _usage(samples, 50.0, 70.0)["worker_cpu"] == 0.0  # one sample: nothing to compare


def test_event_time_can_run_at_the_wall_clocks_pace() -> None:
    txs = synthetic_stream(1000, "p", customers=50, terminals=7, spacing_s=0.005, seed=1)
    times = [tx["ts"] for tx in txs]
    assert times == sorted(times)
    assert times[-1] - times[0] == pytest.approx(999 * 0.005, abs=0.005)
    assert {tx["terminal_id"] for tx in txs} <= {f"pt{t:04d}" for t in range(7)}
    assert body("i", 400, 100, spacing_s=0.002)["ts"] - body("i", 0, 100)["ts"] == pytest.approx(
        0.8
    )


def test_the_default_stream_is_the_one_the_crash_and_outage_parts_always_used() -> None:
    txs = synthetic_stream(3, "d", seed=2, start=1000.0)
    assert [int(tx["ts"]) for tx in txs] == [1000, 1017, 1034]  # 17 s apart, up to 1 s later
