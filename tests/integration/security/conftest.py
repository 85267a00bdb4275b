"""The served API of the security tests: a real server on loopback, the engine on Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from pydantic import SecretStr

from decisions.api import ApiSettings
from state.settings import RedisSettings
from tests.integration.security.live_api import TOKEN, LiveApi, serve_api


@pytest.fixture(scope="module")
def live(redis_settings: RedisSettings) -> Iterator[LiveApi]:
    """The API with a token and a 4 KiB body limit, no rate limit (the tests send floods)."""
    client = redis.Redis.from_url(redis_settings.url)
    client.flushdb()
    api = ApiSettings(token=SecretStr(TOKEN), max_body_bytes=4096, max_requests_per_s=0)
    try:
        yield from serve_api(redis_settings, api)
    finally:
        client.flushdb()
        client.close()
