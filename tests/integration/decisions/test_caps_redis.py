"""The marketing caps on the real Redis: the same cases as in memory, and the same answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from decisions.caps import InMemoryCapStore, RedisCapStore
from decisions.marketing import CapLimits, CapRequest, CapStore
from tests.unit.decisions.cap_cases import CASES, DAY_MS, T


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_client: redis.Redis) -> CapStore:
    if request.param == "memory":
        return InMemoryCapStore()
    return RedisCapStore(redis_client, prefix="test")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_conformance(case: Callable[[CapStore], None], store: CapStore) -> None:
    case(store)


def test_keys_carry_the_customer_hash_tag_and_expire(redis_client: redis.Redis) -> None:
    store = RedisCapStore(redis_client, prefix="test")
    limits = CapLimits(7 * DAY_MS, 3, 7 * DAY_MS, 7 * DAY_MS)
    store.admit("c42", T, [CapRequest("tr-1", "travel_offer", True, 30 * DAY_MS)], limits)
    store.admit("c42", T + DAY_MS, [], limits, decline_ref="tx9")
    keys = sorted(k.decode() if isinstance(k, bytes) else k for k in redis_client.keys("test:*"))
    assert keys == [
        "test:mkt:{c:c42}:code:travel_offer",
        "test:mkt:{c:c42}:grants",
        "test:mkt:{c:c42}:quiet",
    ]
    assert len({key_slot(key.encode()) for key in keys}) == 1  # one slot: Redis Cluster safe
    for key in keys:
        assert 0 < redis_client.ttl(key) <= 90 * 86_400 + 1


def test_a_fraud_note_expires_too(redis_client: redis.Redis) -> None:
    RedisCapStore(redis_client, prefix="test").note_fraud("c1", T, "tx1")
    assert redis_client.ttl("test:mkt:{c:c1}:quiet") > 0


def test_works_with_decoded_responses(redis_client: redis.Redis) -> None:
    kwargs = dict(redis_client.connection_pool.connection_kwargs)
    pool = redis.ConnectionPool(
        connection_class=redis_client.connection_pool.connection_class,
        **{**kwargs, "decode_responses": True},
    )
    store = RedisCapStore(redis.Redis(connection_pool=pool), prefix="test")
    limits = CapLimits(0, 1, 0, 0)
    assert store.admit("c1", T, [CapRequest("tr-1", "a", True, DAY_MS)], limits) == [None]
    assert store.admit("c1", T, [CapRequest("tr-2", "a", True, DAY_MS)], limits) == ["offer_cap"]
    pool.disconnect()


# (customer, minute within 40 days, code, marketing?, declined?)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.integers(0, 40 * 24 * 60),
        st.sampled_from(["salary", "medical", "travel", "churn"]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS, cooldown_days=st.sampled_from([0, 3, 30]), most=st.integers(1, 3))
def test_redis_gives_the_answers_of_the_reference_in_any_order(
    redis_client: redis.Redis,
    steps: list[tuple[str, int, str, bool, bool]],
    cooldown_days: int,
    most: int,
) -> None:
    redis_client.flushdb()
    reference, shared = InMemoryCapStore(), RedisCapStore(redis_client, prefix="p")
    limits = CapLimits(7 * DAY_MS, most, 7 * DAY_MS, 2 * DAY_MS)
    for n, (customer, minute, code, marketing, declined) in enumerate(steps):
        at = T + minute * 60_000
        if n % 7 == 6:
            reference.note_fraud(customer, at, f"f{n}")
            shared.note_fraud(customer, at, f"f{n}")
        requests = [CapRequest(f"tr-{n}", code, marketing, cooldown_days * DAY_MS)]
        if n % 3 == 0:  # sometimes a redelivery of an earlier trigger as well
            old = n // 2
            requests.append(CapRequest(f"tr-{old}", steps[old][2], steps[old][3], 0))
        decline = f"tx{n}" if declined and n % 2 else None
        expected = reference.admit(customer, at, requests, limits, decline)
        assert shared.admit(customer, at, requests, limits, decline) == expected, n
