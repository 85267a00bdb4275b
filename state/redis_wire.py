"""One round trip for many commands: packed RESP out, hiredis-parsed replies in.

redis-py's pipeline spends ~10 µs of Python per command; the stream path sends 3-4 commands
per transaction, so it writes the protocol itself (one ``bytes`` per command, joined into one
write) and reads the replies with the connection's parser. Every failure of the connection
(refused, reset, timed out) becomes :class:`~state.store.FeatureStoreUnavailable` within the
configured timeouts, and the connection is dropped rather than reused half-read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.retry import Retry

from state.settings import RedisSettings
from state.store import FeatureStoreUnavailable


def client_from_settings(settings: RedisSettings) -> redis.Redis:
    """A client that gives up after the configured timeouts, without retrying."""
    return redis.Redis.from_url(
        settings.url,
        socket_connect_timeout=settings.connect_timeout_s,
        socket_timeout=settings.socket_timeout_s,
        max_connections=settings.max_connections,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def url_with_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` (``redis://``, ``rediss://`` or ``unix://``).

    >>> url_with_db("redis://127.0.0.1:6379/0", 14)
    'redis://127.0.0.1:6379/14'
    >>> url_with_db("redis://h:1", 2), url_with_db("unix:///tmp/r.sock?db=3", 14)
    ('redis://h:1/2', 'unix:///tmp/r.sock?db=14')
    """
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"  # keeps the //
    return urlunsplit(parts._replace(path=f"/{db}"))


def error_kind(error: BaseException) -> str:
    """A short label for the errors metric."""
    if isinstance(error, redis.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, redis.ConnectionError | OSError):
        return "connection"
    return "redis"


def unavailable(error: BaseException) -> FeatureStoreUnavailable:
    """The store's one error, saying what Redis did."""
    message = f"Redis {error_kind(error)}: {error}".strip()
    return FeatureStoreUnavailable(message[:300])


class Conversation:
    """One connection, used for writes and reads that overlap (see :func:`conversation`)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def fileno(self) -> int | None:
        """The connection's socket (readable when a reply has arrived); ``None`` if closed."""
        sock = getattr(self._connection, "_sock", None)
        return None if sock is None else int(sock.fileno())

    def send(self, payload: bytes) -> None:
        """Write packed commands without waiting for their replies."""
        self._connection.send_packed_command([payload], check_health=False)

    def read(self, count: int) -> list[Any]:
        """The next ``count`` replies; an error reply is returned in place, not raised."""
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(self._connection.read_response(disable_decoding=True))
            except ResponseError as error:
                replies.append(error)
        return replies


@contextmanager
def conversation(client: redis.Redis) -> Iterator[Conversation]:
    """A connection of the client's pool for a pipelined exchange.

    Raises
    ------
    FeatureStoreUnavailable
        When the connection cannot be opened, breaks, or a reply takes longer than the timeout;
        the connection is then dropped, never returned to the pool half-read.
    """
    pool = client.connection_pool
    try:
        connection = pool.get_connection()
    except (redis.RedisError, OSError) as error:
        raise unavailable(error) from error
    try:
        yield Conversation(connection)
    except (redis.RedisError, OSError) as error:
        connection.disconnect()  # type: ignore[no-untyped-call]
        raise unavailable(error) from error
    except BaseException:
        connection.disconnect()  # type: ignore[no-untyped-call]  # replies may be unread
        raise
    finally:
        pool.release(connection)


class Pending:
    """Commands sent now on a connection of their own; their replies read when wanted.

    The caller's other round trips run meanwhile, on other connections, so this one adds no
    wait of its own: Redis answers it while the caller waits for the others. The connection
    goes back to the pool when :meth:`replies` is read, or is dropped by :meth:`cancel`.

    Raises
    ------
    FeatureStoreUnavailable
        As :func:`conversation`, when sending or when reading.
    """

    def __init__(self, client: redis.Redis, commands: Sequence[bytes]) -> None:
        self._count = len(commands)
        self._pool = client.connection_pool
        try:
            self._connection: Any = self._pool.get_connection()
        except (redis.RedisError, OSError) as error:
            raise unavailable(error) from error
        try:
            Conversation(self._connection).send(b"".join(commands))
        except (redis.RedisError, OSError) as error:
            self.cancel()
            raise unavailable(error) from error

    def replies(self) -> list[Any]:
        """One reply per command (errors in place); only once."""
        connection, self._connection = self._connection, None
        if connection is None:
            raise RuntimeError("the replies were already read, or cancelled")
        try:
            return Conversation(connection).read(self._count)
        except (redis.RedisError, OSError) as error:
            connection.disconnect()
            raise unavailable(error) from error
        except BaseException:
            connection.disconnect()  # replies may be unread
            raise
        finally:
            self._pool.release(connection)

    def cancel(self) -> None:
        """Give up on the replies: the connection is dropped (it may hold them unread)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.disconnect()
            self._pool.release(connection)


def round_trip(client: redis.Redis, commands: Sequence[bytes]) -> list[Any]:
    """Send packed commands in one write; return one reply per command (errors in place).

    Raises
    ------
    FeatureStoreUnavailable
        As :func:`conversation`.
    """
    return Pending(client, commands).replies()


#: Features of a batch, one chunk at a time, with the socket's file descriptor once, as soon
#: as the first chunk is sent (when announced; see ``RedisFeatureStore._update``).
Steps = Iterator[list[dict[str, float]] | int]


def chunks_only(steps: Iterable[list[dict[str, float]] | int]) -> Iterator[list[dict[str, float]]]:
    """The chunks of ``steps``, without the file descriptor announced among them."""
    for step in steps:
        if not isinstance(step, int):
            yield step


class SentFeatures:
    """A batch's features on their way: the first chunk is written, its answer not yet read.

    Reading blocks until Redis answers. A caller on an event loop waits instead for
    :meth:`fileno` to become readable (at most ``timeout_s``, the client's socket timeout),
    serving other work meanwhile, then iterates: the chunks in order, as
    :meth:`~state.redis_store.RedisFeatureStore.update_and_get_chunks` gives them (with the
    same errors).
    :meth:`close` gives up on the rest (the connection is dropped, never reused half-read).
    """

    def __init__(self, chunks: Steps, fileno: int | None, timeout_s: float) -> None:
        self._chunks = chunks
        self._fileno = fileno
        self.timeout_s = timeout_s

    def fileno(self) -> int | None:
        """The socket that becomes readable when the first answer arrives (``None``: nothing
        to wait for)."""
        return self._fileno

    def __iter__(self) -> Iterator[list[dict[str, float]]]:
        return chunks_only(self._chunks)

    def close(self) -> None:
        """Give up on what is unread."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
