"""The measurements of ``verdict bench replay``, each on servers of its own.

- :func:`cached_stream`: ``verdict simulate`` once per set of parameters, kept under
  :data:`STREAM_CACHE` (a later run reads the files again instead of simulating);
- :func:`private_broker`: an embedded broker on a free port with Verdict's topics, stopped
  after the phase (it keeps everything in memory: each phase gets a fresh one);
- :func:`private_redis`: a ``redis-server`` on a free port, without persistence, as the local
  Redis of this machine runs;
- :func:`read_merged`, :func:`raw_send_batch`, :func:`raw_send`, :func:`replay`: the replay
  and its baselines;
- :func:`run_backtest`: ``verdict backtest`` as a process of its own, sampled while it runs
  (decisions written, resident memory of it and its feature stage), its peak RSS the largest
  of the samples and the kernel's (``wait4``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from events import topics
from replay.backtest import BacktestFiles
from replay.producer import ReplaySummary, replay_files
from replay.simulator.config import SimulationConfig
from replay.simulator.run import (
    CUSTOMERS_FILE,
    LABELS_FILE,
    SUMMARY_FILE,
    TRANSACTIONS_FILE,
    simulate,
)
from replay.sources import BadLine, merge_by_time, read_records
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from verdict.embedded import EmbeddedBroker
from verdict.settings import StackSettings

ROOT: Final = Path(__file__).resolve().parent.parent
STREAM_CACHE: Final = Path(tempfile.gettempdir()) / "verdict-bench-replay"
#: Seconds between two samples of a running backtest.
SAMPLE_S: Final = 1.0
#: The producer settings of :func:`replay.producer.publish`, for the raw baselines.
PRODUCER: Final[dict[str, Any]] = {"acks": 1, "linger_ms": 5, "max_batch_size": 512 * 1024}
#: One message of the raw baselines: topic, key, value.
Raw = tuple[str, bytes, bytes]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Stream:
    """A simulated bank's three files and what the simulator said of them."""

    folder: Path
    summary: dict[str, Any]
    simulate_s: float  # 0.0 when the files came from the cache

    @property
    def paths(self) -> list[Path]:
        """Transactions, labels, customers: what ``verdict replay`` is given."""
        return [self.folder / name for name in (TRANSACTIONS_FILE, LABELS_FILE, CUSTOMERS_FILE)]

    @property
    def files(self) -> BacktestFiles:
        """The same files, as ``verdict backtest`` takes them."""
        return BacktestFiles(*self.paths)

    @property
    def events(self) -> int:
        """Lines of the three files together."""
        body = self.summary
        return int(body["transactions"]) + int(body["labels"]) + int(body["customers"])


def cached_stream(customers: int, terminals: int, days: int, seed: int = 0) -> Stream:
    """The handbook's simulated bank of this size, from the cache or simulated into it."""
    folder = STREAM_CACHE / f"sim-c{customers}-t{terminals}-d{days}-seed{seed}"
    seconds = 0.0
    if not (folder / SUMMARY_FILE).exists():  # written last: its presence means complete
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        config = SimulationConfig(customers=customers, terminals=terminals, days=days, seed=seed)
        started = time.perf_counter()
        simulate(config, partial, progress=False)
        seconds = time.perf_counter() - started
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return Stream(folder, orjson.loads((folder / SUMMARY_FILE).read_bytes()), seconds)


@contextlib.contextmanager
def private_broker(home: Path) -> Iterator[KafkaSettings]:
    """A fresh embedded broker on a free port, Verdict's topics created; stopped afterwards."""
    kafka = KafkaSettings(url=f"kafka://127.0.0.1:{free_port()}")
    broker = EmbeddedBroker(kafka, StackSettings(home=home, start_timeout_s=30.0))
    broker.start()
    try:
        ensure_topics(kafka, topics.ALL_TOPICS)
        yield kafka
    finally:
        broker.stop()


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    """A ``redis-server`` on a free port without persistence; its URL (database 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    command = [
        binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", str(folder), "--daemonize", "no", "--logfile", "redis.log",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=5.0)
    try:
        deadline = time.monotonic() + 20.0
        while True:
            with contextlib.suppress(redis.RedisError, OSError):
                if client.ping():
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} did not start")
            time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def redis_memory(url: str) -> dict[str, float]:
    """``used_memory`` and ``used_memory_peak`` of a Redis, in MiB; its keys."""
    client = redis.Redis.from_url(url, socket_timeout=10.0)
    try:
        info = client.info("memory")
        return {
            "used_mib": int(info["used_memory"]) / 2**20,
            "peak_mib": int(info["used_memory_peak"]) / 2**20,
            "keys": float(client.dbsize()),
        }
    finally:
        client.close()


# -- the replay and its baselines ---------------------------------------------------------


@dataclass
class Timed:
    """Events done, in how long, and (seconds since the start, events so far) along the way."""

    events: int
    seconds: float
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _refuse(line: BadLine) -> None:
    raise RuntimeError(f"the simulated stream has a bad line: {line}")


def read_merged(paths: Sequence[Path]) -> tuple[Timed, list[Raw]]:
    """What the replay reads, validates and merges, without a broker: timed, and the
    (topic, key, value) of every record in the order the replay publishes them."""
    started = time.perf_counter()
    streams = [read_records(path, on_bad=_refuse) for path in paths]
    raw = [(record.topic, record.key, record.value) for record in merge_by_time(streams)]
    return Timed(len(raw), time.perf_counter() - started), raw


def replay(paths: Sequence[Path], kafka: KafkaSettings) -> tuple[Timed, ReplaySummary]:
    """``verdict replay --speed max`` (the function the command runs), sampled every 2,000."""
    samples = [(0.0, 0)]
    started = time.perf_counter()

    def progress(count: int) -> None:
        samples.append((time.perf_counter() - started, samples[-1][1] + count))

    summary = replay_files(paths, kafka.bootstrap_servers, on_progress=progress)
    return Timed(summary.total, summary.seconds, samples), summary


async def _producer(kafka: KafkaSettings) -> tuple[AIOKafkaProducer, dict[str, list[int]]]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **PRODUCER)
    await producer.start()
    partitions = {name: sorted(await producer.partitions_for(name)) for name in topics.INPUT_TOPICS}
    return producer, partitions


def raw_send_batch(raw: Sequence[Raw], kafka: KafkaSettings) -> Timed:
    """Baseline: the same bytes, keys and partitions through aiokafka's batch API, nothing
    read or checked (a batch per partition, sent when full, as the replay does)."""
    return asyncio.run(_raw_send_batch(raw, kafka))


async def _raw_send_batch(raw: Sequence[Raw], kafka: KafkaSettings) -> Timed:
    producer, partitions = await _producer(kafka)
    partitioner = DefaultPartitioner()
    try:
        started = time.perf_counter()
        open_batches: dict[tuple[str, int], BatchBuilder] = {}
        in_flight: list[asyncio.Future[object]] = []

        async def send(slot: tuple[str, int]) -> None:
            future = await producer.send_batch(open_batches.pop(slot), slot[0], partition=slot[1])
            in_flight.append(future)
            if len(in_flight) > 64:
                await asyncio.gather(*in_flight)
                in_flight.clear()

        for topic, key, value in raw:
            numbers = partitions[topic]
            slot = (topic, partitioner(key, numbers, numbers))
            batch = open_batches.get(slot) or producer.create_batch()
            open_batches[slot] = batch
            if batch.append(key=key, value=value, timestamp=None) is None:
                await send(slot)
                open_batches[slot] = batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for slot in list(open_batches):
            await send(slot)
        await asyncio.gather(*in_flight)
        return Timed(len(raw), time.perf_counter() - started)
    finally:
        await producer.stop()


def raw_send(raw: Sequence[Raw], kafka: KafkaSettings) -> Timed:
    """Baseline: the same bytes and keys with aiokafka's plain ``send``, one call each."""
    return asyncio.run(_raw_send(raw, kafka))


async def _raw_send(raw: Sequence[Raw], kafka: KafkaSettings) -> Timed:
    producer, _ = await _producer(kafka)
    try:
        started = time.perf_counter()
        pending: list[asyncio.Future[Any]] = []
        for topic, key, value in raw:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return Timed(len(raw), time.perf_counter() - started)
    finally:
        await producer.stop()


# -- verdict backtest ---------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestRun:
    """One ``verdict backtest``: wall time, peak RSS, its ``--report`` and samples
    (seconds since the start, decisions written so far, resident bytes)."""

    state: str
    wall_s: float
    peak_rss_bytes: int
    report: dict[str, Any]
    samples: list[tuple[float, float, int]]

    @property
    def deciding_s(self) -> float:
        """Seconds the command itself counts as deciding (reading, merging included)."""
        return float(self.report["run"]["seconds"])

    @property
    def decisions(self) -> int:
        """Transactions decided."""
        return int(self.report["run"]["decisions"])

    @property
    def processes(self) -> int:
        """Processes the command ran on (the feature stage in a second one, or not)."""
        return int(self.report["run"].get("processes", 1))


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its children (a backtest's feature stage)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    return _rss(pid) + sum(_tree_rss(child) for child in children)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def run_backtest(
    stream: Stream,
    folder: Path,
    state: str,
    env: Mapping[str, str] | None = None,
    processes: int | None = None,
) -> BacktestRun:
    """``verdict backtest FILE --labels --customers --state STATE [--processes N]`` (the
    command's defaults otherwise) as a process of its own; its decisions file is deleted
    afterwards. Resident memory counts the command's feature stage too."""
    name = state if processes is None else f"{state}-{processes}"
    out, report = folder / f"decisions-{name}.jsonl", folder / f"backtest-{name}.json"
    tx_file, labels, customers = stream.paths
    command = [
        sys.executable, "-m", "verdict.cli", "backtest", str(tx_file), "--labels", str(labels),
        "--customers", str(customers), "--out", str(out), "--state", state,
        "--report", str(report), "--no-progress",
        *(() if processes is None else ("--processes", str(processes))),
    ]  # fmt: skip
    log = folder / f"backtest-{name}.log"
    sizes: list[tuple[float, int, int]] = []
    with log.open("wb") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env or os.environ), stdout=handle, stderr=subprocess.STDOUT
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            sizes.append((time.perf_counter() - started, _size(out), _tree_rss(process.pid)))
            time.sleep(SAMPLE_S)
    wall_s = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 already
    if process.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"verdict backtest ({name}) failed:\n" + "\n".join(tail))
    body: dict[str, Any] = orjson.loads(report.read_bytes())
    bytes_per_decision = _size(out) / max(1, int(body["run"]["decisions"]))
    out.unlink()  # gigabytes at full size
    samples = [(t, size / bytes_per_decision, rss) for t, size, rss in sizes]
    peak = max([usage.ru_maxrss * 1024, *(rss for _, _, rss in samples)])
    return BacktestRun(state, wall_s, peak, body, samples)
