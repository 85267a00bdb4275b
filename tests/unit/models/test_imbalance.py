"""Class weights: all of a batch's labels weighed at once, as one at a time would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from models.imbalance import ClassWeight, ClassWeights


@given(
    st.lists(st.booleans(), max_size=60),
    st.lists(st.booleans(), max_size=60),
    st.sampled_from(["balanced", 3.0]),
    st.floats(min_value=1.0, max_value=10.0),
)
def test_weighing_a_batch_is_weighing_each_label_in_turn(
    before: list[bool], batch: list[bool], class_weight: ClassWeight, cap: float
) -> None:
    one_by_one, at_once = ClassWeights(class_weight, cap), ClassWeights(class_weight, cap)
    for y in before:  # both have seen the same labels already
        one_by_one.update(y)
        at_once.update(y)
    expected = []
    for y in batch:
        expected.append(one_by_one.weight(y))
        one_by_one.update(y)
    assert at_once.weigh_all(batch) == expected
    assert (at_once.positives, at_once.negatives) == (one_by_one.positives, one_by_one.negatives)
