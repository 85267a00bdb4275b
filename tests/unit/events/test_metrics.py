"""The metrics module: observing a batch at once is observing each value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from events.metrics import FAST_BUCKETS, observe_many


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for s in histogram.collect()[0].samples
        if not s.name.endswith("_created")
    }


@given(
    st.lists(
        st.one_of(
            st.sampled_from(FAST_BUCKETS),  # exactly on a bound: that bucket, as observe
            st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_observe_many_is_observe_of_each_value(values: list[float]) -> None:
    one = Histogram("a_seconds", "a", buckets=FAST_BUCKETS, registry=CollectorRegistry())
    many = Histogram("a_seconds", "a", buckets=FAST_BUCKETS, registry=CollectorRegistry())
    for value in values:
        one.observe(value)
    observe_many(many, values)
    expected, found = _samples(one), _samples(many)
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(found[key] - value) <= 1e-9 * max(1.0, abs(value)), key
