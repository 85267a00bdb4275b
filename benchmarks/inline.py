"""The inline API under load: open-loop latency at a fixed rate, and saturation throughput.

A real ``verdict serve`` (stream worker, API, publisher) runs in its own process on an embedded
broker of the benchmark's own and Redis database 13. A lean load generator in another process
(:mod:`benchmarks.http_load`) sends ``POST /v1/decisions`` on a fixed schedule (open loop: a
request is due at ``t0 + i / rate`` whatever happened before, and its latency counts from when
it was due, so queueing shows). The server reports its own time per request in the
``Server-Timing`` header. Percentiles are exact (every latency is kept), not histogram
estimates. Saturation: as many requests as 32 concurrent connections can push (wrk), for a few
seconds. The open-loop pass runs :data:`STEADY_PASSES` times on each server and the median of
each percentile is reported, with the range: this shared machine's speed changes from minute to
minute, and one build measured eight times gave a server p99 from 1.6 to 4.5 ms (2026-12-06).
Each pass also records the server's CPU per request and the machine's speed just before it
(:func:`~benchmarks.harness.reference_ms`). Two workers are measured in turn: the default
one, whose alert console reads every decision back from Kafka, and one without the console, as
the README advises for the workers that answer payments.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from benchmarks.cpu import process_cpu_s
from benchmarks.harness import BenchContext, BenchResult, reference_ms
from benchmarks.http_load import BodyOf, closed_loop, open_loop
from benchmarks.inline_passes import (
    PASS_KEYS,
    median,
    median_pass,
    pass_line,
    pass_numbers,
    summary,
)
from state.redis_wire import url_with_db
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from verdict import event_loop, plots
from verdict.embedded import EmbeddedBroker
from verdict.settings import StackSettings

DB = 13
PLOT = "inline.png"
#: Light load before measuring: long enough for the worker to join its consumer group.
WARM_UP_S = 8.0
GOALS_MS = {"server p99 goal": 2.0, "client p99 goal": 5.0}
#: Open-loop passes at 1,000/s per server (one with ``--quick``); the median is reported.
STEADY_PASSES = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def decision_bodies(prefix: str) -> BodyOf:
    """Bodies of ``POST /v1/decisions``: card payments of 5,000 customers at 900 terminals,
    each with a transaction id of its own under ``prefix``."""
    tag = prefix.encode()

    def body(i: int) -> bytes:
        return (
            b'{"tx_id":"%s-%d","ts":%d,"customer_id":"c%d","amount":%d.0,'
            b'"terminal_id":"t%d","country":"FR"}'
            % (tag, i, 1_772_445_600 + i, i % 5000, 5 + (i * 37) % 500, i % 900)
        )

    return body


def load(port: int, prefix: str, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """Open loop at ``rate``/s, or closed loop on ``connections`` (then ``rate`` is unused)."""
    gc.freeze()  # the generator's own collector would pause it mid-run and count as latency
    gc.disable()
    bodies = decision_bodies(prefix)
    if connections:
        run = closed_loop("127.0.0.1", port, "/v1/decisions", bodies, connections, seconds)
    else:
        run = open_loop("127.0.0.1", port, "/v1/decisions", bodies, rate, seconds)
    return summary(event_loop.run(run))


def _client(
    port: int, prefix: str, rate: float, seconds: float, connections: int = 0
) -> dict[str, Any]:
    """Run the load generator in its own process (it must not share the server's core)."""
    code = (
        "import json; from benchmarks.inline import load; "
        f"print(json.dumps(load({port}, {prefix!r}, {rate}, {seconds}, {connections})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"tx_id":"wrk-%d-%d","ts":%d,"customer_id":"c%d",'
    .. '"amount":%d.5,"terminal_id":"t%d","country":"FR"}', math.random(1, 1e9), counter,
    1772445600 + counter, counter % 5000, 5 + (counter * 37) % 500, counter % 900)
  return wrk.format("POST", "/v1/decisions", {["Content-Type"]="application/json"}, body)
end
"""


def _wrk(url: str, seconds: float, connections: int, script: str | None) -> dict[str, Any]:
    """Closed-loop saturation with wrk (C, one thread: it barely takes from the server's
    cores); requests/s, mean latency and the non-2xx count."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency"]
        if script is not None:
            lua.write(script)
            lua.flush()
            command += ["-s", lua.name]
        out = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    done, took = out.split(" requests in ")[0].split()[-1], out.split(" requests in ")[1]
    errors = int(out.split("Non-2xx or 3xx responses:")[1].split()[0]) if "Non-2xx" in out else 0
    rate = (int(done) - errors) / _seconds(took.split(",")[0])  # answered with a decision
    p99 = out.split(" 99%")[1].split()[0] if " 99%" in out else "0ms"
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    unit = next(u for u in ("us", "ms", "s") if p99.endswith(u))
    return {"per_s": rate, "errors": errors, "p99_ms": float(p99[: -len(unit)]) * scale[unit]}


def _seconds(duration: str) -> float:
    """A wrk duration in seconds.

    >>> _seconds("10.00s"), _seconds("1.00m"), _seconds("250.00ms")
    (10.0, 60.0, 0.25)
    """
    for unit, scale in (("ms", 0.001), ("us", 1e-6), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * scale
    raise ValueError(f"not a wrk duration: {duration!r}")


def _wait_ready(url: str, timeout_s: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server at {url} did not answer within {timeout_s} s")


def _steady(pid: int, port: int, name: str, seconds: float, passes: int) -> list[dict[str, Any]]:
    """``passes`` open-loop passes at 1,000/s, each with the server's CPU per request and the
    machine's speed just before it."""
    found: list[dict[str, Any]] = []
    for index in range(passes):
        speed, cpu = reference_ms(), process_cpu_s(pid)
        result = _client(port, f"steady-{name}-{index}", 1000, seconds)
        used_ms = (process_cpu_s(pid) - cpu) * 1000.0
        result["server_cpu_ms_per_request"] = used_ms / max(1, result["requests"])
        result["reference_ms"] = speed
        found.append(result)
    return found


def _server_pass(
    kafka: KafkaSettings,
    redis_url: str,
    home: Path,
    *,
    console: bool,
    seconds: float,
    passes: int,
) -> dict[str, Any]:
    """Start one ``verdict serve``; measure it at 1,000/s ``passes`` times, then saturated;
    stop it."""
    redis.Redis.from_url(redis_url).flushdb()
    port = _free_port()
    name = "console" if console else "no-console"
    env = dict(
        os.environ,
        VERDICT_KAFKA__URL=kafka.url,
        VERDICT_REDIS__URL=redis_url,
        VERDICT_STREAM__APP_ID=f"bench-inline-{port}",
        VERDICT_STREAM__DATA_DIR=str(home / f"worker-{port}"),
        VERDICT_API__CONSOLE=str(console).lower(),
        VERDICT_API__MAX_REQUESTS_PER_S="0",  # saturation is measured, not the rate limit
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "verdict.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    found: dict[str, Any] = {}
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        # imports, JIT, connections, and the stream worker joining its group (~4 s on Tansu)
        _client(port, f"warm-{name}", 200, WARM_UP_S)
        found["load_before_steady"] = os.getloadavg()[0]
        steady = _steady(server.pid, port, name, seconds, passes)
        found["steady"] = median_pass(steady)
        found["steady_passes"] = [{k: round(p[k], 4) for k in PASS_KEYS} for p in steady]
        found["load_before_saturation"] = os.getloadavg()[0]
        if shutil.which("wrk"):
            found["saturation"] = _wrk(url, seconds / 2, 32, WRK_SCRIPT)
            found["saturated_by"] = "wrk (C, 1 thread)"
            if console:
                found["healthz"] = _wrk(f"{url}/healthz", seconds / 4, 32, None)
        else:
            closed = _client(port, f"saturation-{name}", 0, seconds / 2, 32)
            found["saturation"] = {"per_s": closed["per_s"], "errors": closed["errors"]}
            found["saturated_by"] = "the Python client, closed loop (wrk is not installed)"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return found


def run(ctx: BenchContext) -> BenchResult:
    """Open loop at 1,000 requests/s, then saturation, against one ``verdict serve`` with the
    alert console (the default) and one without."""
    seconds = 5.0 if ctx.quick else 20.0
    passes = 1 if ctx.quick else STEADY_PASSES
    redis_url = url_with_db(ctx.settings.redis.url, DB)
    with tempfile.TemporaryDirectory() as home:
        kafka = KafkaSettings(url=f"kafka://127.0.0.1:{_free_port()}")
        broker = EmbeddedBroker(kafka, StackSettings(home=Path(home)))
        broker.start()
        try:
            ensure_topics(kafka, ["transactions", "customers", "labels", "offer-responses",
                                  "decisions", "alerts", "triggers", "dead-letters"])  # fmt: skip
            main = _server_pass(
                kafka, redis_url, Path(home), console=True, seconds=seconds, passes=passes
            )
            bare = _server_pass(
                kafka, redis_url, Path(home), console=False, seconds=seconds, passes=passes
            )
        finally:
            broker.stop()
            redis.Redis.from_url(redis_url).flushdb()
    steady, lean = main["steady"], bare["steady"]
    report = _plot(steady, lean, ctx.out_dir / PLOT, seconds)
    baseline = {
        **pass_numbers("at_1000_rps", main["steady_passes"]),
        "at_1000_rps_achieved_per_s": steady["per_s"],
        **pass_numbers("no_console_at_1000_rps", bare["steady_passes"]),
        "no_console_saturation_decisions_per_s": bare["saturation"]["per_s"],
    }
    del baseline["at_1000_rps_server_p99_ms"], baseline["at_1000_rps_client_p99_ms"]  # metrics
    errors = sum(p["errors"] for part in (main, bare) for p in part["steady_passes"])
    if "healthz" in main:
        baseline["saturation_wrk_p99_ms"] = main["saturation"]["p99_ms"]
        baseline["healthz_wrk_per_s"] = main["healthz"]["per_s"]
    loads = {
        f"{name}_{k}": v
        for name, part in (("console", main), ("no_console", bare))
        for k, v in part.items()
        if k.startswith("load")
    }
    return BenchResult(
        name="inline",
        metrics={
            "at_1000_rps_server_p99_ms": median(main["steady_passes"], "server_p99_ms"),
            "at_1000_rps_client_p99_ms": median(main["steady_passes"], "client_p99_ms"),
            "at_1000_rps_errors": errors,
            "saturation_decisions_per_s": main["saturation"]["per_s"],
            "saturation_errors": main["saturation"]["errors"] + bare["saturation"]["errors"],
        },
        baseline=baseline,
        goals={
            "at_1000_rps_server_p99_ms": "<= 2",
            "at_1000_rps_client_p99_ms": "<= 5",
            "at_1000_rps_errors": "<= 0",
            "saturation_decisions_per_s": ">= 3000",
            "saturation_errors": "<= 0",
        },
        notes=[
            f"{steady['requests']:,} requests open loop at 1,000/s for {seconds:.0f} s, "
            f"{passes} time(s) on each server (the median of each percentile is reported; "
            "`*_min`/`*_max`: the range over the passes), by a lean "
            "HTTP/1.1 generator in its own process (benchmarks/http_load.py: kept-alive "
            "connections, uvloop, its collector off; every latency kept, counted from when "
            "each request was due; `generator_late_p99_ms` is how late it sent them itself); "
            f"saturation: 32 connections for {seconds / 2:.0f} s, by {main['saturated_by']}",
            "two passes, each on a `verdict serve` of its own (API + stream worker + "
            "publisher, one process, uvloop) on one embedded broker and Redis db 13, flushed "
            "between: the metrics are the default worker's, with the alert console, which "
            "reads every decision of the cluster back from Kafka; `no_console_*` is a worker "
            "with `VERDICT_API__CONSOLE=false`, as the README advises for the workers that "
            "answer payments",
            "healthz_wrk_per_s: the same server answering GET /healthz, the framework's ceiling "
            "on this machine in the same run",
            "concurrent requests are decided in batches (decisions/batching.py), a batch of "
            "8 or more in two steps: sent to Redis, the loop serving other requests until the "
            "answer is in; server time from the Server-Timing header (routing to response); "
            "exact percentiles",
            "the API's request limit is off in both servers (VERDICT_API__MAX_REQUESTS_PER_S=0; "
            "its default, 5,000/s, would answer 429 above it), and only 2xx answers count as "
            "decisions",
            "for scale: Stripe Radar decides in under 100 ms, FICO Falcon in 40-60 ms, Tazama's "
            "per-stage p99 is 12-56 ms",
            "server_cpu_ms_per_request: CPU the whole server process (API, stream worker, "
            "publisher) used in a pass, per request; reference_ms: the machine's speed just "
            "before the pass (a fixed pure-Python workload, lower is faster)",
            "passes (console, then without): "
            + "; ".join(pass_line(p) for p in (*main["steady_passes"], *bare["steady_passes"])),
            "load average (1 min) before each part, on this shared 2-core machine: "
            + ", ".join(f"{k} {v:.2f}" for k, v in loads.items())
            + " (above 2, other jobs took CPU from the server and the client)",
        ],
        report=report,
    )


def _plot(steady: dict[str, Any], lean: dict[str, Any], path: Path, seconds: float) -> str:
    """The latency histogram of the open-loop runs; the report's text that shows it."""
    if not plots.available():
        return f"({plots.SKIPPED})"
    plots.latency_histogram(
        path,
        {
            "client, from when due": steady["client_ms"],
            "server, Server-Timing": steady["server_ms"],
            "client, worker without console": lean["client_ms"],
            "server, worker without console": lean["server_ms"],
        },
        f"verdict bench inline: POST /v1/decisions at 1,000 requests/s for {seconds:.0f} s "
        "(open loop)",
        goals=GOALS_MS,
    )
    return f"![latency histogram at 1,000 requests/s]({path.name})"
