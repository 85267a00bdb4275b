"""The inline benchmark's repeated passes: medians and ranges, never one lucky pass."""

from __future__ import annotations

from benchmarks.inline_passes import median_pass, pass_numbers


def _pass(server_p99: float, client_p99: float, cpu: float) -> dict[str, float]:
    return {
        "server_p50_ms": server_p99 / 3,
        "server_p99_ms": server_p99,
        "client_p50_ms": client_p99 / 3,
        "client_p99_ms": client_p99,
        "late_p99_ms": 1.0,
        "server_cpu_ms_per_request": cpu,
    }


def test_each_percentile_is_the_median_of_the_passes_with_the_range_of_the_p99s() -> None:
    passes = [_pass(1.6, 9.0, 0.72), _pass(4.5, 3.5, 0.80), _pass(3.0, 7.0, 0.75)]
    numbers = pass_numbers("x", passes)
    assert numbers["x_server_p99_ms"] == 3.0
    assert numbers["x_client_p99_ms"] == 7.0  # the median of its own, not the median pass's
    assert (numbers["x_server_p99_ms_min"], numbers["x_server_p99_ms_max"]) == (1.6, 4.5)
    assert (numbers["x_client_p99_ms_min"], numbers["x_client_p99_ms_max"]) == (3.5, 9.0)
    assert numbers["x_server_cpu_ms_per_request"] == 0.75


def test_the_median_pass_is_the_one_plotted() -> None:
    passes = [_pass(1.6, 9.0, 0.7), _pass(4.5, 3.5, 0.8), _pass(3.0, 7.0, 0.75)]
    assert median_pass(passes) is passes[2]
    assert median_pass(passes[:2]) is passes[0]  # even: the lower middle one
