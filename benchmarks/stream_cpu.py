"""Where the CPU of ``verdict bench stream`` goes, per event, and what the goal would need.

On this 2-core machine the worker, the embedded broker and Redis share two cores. Per event
(from :class:`~benchmarks.cpu.CpuSampler` over the window in which the events were handled):

- the bare faust agent's own CPU and the broker's while it fed it: what consuming an event
  through faust costs before any work is done;
- in ``verdict serve``: the worker's, the broker's (reads and the decisions, alerts and
  triggers written back) and Redis's (the feature-store scripts) per decided transaction.

``floor_cores_at_goal`` adds the bare agent, its broker and Redis per event: a lower bound on
the cores any worker deciding on Redis features through faust would need at the goal's rate,
whatever its own code costs (the decision's own work and the writes come on top).
``serve_cores_at_goal`` is what this worker would need at that rate, as measured.

>>> floor_cores(10_000.0, 80.0, 20.0, 100.0)
2.0
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from typing import Any

from benchmarks.cpu import CpuSampler, CpuSource, process_cpu_s
from verdict.processes import PidRecord

#: The throughput goal of the benchmark (decided transactions a second, one worker).
GOAL_PER_S = 10_000.0
CPU_NOTE = (
    "CPU per event (user + system, sampled every 0.25 s, over the window the events were "
    "handled in): `bare_*` of the bare agent's process and of the broker feeding it; "
    "`serve_*_per_tx` of the worker, the broker and Redis per decided transaction. "
    "`floor_cores_at_goal` = 10,000/s x (bare agent + its broker + Redis): the cores any "
    "faust worker deciding on Redis features would need at the goal before its own work; "
    "this machine has 2. `serve_cores_at_goal`: this worker's, as measured."
)


def pid_cpu(process: PidRecord | subprocess.Popen[bytes] | None) -> CpuSource:
    """The CPU seconds of a child or of a service's recorded pid (``nan`` when unknown)."""
    if process is None:
        return lambda: float("nan")
    pid = process.pid
    return lambda: process_cpu_s(pid)


def floor_cores(rate: float, *per_event_us: float) -> float:
    """Cores needed at ``rate`` events a second for parts costing ``per_event_us`` each."""
    return rate * sum(per_event_us) / 1e6


def cpu_per_event(
    cpu: CpuSampler, bare: Mapping[str, Any], measured: Mapping[str, float], n: int
) -> dict[str, float]:
    """Microseconds of CPU per event of each process, and the cores the goal would take."""
    handled = bare["events"] - (bare["samples"][0][1] if bare["samples"] else 0)
    bare_agent = (bare["cpu_last"] - bare["cpu_first"]) / handled * 1e6
    bare_broker = cpu.spent("broker", bare["first"], bare["last"]) / handled * 1e6
    start, end = measured["first_decision_ms"] / 1000, measured["last_decision_ms"] / 1000
    per_tx = {
        name: cpu.spent(name, start, end) / (n - 1) * 1e6 for name in ("worker", "broker", "redis")
    }
    return {
        "bare_agent_cpu_us_per_event": bare_agent,
        "bare_broker_cpu_us_per_event": bare_broker,
        "serve_worker_cpu_us_per_tx": per_tx["worker"],
        "serve_broker_cpu_us_per_tx": per_tx["broker"],
        "serve_redis_cpu_us_per_tx": per_tx["redis"],
        "floor_cores_at_goal": floor_cores(GOAL_PER_S, bare_agent, bare_broker, per_tx["redis"]),
        "serve_cores_at_goal": floor_cores(GOAL_PER_S, *per_tx.values()),
    }
