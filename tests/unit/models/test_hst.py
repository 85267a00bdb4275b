"""Half-Space Trees: the numba kernels against the plain-Python reference and against river."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import anomaly

from models.hst import HalfSpaceTrees
from tests.unit.models.hst_reference import ReferenceHST

NAMES = ("a", "b", "c", "d")


def stream(n: int, seed: int, missing: float = 0.1) -> list[dict[str, float]]:
    """Features in [0, 1], some events missing a feature, a few outliers, a late new feature."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        values = rng.beta(2, 5, size=len(NAMES))
        if rng.random() < 0.03:
            values = rng.random(len(NAMES))
        x = dict(zip(NAMES, values.tolist(), strict=True))
        if rng.random() < missing:
            del x[NAMES[int(rng.integers(len(NAMES)))]]
        if i > n // 2:
            x["late"] = float(rng.random())  # no tree splits on it: ignored
        events.append(x)
    return events


@pytest.mark.parametrize(("n_trees", "height", "window_size"), [(3, 2, 5), (10, 6, 40), (4, 9, 25)])
def test_scores_and_masses_match_the_reference(n_trees: int, height: int, window_size: int) -> None:
    model = HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=3)
    reference = ReferenceHST(n_trees, height, window_size, seed=3)
    for x in stream(600, seed=1):
        assert model.score_one(x) == reference.score_one(x)
        model.learn_one(x)
        reference.learn_one(x)
    latest, masses = model.masses()
    ref_latest, ref_masses = reference.masses()
    assert latest.tolist() == ref_latest
    assert masses.tolist() == ref_masses


def test_scores_match_river_exactly() -> None:
    model = HalfSpaceTrees(n_trees=10, height=8, window_size=50, seed=7)
    river_model = anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=50, seed=7)
    for x in stream(800, seed=2):
        assert model.score_one(x) == pytest.approx(river_model.score_one(x), abs=0.0)
        model.learn_one(x)
        river_model.learn_one(x)


def test_river_docstring_example() -> None:
    model = HalfSpaceTrees(n_trees=5, height=3, window_size=3, seed=42)
    values = [0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0]
    for value in values[:3]:
        model.learn_one({"x": value})
    scores = []
    for value in values:
        model.learn_one({"x": value})
        scores.append(round(model.score_one({"x": value}), 3))
    assert scores == [0.107, 0.071, 0.107, 0.107, 0.107, 0.071, 0.853]


def test_batches_give_the_one_by_one_results() -> None:
    events = stream(700, seed=4)
    one = HalfSpaceTrees(n_trees=6, height=5, window_size=30, seed=5)
    expected = []
    for x in events:
        expected.append(one.score_one(x))
        one.learn_one(x)
    fused = HalfSpaceTrees(n_trees=6, height=5, window_size=30, seed=5)
    got = np.concatenate([fused.score_learn_many(events[i : i + 97]) for i in range(0, 700, 97)])
    assert got.tolist() == expected
    split = HalfSpaceTrees(n_trees=6, height=5, window_size=30, seed=5)
    split.learn_many(events[:350])
    assert split.score_many(events[350:360]).tolist() == [
        HalfSpaceTrees.score_one(split, x) for x in events[350:360]
    ]


def test_nothing_is_scored_before_the_first_window_and_empty_events_wait() -> None:
    model = HalfSpaceTrees(n_trees=2, height=3, window_size=10, seed=0)
    assert model.score_one({"a": 0.3}) == 0.0
    model.learn_one({})
    assert not model.built
    for x in stream(9, seed=0):
        model.learn_one(x)
        assert model.score_one(x) == 0.0
    model.learn_one({"a": 0.5})
    assert model.windows_completed == 1
    assert 0.0 < model.score_one({"a": 0.5}) <= 1.0


def test_limits_scale_the_splits() -> None:
    wide = HalfSpaceTrees(n_trees=2, height=3, limits={"amount": (0.0, 1000.0)}, seed=1)
    wide.learn_one({"amount": 10.0, "ratio": 0.5})
    amount_column = wide.index.columns["amount"]
    thresholds = wide._threshold[wide._feature == amount_column]
    assert thresholds.size > 0
    assert (thresholds > 1.0).all()


@settings(max_examples=25, deadline=None)
@given(
    n_trees=st.integers(1, 4),
    height=st.integers(1, 5),
    window_size=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    data=st.lists(
        st.dictionaries(st.sampled_from(NAMES), st.floats(0, 1) | st.just(math.nan), max_size=4),
        min_size=1,
        max_size=60,
    ),
)
def test_any_stream_matches_the_reference(
    n_trees: int, height: int, window_size: int, seed: int, data: list[dict[str, float]]
) -> None:
    model = HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed)
    reference = ReferenceHST(n_trees, height, window_size, seed)
    for x in data:
        score = model.score_one(x)
        assert score == reference.score_one(x)
        assert 0.0 <= score <= 1.0
        model.learn_one(x)
        if x or reference.trees:  # the trees wait for an event with features
            reference.learn_one(x)
