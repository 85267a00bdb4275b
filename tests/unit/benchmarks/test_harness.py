"""The benchmark harness: how fast the machine was during a run, and CPU per event."""

from __future__ import annotations

import math
import os
import time

from benchmarks.cpu import CpuSampler, process_cpu_s
from benchmarks.harness import BenchResult, cpu_ticks, reference_ms, render_markdown
from benchmarks.stream_cpu import cpu_per_event, floor_cores


def test_the_report_says_how_fast_the_machine_ran_python_and_how_much_was_stolen() -> None:
    assert 0.0 < reference_ms() < 10_000.0
    total, stolen = cpu_ticks()
    assert total > 0 and 0 <= stolen <= total
    result = BenchResult("x", {"a_per_s": 1.0})
    result.machine = {"cores": 2, "reference_ms_before": 24.0, "reference_ms_after": 26.5,
                      "steal_percent": 3.25}  # fmt: skip
    text = render_markdown(result)
    assert "reference workload 24.0 ms before, 26.5 ms after" in text
    assert "3.2% of the run" in text
    assert "reference" not in render_markdown(BenchResult("x", {"a_per_s": 1.0}))


def test_cpu_per_event_takes_each_process_over_the_window_its_events_were_handled_in() -> None:
    cpu = CpuSampler({})
    cpu.samples = [
        (100.0, {"broker": 10.0, "redis": 1.0, "worker": 0.0}),
        (110.0, {"broker": 11.0, "redis": 1.0, "worker": 5.0}),  # the bare run: 100..110
        (200.0, {"broker": 20.0, "redis": 3.0, "worker": 5.0}),
        (220.0, {"broker": 24.0, "redis": 5.0, "worker": 25.0}),  # serve decided 200..220
    ]
    bare = {"events": 1_001, "samples": [(100.0, 1)], "first": 100.0, "last": 110.0,
            "cpu_first": 2.0, "cpu_last": 2.5}  # fmt: skip
    measured = {"first_decision_ms": 200_000.0, "last_decision_ms": 220_000.0}
    found = cpu_per_event(cpu, bare, measured, n=10_001)
    assert found["bare_agent_cpu_us_per_event"] == 500.0  # 0.5 s over 1,000 events
    assert found["bare_broker_cpu_us_per_event"] == 1_000.0
    assert found["serve_worker_cpu_us_per_tx"] == 2_000.0  # 20 s over 10,000
    assert found["serve_broker_cpu_us_per_tx"] == 400.0
    assert found["serve_redis_cpu_us_per_tx"] == 200.0
    assert math.isclose(found["floor_cores_at_goal"], floor_cores(10_000.0, 500.0, 1_000.0, 200.0))
    assert math.isclose(found["serve_cores_at_goal"], 26.0)


def test_a_window_between_samples_is_interpolated_and_a_gone_process_skipped() -> None:
    cpu = CpuSampler({})
    cpu.samples = [(0.0, {"p": 0.0}), (4.0, {"p": math.nan}), (10.0, {"p": 10.0})]
    assert cpu.spent("p", 2.5, 7.5) == 5.0
    assert cpu.spent("p", -5.0, 50.0) == 10.0
    assert math.isnan(cpu.at("unknown", 1.0))


def test_the_sampler_reads_a_real_process_in_its_thread() -> None:
    cpu = CpuSampler({"me": lambda: process_cpu_s(os.getpid())}, every_s=0.01)
    cpu.start()
    started = time.time()
    while time.time() - started < 0.3:  # busy: this process spends CPU
        sum(range(10_000))
    cpu.stop()
    cpu.stop()  # harmless twice
    assert len(cpu.samples) >= 5
    assert cpu.spent("me", started, time.time()) > 0.05
    assert math.isnan(process_cpu_s(2**22 + 1))  # no such process
