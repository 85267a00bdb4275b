"""The FTRL kernels against the plain-Python reference; class weights; attributions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.ftrl import FTRLClassifier
from tests.unit.models.catalogue import labelled_stream
from tests.unit.models.ftrl_reference import ReferenceFTRL


def test_logits_and_contributions_match_the_reference() -> None:
    model = FTRLClassifier(alpha=0.3, l1=0.05, class_weight=4.0)
    reference = ReferenceFTRL(alpha=0.3, l1=0.05, positive_weight=4.0)
    for x, y in labelled_stream(400, seed=3):
        assert model.logit_one(x) == pytest.approx(reference.logit(x), rel=1e-9, abs=1e-12)
        model.learn_one(x, y)
        reference.learn(x, y)
    x = labelled_stream(1, seed=99)[0][0]
    got, expected = model.contributions(x), reference.contributions(x)
    assert got.keys() == expected.keys()
    for name in got:
        assert got[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(
                st.sampled_from(["a", "b", "c"]),
                st.floats(-1e6, 1e6) | st.just(math.nan) | st.just(0.0),
                max_size=3,
            ),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_any_stream_matches_the_reference(stream: list[tuple[dict[str, float], bool]]) -> None:
    model = FTRLClassifier(class_weight=1.0)
    reference = ReferenceFTRL()
    for x, y in stream:
        assert model.logit_one(x) == pytest.approx(reference.logit(x), rel=1e-9, abs=1e-12)
        model.learn_one(x, y)
        reference.learn(x, y)


def test_balanced_weights_follow_the_label_ratio() -> None:
    capped = FTRLClassifier(class_weight="balanced", max_positive_weight=10.0)
    free = FTRLClassifier(class_weight="balanced", max_positive_weight=50.0)
    for i in range(100):  # 5 frauds, 95 not
        capped.learn_one({"a": float(i)}, i % 20 == 0)
        free.learn_one({"a": float(i)}, i % 20 == 0)
    assert free.weights.weight(True) == pytest.approx(96 / 6)
    assert capped.weights.weight(True) == 10.0
    assert capped.weights.weight(False) == 1.0


def test_it_learns_a_threshold_on_a_heavy_tailed_feature() -> None:
    model = FTRLClassifier(alpha=0.3, class_weight=1.0)
    for x, _ in labelled_stream(3000, seed=5):
        model.learn_one(x, x["amount"] > 220.0)
    high = {"amount": 400.0, "cust_count_1h": 1.0}
    low = {"amount": 40.0, "cust_count_1h": 1.0}
    assert model.score_one(high) > 0.5 > model.score_one(low)
    assert max(model.contributions(high), key=model.contributions(high).get) == "amount"


def test_a_label_is_required() -> None:
    with pytest.raises(ValueError, match="supervised"):
        FTRLClassifier().learn_one({"a": 1.0})


def test_learning_a_batch_reports_each_score_just_before_its_step() -> None:
    events = labelled_stream(400, seed=3)
    one, many = FTRLClassifier(), FTRLClassifier()
    before = []
    for x, y in events:
        before.append(one.score_one(x))
        one.learn_one(x, y)
    scored = many.learn_scored_many([x for x, _ in events], [y for _, y in events])
    assert scored == before
    assert one._z.tolist() == many._z.tolist()
    assert one._stats.tolist() == many._stats.tolist()
