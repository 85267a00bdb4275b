"""A service of the embedded stack: where it is, whether it answers, start, stop, status.

Each service lives where its URL in the settings points (``kafka.url``, ``redis.url``), so the
clients and the stack never disagree about an address. When something already answers there,
the service is *external* and left alone; otherwise, when the address is on loopback, the stack
starts the embedded program there and keeps a pid file and a log under the stack home. The two
concrete services are in :mod:`verdict.embedded`.
"""

from __future__ import annotations

import ipaddress
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from streams.admin import split_host_port
from verdict.processes import (
    PidRecord,
    StackError,
    now_iso,
    process_matches,
    read_pid_file,
    start_detached,
    stop_process,
    wait_until_ready,
    write_pid_file,
)
from verdict.settings import StackSettings

RUNNING = "running"
STOPPED = "stopped"
EMBEDDED = "embedded"
EXTERNAL = "external"
STARTED = "started"
ALREADY_RUNNING = "already running"


class EmbeddedExtraMissingError(StackError):
    """A program of the embedded stack is missing (the ``embedded`` extra is not installed)."""

    code = "embedded_extra_missing"


class ServiceUnreachableError(StackError):
    """A configured service does not answer and is not one the stack may start."""

    code = "service_unreachable"


@dataclass(frozen=True)
class ServiceStatus:
    """What one service of the stack is doing.

    Attributes
    ----------
    name
        ``broker`` or ``redis``.
    state
        ``running`` or ``stopped``.
    address
        Where clients reach it (a URL without credentials).
    origin
        ``embedded`` (the stack runs it), ``external`` (something else does) or empty.
    pid, started_at
        Of the embedded process; ``None`` otherwise.
    note
        What just happened or what is odd (``started``, ``already running``...).
    started_now
        Whether this very call started it.
    """

    name: str
    state: str
    address: str
    origin: str = ""
    pid: int | None = None
    started_at: datetime | None = None
    note: str = ""
    started_now: bool = False

    @property
    def running(self) -> bool:
        """Whether the service is up (embedded or external)."""
        return self.state == RUNNING


def loopback_bind_host(host: str) -> str | None:
    """The IPv4 address to bind for ``host`` when it is this machine, else ``None``.

    >>> loopback_bind_host("localhost"), loopback_bind_host("127.0.0.2")
    ('127.0.0.1', '127.0.0.2')
    >>> loopback_bind_host("10.1.2.3") is None, loopback_bind_host("kafka.internal") is None
    (True, True)
    """
    if host.lower() in ("localhost", "::1"):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return host if address.version == 4 and address.is_loopback else None


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedService(ABC):
    """One service of the stack: its pid file, its log, how to probe, start and stop it."""

    name: str

    def __init__(self, stack: StackSettings, host: str, port: int) -> None:
        self.stack = stack
        self.home = stack.home.absolute()
        self.host = host
        self.port = port
        self.pid_path = self.home / f"{self.name}.pid"
        self.log_path = self.home / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> str:
        """The configured address, without credentials."""

    @abstractmethod
    def answers(self) -> bool:
        """Whether the service answers at its configured address (one short probe)."""

    @abstractmethod
    def command(self, bind: str) -> list[str]:
        """The command line that starts the embedded program on ``bind:port``."""

    def redacted(self, command: list[str]) -> tuple[str, ...]:
        """``command`` as it may be written to the pid file (no secrets)."""
        return tuple(command)

    def owned(self) -> tuple[PidRecord | None, str]:
        """The record of the process the stack runs, or ``None`` and a note on any leftover."""
        if not self.pid_path.exists():
            return None, ""
        record = read_pid_file(self.pid_path)
        if record is None:
            self.pid_path.unlink(missing_ok=True)
            return None, "unreadable pid file removed"
        try:
            _, port = split_host_port(record.address.partition("://")[2])
        except ValueError:
            port = -1
        # The program's name and its port in the command line: a pid reused by another
        # process is never taken for ours (redis-server retitles itself "redis-server host:port").
        markers = [Path(record.command[0]).name, str(port)] if record.command else []
        if record.service != self.name or port < 0 or not process_matches(record.pid, markers):
            self.pid_path.unlink(missing_ok=True)
            return None, f"stale pid file removed (pid {record.pid} is not our {self.name})"
        return record, ""

    def status(self) -> ServiceStatus:
        """What runs at the service's address, and who runs it."""
        record, note = self.owned()
        if record is not None:
            if not self._configured(record):
                return self._embedded(record, f"the settings point at {self.address}")
            return self._embedded(record, "" if self.answers() else "not answering")
        if self.answers():
            return ServiceStatus(self.name, RUNNING, self.address, EXTERNAL, note=note)
        return ServiceStatus(self.name, STOPPED, self.address, note=note)

    def start(self) -> ServiceStatus:
        """Start the embedded program unless the service already runs (ours or external)."""
        record, note = self.owned()
        if record is not None:
            if not self._configured(record):
                raise StackError(
                    f"the stack's {self.name} runs at {record.address} (pid {record.pid}) but the "
                    f"settings point at {self.address}: run `verdict stack down` first"
                )
            return self._embedded(record, ALREADY_RUNNING)
        if self.answers():
            return ServiceStatus(self.name, RUNNING, self.address, EXTERNAL, note="external")
        bind = loopback_bind_host(self.host)
        if bind is None:
            raise ServiceUnreachableError(
                f"{self.name} at {self.address} does not answer, and the embedded {self.name} "
                "runs only on this machine (a loopback address): start it or fix the URL"
            )
        if port_in_use(bind, self.port):
            raise StackError(
                f"{bind}:{self.port} is taken by something that does not answer as the "
                f"configured {self.name} ({self.address}); stop it or choose another port"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        command = self.command(bind)
        child = start_detached(command, self.log_path)
        record = PidRecord(
            service=self.name,
            pid=child.pid,
            started_at=now_iso(),
            address=f"{self.address.partition('://')[0]}://{bind}:{self.port}",
            command=self.redacted(command),
            log=str(self.log_path),
        )
        write_pid_file(self.pid_path, record)
        try:
            wait_until_ready(
                child, self.answers, self.stack.start_timeout_s, f"the {self.name}", self.log_path
            )
        except StackError:
            self.pid_path.unlink(missing_ok=True)
            raise
        return self._embedded(record, STARTED + (f"; {note}" if note else ""), started_now=True)

    def stop(self) -> str:
        """Stop the embedded program if the stack runs it; one line saying what happened."""
        record, note = self.owned()
        if record is None:
            if note:
                return f"{self.name}: {note}"
            if self.answers():
                return f"{self.name}: external at {self.address}, left alone"
            return f"{self.name}: not running"
        graceful = stop_process(record.pid, self.stack.stop_timeout_s)
        self.pid_path.unlink(missing_ok=True)
        how = (
            "stopped"
            if graceful
            else f"killed (no exit {self.stack.stop_timeout_s:g} s after SIGTERM)"
        )
        return f"{self.name}: {how}, pid {record.pid} at {record.address}"

    def _configured(self, record: PidRecord) -> bool:
        """Whether ``record`` serves the configured port (the bind host is always loopback)."""
        return record.address.rpartition(":")[2] == str(self.port)

    def _embedded(self, record: PidRecord, note: str, started_now: bool = False) -> ServiceStatus:
        return ServiceStatus(
            self.name,
            RUNNING,
            record.address,
            EMBEDDED,
            record.pid,
            record.started,
            note,
            started_now,
        )
