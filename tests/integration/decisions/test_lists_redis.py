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
