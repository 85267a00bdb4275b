"""The conformance suite: every case runs over every model of the catalogue (river-style)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from models.base import OnlineModel
from tests.unit.models.catalogue import MODELS, labelled_stream

STREAM = labelled_stream(300, seed=11)
XS = [x for x, _ in STREAM]
YS = [y for _, y in STREAM]


def train(model: OnlineModel, stream: list[tuple[dict[str, float], bool]]) -> list[float]:
    """Prequential pass: score then learn each event; the scores."""
    scores = []
    for x, y in stream:
        scores.append(model.score_one(x))
        model.learn_one(x, y)
    return scores


@pytest.fixture(params=sorted(MODELS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_scores_are_probabilities_and_features_may_come_and_go(name: str) -> None:
    scores = train(MODELS[name](1), STREAM)
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)


def test_seeded_models_are_deterministic(name: str) -> None:
    assert train(MODELS[name](5), STREAM) == train(MODELS[name](5), STREAM)


def test_clone_is_fresh_with_the_same_parameters(name: str) -> None:
    model = MODELS[name](2)
    train(model, STREAM[:150])
    clone = model.clone()
    assert type(clone) is type(model)
    assert repr(clone) == repr(model)
    assert train(clone, STREAM) == train(MODELS[name](2), STREAM)


def test_pickle_round_trip_keeps_scoring_and_learning_the_same(name: str) -> None:
    model = MODELS[name](3)
    train(model, STREAM[:200])
    copy = pickle.loads(pickle.dumps(model))
    assert train(copy, STREAM[200:]) == train(model, STREAM[200:])


def test_scoring_does_not_learn(name: str) -> None:
    model, twin = MODELS[name](4), MODELS[name](4)
    train(model, STREAM[:150])
    train(twin, STREAM[:150])
    for x in XS[150:]:
        model.score_one(x)
    assert train(model, STREAM[150:]) == train(twin, STREAM[150:])


def test_batches_agree_with_one_at_a_time(name: str) -> None:
    one, many = MODELS[name](6), MODELS[name](6)
    for x, y in STREAM[:200]:
        one.learn_one(x, y)
    many.learn_many(XS[:200], YS[:200])
    expected = [one.score_one(x) for x in XS[200:]]
    np.testing.assert_allclose(many.score_many(XS[200:]), expected, rtol=1e-12, atol=1e-12)


def test_a_feature_never_seen_in_learning_can_be_scored(name: str) -> None:
    model = MODELS[name](7)
    train(model, STREAM[:100])
    assert 0.0 <= model.score_one({"brand_new_feature": 1.0}) <= 1.0
    assert 0.0 <= model.score_one({}) <= 1.0
