"""Detached service processes of the embedded stack: pid files, start, readiness, stop.

A pid file is a small JSON document (:class:`PidRecord`): the pid, when the process started,
the address it serves, its command line and its log. A record is trusted only while its process
is alive, not a zombie, and still runs the same program at the same address (read from
``/proc/<pid>/cmdline``), so a pid reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from events.errors import VerdictError

_POLL_S = 0.05
_RUN_MARK = "--- started "  # first line of each run in a service's log
_PROC = Path("/proc")

# Children this process started and has not reaped yet, so that stopping one reaps it and
# the interpreter does not warn that a subprocess is "still running".
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(VerdictError):
    """The embedded stack could not do what it was asked."""

    code = "stack_error"


class ServiceStartError(StackError):
    """A service of the stack did not start or did not answer in time."""

    code = "service_start_failed"


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says about a running service.

    >>> record = PidRecord("broker", 42, "2026-01-02T03:04:05+00:00", "kafka://127.0.0.1:9092",
    ...                    ("tansu", "broker"), "/tmp/broker.log")
    >>> PidRecord.parse(record.to_json()) == record
    True
    >>> PidRecord.parse("42") is None
    True
    """

    service: str
    pid: int
    started_at: str
    address: str
    command: tuple[str, ...]
    log: str

    @property
    def started(self) -> datetime:
        """Start time as an aware datetime."""
        return datetime.fromisoformat(self.started_at)

    def to_json(self) -> str:
        """The pid file's text."""
        document: dict[str, Any] = asdict(self)
        document["command"] = list(self.command)
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def parse(cls, text: str) -> PidRecord | None:
        """Read a pid file's text; ``None`` when it is not a valid record (a stale leftover)."""
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        try:
            record = cls(
                service=str(document["service"]),
                pid=document["pid"],
                started_at=str(document["started_at"]),
                address=str(document["address"]),
                command=tuple(str(part) for part in document["command"]),
                log=str(document["log"]),
            )
            aware = record.started.tzinfo is not None
        except (KeyError, TypeError, ValueError):
            return None
        if type(record.pid) is not int or record.pid <= 1 or not aware or not record.command:
            return None
        return record


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``; ``None`` when there is no file or it is unreadable."""
    try:
        return PidRecord.parse(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def write_pid_file(path: Path, record: PidRecord) -> None:
    """Write ``record`` atomically (a reader never sees half a file)."""
    partial = path.with_suffix(".pid.tmp")
    partial.write_text(record.to_json(), encoding="utf-8")
    partial.replace(path)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone; it is reaped if ours)."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but someone else's: never ours to signal, see process_matches
    stat = _PROC / str(pid) / "stat"
    try:
        state = stat.read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) is all we can know
    return state not in ("Z", "X")


def process_matches(pid: int, markers: Sequence[str]) -> bool:
    """Whether ``pid``'s command line contains every marker (program name, address...).

    Without ``/proc`` (not Linux) a live process is trusted.
    """
    if not process_alive(pid):
        return False
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except PermissionError:
        return False
    except OSError:
        return not _PROC.is_dir()
    cmdline = raw.replace(b"\0", b" ").decode("utf-8", "replace")
    return all(marker in cmdline for marker in markers)


def start_detached(command: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session (it outlives us), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"{_RUN_MARK}{now_iso()} {' '.join(command)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            raise ServiceStartError(f"could not run {command[0]}: {error}") from error
    _CHILDREN[child.pid] = child
    return child


def wait_until_ready(
    child: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    log_path: Path,
) -> None:
    """Poll ``ready()`` until it is true; kill the child and raise if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = child.poll()
        if code is not None:
            _CHILDREN.pop(child.pid, None)
            raise ServiceStartError(
                f"{what} exited with status {code} while starting; end of {log_path}:\n"
                + log_tail(log_path)
            )
        if ready():
            return
        if time.monotonic() >= deadline:
            stop_process(child.pid, timeout_s=2.0)
            raise ServiceStartError(
                f"{what} did not answer within {timeout_s:g} s; end of {log_path}:\n"
                + log_tail(log_path)
            )
        time.sleep(_POLL_S)


def stop_process(pid: int, timeout_s: float) -> bool:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Returns False when it had to kill."""
    if not _signal(pid, signal.SIGTERM):
        return True
    deadline = time.monotonic() + timeout_s
    while process_alive(pid):
        if time.monotonic() >= deadline:
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, timeout_s=5.0)
            return False
        time.sleep(_POLL_S)
    return True


def end_child(child: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """End a child process if it still runs: SIGTERM, wait up to ``timeout_s``, then SIGKILL
    (and reap it either way)."""
    if child is None or child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=5)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of the latest run in a log file, indented for a message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "  | (no log)"
    run = text.rstrip("\n").splitlines()
    starts = [i for i, line in enumerate(run) if line.startswith(_RUN_MARK)]
    tail = run[starts[-1] + 1 if starts else 0 :][-lines:]
    return "\n".join(f"  | {line}" for line in tail) or "  | (empty)"


def now_iso() -> str:
    """Now, as an ISO-8601 UTC timestamp with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _signal(pid: int, signum: signal.Signals) -> bool:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    except PermissionError as error:
        raise StackError(f"not permitted to stop process {pid}: {error}") from error
    return True


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_S)


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
