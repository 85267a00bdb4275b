"""Block and allow lists on the real Redis: the same cases as in memory, edited at run time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from decisions.lists import InMemoryListStore, ListStore, RedisListStore
from tests.unit.decisions.list_cases import CASES


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_client: redis.Redis) -> ListStore:
    if request.param == "memory":
        return InMemoryListStore()
    return RedisListStore(redis_client, prefix="test")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_conformance(case: Callable[[ListStore], None], store: ListStore) -> None:
    case(store)


def test_a_list_is_a_plain_set_any_client_can_edit(redis_client: redis.Redis) -> None:
    store = RedisListStore(redis_client, prefix="test")
    assert store.key("blocked_devices") == "test:list:blocked_devices"
    redis_client.sadd("test:list:blocked_devices", "d-9f3a2c")  # e.g. redis-cli SADD
    assert store.hits([("blocked_devices", "d-9f3a2c")]) == frozenset({"blocked_devices"})
    redis_client.srem("test:list:blocked_devices", "d-9f3a2c")
    assert store.hits([("blocked_devices", "d-9f3a2c")]) == frozenset()


def test_pending_replies_come_back_once_and_free_their_connection(
    redis_client: redis.Redis,
) -> None:
    from state.redis_commands import pack
    from state.redis_wire import Pending

    redis_client.set("test:pending", b"v")
    pool = redis_client.connection_pool
    pending = Pending(redis_client, [pack(b"GET", b"test:pending"), pack(b"INCR", b"test:pending")])
    in_use = len(pool._in_use_connections)
    got, failed = pending.replies()
    assert got == b"v" and isinstance(failed, redis.ResponseError)  # errors come back in place
    assert len(pool._in_use_connections) == in_use - 1
    with pytest.raises(RuntimeError, match="already read"):
        pending.replies()


def test_a_cancelled_lookup_drops_its_connection(redis_client: redis.Redis) -> None:
    from state.redis_commands import pack
    from state.redis_wire import Pending

    pool = redis_client.connection_pool
    pending = Pending(redis_client, [pack(b"PING")])
    pending.cancel()
    assert not pool._in_use_connections
    with pytest.raises(RuntimeError):
        pending.replies()


def test_lists_on_a_redis_that_is_gone_raise_the_store_error() -> None:
    from state.redis_wire import client_from_settings
    from state.settings import RedisSettings
    from state.store import FeatureStoreUnavailable

    gone = client_from_settings(RedisSettings(url="redis://127.0.0.1:1/0", connect_timeout_s=0.2))
    with pytest.raises(FeatureStoreUnavailable, match="Redis connection"):
        RedisListStore(gone).ask_many([[("blocked_customers", "c1")]])
