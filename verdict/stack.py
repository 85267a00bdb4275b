"""The embedded stack of one machine: ``verdict stack up | down | status``.

:class:`EmbeddedStack` brings up what Verdict needs where the settings point: the broker at
``kafka.url`` and Redis at ``redis.url``. A service that already answers there is *external* and
left alone; otherwise the stack starts the embedded one (see :mod:`verdict.embedded`), keeps a
pid file and a log under ``stack.home``, and creates the topics of the event contracts. A second
``up`` changes nothing; ``down`` stops exactly what the stack started.

Everything else in Verdict talks to Kafka and Redis by URL, so the same engine runs on Apache
Kafka and a Redis cluster in production, where this module is simply not used.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from rich import box
from rich.table import Table

from events.topics import ALL_TOPICS
from streams.admin import ensure_topics
from verdict.embedded import EmbeddedBroker, EmbeddedRedis
from verdict.services import ALREADY_RUNNING, EMBEDDED, STARTED, ServiceStatus
from verdict.settings import Settings


def format_uptime(seconds: float) -> str:
    """A short human duration.

    >>> format_uptime(42.4), format_uptime(3725), format_uptime(2 * 86400 + 3 * 3600)
    ('42s', '1h 2m', '2d 3h')
    """
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@dataclass(frozen=True)
class StackStatus:
    """What the stack's services are doing, and what the last command changed.

    Attributes
    ----------
    services
        One status per service (broker first).
    home
        The stack's folder (pid files, logs, Redis data).
    topics_created
        Topics ``up`` created (empty for ``status`` and when all existed).
    summary
        One line on what the command did (``nothing to do: already running``...).
    """

    services: tuple[ServiceStatus, ...]
    home: str
    topics_created: tuple[str, ...] = ()
    summary: str = ""

    def service(self, name: str) -> ServiceStatus:
        """The status of the service called ``name`` (``broker`` or ``redis``)."""
        for status in self.services:
            if status.name == name:
                return status
        raise KeyError(name)

    @property
    def started(self) -> tuple[str, ...]:
        """Names of the services this command started."""
        return tuple(status.name for status in self.services if status.started_now)

    @property
    def all_running(self) -> bool:
        """Whether every service is up."""
        return all(status.running for status in self.services)

    def render(self, now: datetime | None = None) -> Table:
        """A table a person reads in a second: service, state, address, pid, since and uptime.

        The state is who runs the service: ``embedded`` (this stack), ``external`` (something
        else answers at the configured address) or ``stopped``. The caption says what the
        command did and anything odd about a service.
        """
        now = now or datetime.now(UTC)
        table = Table(
            title=f"Verdict stack ({self.home})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        table.add_column("service", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("address", no_wrap=True)
        table.add_column("pid", no_wrap=True, justify="right")
        table.add_column("since", no_wrap=True)
        for status in self.services:
            colour = "green" if status.running else "red"
            table.add_row(
                status.name,
                f"[{colour}]{status.origin if status.running else status.state}[/{colour}]",
                status.address,
                str(status.pid) if status.pid is not None else "-",
                _since(status.started_at, now),
            )
        lines = [self.summary] if self.summary else []
        lines += [
            f"{status.name}: {status.note}"
            for status in self.services
            if status.note not in ("", STARTED, ALREADY_RUNNING)  # the summary says those
        ]
        if self.topics_created:
            lines.append(f"created topics: {', '.join(self.topics_created)}")
        table.caption = "\n".join(lines) or None
        table.caption_justify = "left"
        return table


def _since(started_at: datetime | None, now: datetime) -> str:
    """Local start time (with the date unless today) and uptime."""
    if started_at is None:
        return "-"
    local = started_at.astimezone()
    shown = (
        f"{local:%H:%M:%S}"
        if local.date() == now.astimezone().date()
        else f"{local:%Y-%m-%d %H:%M}"
    )
    return f"{shown}, up {format_uptime((now - started_at).total_seconds())}"


class EmbeddedStack:
    """Start, stop and report the broker and Redis of one machine.

    Parameters
    ----------
    settings
        All settings: ``kafka`` and ``redis`` say where the services are, ``stack`` where the
        pid files, logs and data go and how long to wait.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.stack.home.absolute()
        self.broker = EmbeddedBroker(settings.kafka, settings.stack)
        self.redis = EmbeddedRedis(settings.redis, settings.stack)

    def up(self) -> StackStatus:
        """Start what does not run yet and create the topics; a no-op when all runs.

        Raises
        ------
        StackError
            When a service cannot be started (the ``embedded`` extra is missing, a configured
            remote service does not answer, the port is taken, it did not answer in time).
        """
        with self._locked():
            broker = self.broker.start()
            redis: ServiceStatus | None = None
            try:
                redis = self.redis.start()
                created = ensure_topics(self.settings.kafka, ALL_TOPICS)
            except BaseException:
                # A failed ``up`` leaves nothing half-started behind.
                if redis is not None and redis.started_now:
                    self.redis.stop()
                if broker.started_now:
                    self.broker.stop()
                raise
        status = StackStatus((broker, redis), str(self.home), tuple(created))
        if status.started:
            summary = f"started: {', '.join(status.started)}"
        else:
            summary = f"nothing to do: {ALREADY_RUNNING}"
        return replace(status, summary=summary)

    def down(self) -> list[str]:
        """Stop what the stack started (never an external service); one line per service."""
        with self._locked():
            return [self.redis.stop(), self.broker.stop()]

    def status(self) -> StackStatus:
        """What runs, where, and since when (a stale pid file is removed on the way)."""
        services = (self.broker.status(), self.redis.status())
        embedded = sum(status.origin == EMBEDDED for status in services)
        summary = f"{embedded} of {len(services)} services run embedded from this home"
        return StackStatus(services, str(self.home), summary=summary)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up`` or ``down`` at a time per stack home."""
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "stack.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
