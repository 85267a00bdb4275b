"""The demo claims a Redis database of its own: emptied when it is the demo's, never when it
holds someone else's data (real Redis, the test database)."""

from __future__ import annotations

import pytest
import redis

from state.settings import RedisSettings
from verdict.demo import DEMO_MARK, claim_demo_database
from verdict.processes import StackError


def test_an_earlier_demos_state_is_emptied(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    db = redis_client.connection_pool.connection_kwargs["db"]
    claimed = claim_demo_database(redis_settings, "run-1", db=db)
    assert claimed.url == redis_settings.url
    redis_client.set("{c:c1}", b"state of the first run")
    claim_demo_database(redis_settings, "run-2", db=db)
    assert redis_client.keys() == [DEMO_MARK.encode()]
    assert redis_client.get(DEMO_MARK) == b"run-2"


def test_a_database_holding_other_data_is_left_alone(
    redis_settings: RedisSettings, redis_client: redis.Redis
) -> None:
    db = redis_client.connection_pool.connection_kwargs["db"]
    redis_client.set("someone-else", b"1")
    with pytest.raises(StackError, match="holds data that is not the demo's"):
        claim_demo_database(redis_settings, "run-1", db=db)
    assert redis_client.get("someone-else") == b"1"
