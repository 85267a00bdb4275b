"""Synchronous Kafka tooling: is the broker there, wait for it, create the topics we need.

Used by the embedded stack, readiness checks and the replay producer; the stream workers
themselves use faust. Everything talks to the broker by the URL in
:class:`~streams.settings.KafkaSettings`, so the same code runs on the embedded broker and on
Apache Kafka.

The reachability probe is a raw ``ApiVersions`` v0 request on a plain socket: every Kafka
broker answers it (it is how clients negotiate versions), it costs one round trip, and it fails
at once on a closed port. kafka-python's admin client is only built once the probe says yes:
building one against an absent broker waits for its whole bootstrap timeout (and kafka-python
3.0 leaves an I/O thread behind each time).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from events.errors import DependencyUnavailableError
from streams.settings import KafkaSettings

_API_VERSIONS = 18
_METADATA = 3
_CLIENT_ID = b"verdict-probe"
_POLL_S = 0.1


class BrokerUnavailableError(DependencyUnavailableError):
    """The broker did not answer (in time) at the configured URL."""

    code = "broker_unavailable"


def split_host_port(entry: str, default_port: int = 9092) -> tuple[str, int]:
    """Split one ``host:port`` bootstrap entry; IPv6 hosts come in brackets.

    >>> split_host_port("127.0.0.1:9093")
    ('127.0.0.1', 9093)
    >>> split_host_port("[::1]:9092")
    ('::1', 9092)
    >>> split_host_port("broker")
    ('broker', 9092)
    """
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:
        host, port_text = entry, ""
    if not host:
        raise ValueError(f"{entry!r} names no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{entry!r} has no valid port")
    return host, int(port_text)


def api_versions_request(correlation_id: int) -> bytes:
    """The bytes of an ``ApiVersions`` v0 request (size-prefixed, empty body).

    >>> request = api_versions_request(7)
    >>> struct.unpack(">ihhi", request[:12])  # size, api key, api version, correlation id
    (23, 18, 0, 7)
    """
    header = struct.pack(">hhih", _API_VERSIONS, 0, correlation_id, len(_CLIENT_ID)) + _CLIENT_ID
    return struct.pack(">i", len(header)) + header


def parse_api_versions(payload: bytes, correlation_id: int) -> dict[int, tuple[int, int]]:
    """The API keys a broker supports, from an ``ApiVersions`` response (without its size).

    Raises ``ValueError`` when the bytes are not the answer to our request.

    >>> body = struct.pack(">ihi", 7, 0, 1) + struct.pack(">hhh", 3, 0, 12)
    >>> parse_api_versions(body, 7)
    {3: (0, 12)}
    """
    if len(payload) < 10:
        raise ValueError("short ApiVersions response")
    got_id, error_code, count = struct.unpack_from(">ihi", payload)
    if got_id != correlation_id:
        raise ValueError(f"correlation id {got_id}, expected {correlation_id}")
    if error_code != 0:
        raise ValueError(f"ApiVersions error code {error_code}")
    if count < 0 or len(payload) < 10 + 6 * count:
        raise ValueError("truncated ApiVersions response")
    versions: dict[int, tuple[int, int]] = {}
    for index in range(count):
        key, low, high = struct.unpack_from(">hhh", payload, 10 + 6 * index)
        versions[key] = (low, high)
    return versions


def _probe(host: str, port: int, timeout_s: float) -> bool:
    correlation_id = int(time.monotonic_ns() & 0x7FFFFFFF)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(api_versions_request(correlation_id))
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            if not 0 < size < 1 << 20:
                return False
            versions = parse_api_versions(_read_exactly(sock, size), correlation_id)
    except (OSError, ValueError, struct.error):
        return False
    return _METADATA in versions


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ValueError("connection closed mid-response")
        chunks += chunk
    return bytes(chunks)


def broker_reachable(settings: KafkaSettings, timeout_s: float = 1.0) -> bool:
    """Whether any bootstrap server answers a Kafka ``ApiVersions`` request.

    Parameters
    ----------
    settings
        Where the broker is.
    timeout_s
        Budget of each connection attempt (connect and answer).

    Returns
    -------
    bool
        True when a server speaks the Kafka protocol and offers metadata requests.
    """
    return any(
        _probe(*split_host_port(entry), timeout_s=timeout_s) for entry in settings.bootstrap_servers
    )


@contextmanager
def admin_client(settings: KafkaSettings, timeout_s: float | None = None) -> Iterator[Any]:
    """A kafka-python ``KafkaAdminClient`` for ``settings``, closed on exit.

    Raises :class:`BrokerUnavailableError` when no bootstrap server answers.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    budget_s = settings.request_timeout_s if timeout_s is None else timeout_s
    if not broker_reachable(settings, timeout_s=min(budget_s, 2.0)):
        raise BrokerUnavailableError(f"no Kafka broker answers at {settings.url}")
    try:
        client = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="verdict-admin",
            request_timeout_ms=int(settings.request_timeout_s * 1000),
            bootstrap_timeout_ms=int(budget_s * 1000),
        )
    except KafkaError as error:
        raise BrokerUnavailableError(f"broker at {settings.url}: {error}") from error
    try:
        yield client
    finally:
        client.close()


def wait_for_broker(settings: KafkaSettings, timeout_s: float) -> None:
    """Block until the broker answers a metadata request, or raise.

    Parameters
    ----------
    settings
        Where the broker is.
    timeout_s
        How long to keep trying.

    Raises
    ------
    BrokerUnavailableError
        When no metadata answer came within ``timeout_s``.
    """
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last_problem = "it never answered"
    while True:
        remaining = deadline - time.monotonic()
        if broker_reachable(settings, timeout_s=max(min(remaining, 1.0), 0.05)):
            try:
                with admin_client(settings, timeout_s=max(min(remaining, 5.0), 0.5)) as admin:
                    admin.describe_cluster()
                return
            except (KafkaError, BrokerUnavailableError) as error:
                last_problem = str(error)
        if time.monotonic() >= deadline:
            raise BrokerUnavailableError(
                f"no Kafka broker answered at {settings.url} within {timeout_s:g} s "
                f"({last_problem})"
            )
        time.sleep(_POLL_S)


def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], partitions: int | None = None
) -> list[str]:
    """Create the topics that do not exist yet; leave existing ones as they are.

    Parameters
    ----------
    settings
        Where the broker is; ``settings.partitions`` and ``settings.replication_factor`` are
        the defaults of new topics.
    topics
        Topic names.
    partitions
        Partitions of each new topic, when not ``settings.partitions``.

    Returns
    -------
    list[str]
        The topics this call created, in the order given (empty when all existed).
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = list(dict.fromkeys(topics))
    count = settings.partitions if partitions is None else partitions
    created: list[str] = []
    with admin_client(settings) as admin:
        existing = set(admin.list_topics())
        for name in wanted:
            if name in existing:
                continue
            new_topic = NewTopic(
                name, num_partitions=count, replication_factor=settings.replication_factor
            )
            try:
                admin.create_topics([new_topic])
            except TopicAlreadyExistsError:
                continue  # someone else created it in the meantime: that is what we wanted
            except KafkaError as error:
                raise BrokerUnavailableError(f"could not create topic {name!r}: {error}") from error
            created.append(name)
    return created
