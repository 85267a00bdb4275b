"""The numbers of one open-loop pass of ``verdict bench inline``, and of repeated passes.

This shared machine's speed changes from minute to minute, so the benchmark runs the pass at
1,000 requests/s several times and reports the median of each percentile, with the range of
the p99s (:func:`pass_numbers`); a single pass would be a lottery.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.http_load import LoadResult

#: The per-pass numbers kept in the results (the latencies themselves only for the median pass).
PASS_KEYS = ("server_p50_ms", "server_p99_ms", "client_p50_ms", "client_p99_ms",
             "late_p99_ms", "errors", "server_cpu_ms_per_request", "reference_ms")  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    """The exact ``q``-th percentile of ``values`` (nearest rank); 0 when there are none.

    >>> percentile([3.0, 1.0, 2.0], 50)
    2.0
    """
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else 0.0


def summary(result: LoadResult) -> dict[str, Any]:
    """One pass's counts, rate and percentiles, with every latency kept (for the plot)."""
    client, server = result.client_ms, [ms for ms in result.server_ms if ms >= 0]
    return {
        "requests": len(client),
        "errors": result.errors,
        "seconds": result.seconds,
        "per_s": len(client) / result.seconds if result.seconds else 0.0,
        "client_p50_ms": percentile(client, 50),
        "client_p99_ms": percentile(client, 99),
        "server_p50_ms": percentile(server, 50),
        "server_p99_ms": percentile(server, 99),
        "late_p99_ms": percentile(result.late_ms, 99),
        "client_ms": [round(v, 3) for v in client],
        "server_ms": [round(v, 3) for v in server],
    }


def median_pass(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """The pass whose server p99 is the median (the lower middle one of an even number).

    >>> median_pass([{"server_p99_ms": 3.0}, {"server_p99_ms": 1.0}, {"server_p99_ms": 2.0}])
    {'server_p99_ms': 2.0}
    """
    ordered = sorted(passes, key=lambda found: float(found["server_p99_ms"]))
    return ordered[(len(ordered) - 1) // 2]


def median(passes: list[dict[str, Any]], key: str) -> float:
    """The median of ``key`` over the passes."""
    return float(statistics.median(float(found[key]) for found in passes))


def pass_numbers(prefix: str, passes: list[dict[str, Any]]) -> dict[str, float]:
    """The medians over the passes, and the range of the p99s."""
    numbers = {
        f"{prefix}_{key}": median(passes, key)
        for key in ("server_p50_ms", "server_p99_ms", "client_p50_ms", "client_p99_ms")
    }
    for key in ("server_p99_ms", "client_p99_ms"):
        numbers[f"{prefix}_{key}_min"] = min(float(found[key]) for found in passes)
        numbers[f"{prefix}_{key}_max"] = max(float(found[key]) for found in passes)
    numbers[f"{prefix}_generator_late_p99_ms"] = median(passes, "late_p99_ms")
    numbers[f"{prefix}_server_cpu_ms_per_request"] = median(passes, "server_cpu_ms_per_request")
    return numbers


def pass_line(found: dict[str, Any]) -> str:
    """One pass in a few words.

    >>> pass_line({"server_p99_ms": 2.5, "client_p99_ms": 6.0,
    ...             "server_cpu_ms_per_request": 0.75, "reference_ms": 17.2})
    'server p99 2.50 ms, client p99 6.00 ms, 0.75 ms CPU/request, reference 17.2 ms'
    """
    return (
        f"server p99 {found['server_p99_ms']:.2f} ms, client p99 {found['client_p99_ms']:.2f} "
        f"ms, {found['server_cpu_ms_per_request']:.2f} ms CPU/request, "
        f"reference {found['reference_ms']:.1f} ms"
    )
