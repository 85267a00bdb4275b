"""The fraud model: learners by name, calibrated scores, attributions for reason codes."""

from __future__ import annotations

import numpy as np
import pytest

from models.fraud import LEARNERS, FraudModel, make_learner


def stream(n: int, seed: int = 0) -> list[tuple[dict[str, float], bool]]:
    """Fraud is a big amount at a night, or a new device; ~3 % of events."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = {
            "amount": float(rng.lognormal(3.5, 0.8)),
            "is_night": float(rng.random() < 0.3),
            "cust_new_device": float(rng.random() < 0.03),
            "cust_count_1d": float(rng.poisson(2)),
        }
        fraud = (x["amount"] > 150 and x["is_night"] == 1.0) or (
            x["cust_new_device"] == 1.0 and rng.random() < 0.6
        )
        out.append((x, bool(fraud)))
    return out


@pytest.mark.parametrize("learner", ["ftrl", "hat"])
def test_attributions_name_the_features_that_pushed_the_score_up(learner: str) -> None:
    model = FraudModel(learner, seed=1)
    for x, y in stream(6000):
        model.learn_one(x, y)
    odd = {"amount": 20.0, "is_night": 0.0, "cust_new_device": 1.0, "cust_count_1d": 2.0}
    reasons = model.explain(odd)
    assert reasons
    assert reasons[0].feature == "cust_new_device"
    assert reasons[0].value == 1.0
    assert all(r.contribution > 0 for r in reasons)
    assert len(model.explain(odd, k=1)) == 1


def test_scores_are_calibrated_probabilities() -> None:
    model = FraudModel("ftrl")
    train, test = stream(20_000, seed=2), stream(20_000, seed=3)
    for x, y in train:
        model.learn_one(x, y)
    scores = model.score_many([x for x, _ in test])
    labels = np.array([y for _, y in test])
    assert abs(scores.mean() - labels.mean()) < 0.01
    high = scores > 0.5
    assert labels[high].mean() > 0.5  # a threshold of one half means "more likely than not"


def test_learners_by_name() -> None:
    assert set(LEARNERS) == {"ftrl", "logistic", "hat", "arf"}
    with pytest.raises(ValueError, match="unknown fraud learner"):
        make_learner("xgboost")
    with pytest.raises(ValueError, match="supervised"):
        FraudModel().learn_one({"amount": 1.0})


def test_learning_a_batch_leaves_the_same_model_as_one_by_one() -> None:
    """``learn_many`` (one compiled pass between tracking points) is ``learn_one`` repeated:
    the same weights, calibration and running means, to the last bit. A feature first seen
    mid-batch and batches of every size (across the tracking period) are covered."""
    events = stream(700, seed=4)
    for i in range(300, 700, 37):
        events[i][0]["late_feature"] = float(i % 5)
    one, many = FraudModel("ftrl"), FraudModel("ftrl")
    for x, y in events:
        one.learn_one(x, y)
    start = 0
    for size in [1, 2, 3, 7, 8, 9, 15, 16, 17, 40, 100] * 10:
        part = events[start : start + size]
        many.learn_many([x for x, _ in part], [y for _, y in part])
        start += size
        if start >= len(events):
            break
    assert start >= len(events)
    probe = [x for x, _ in stream(200, seed=5)]
    assert one.score_many(probe).tolist() == many.score_many(probe).tolist()
    assert vars(one.calibration) == vars(many.calibration)  # Platt: slope, offset, Hessian
    assert one._mean_share.tolist() == many._mean_share.tolist()
    assert one.explain(probe[0]) == many.explain(probe[0])
    with pytest.raises(ValueError, match="one label per event"):
        many.learn_many([probe[0]], [])


def test_a_river_learner_learns_a_batch_one_by_one() -> None:
    events = stream(300, seed=6)
    one, many = FraudModel("logistic", seed=1), FraudModel("logistic", seed=1)
    for x, y in events:
        one.learn_one(x, y)
    many.learn_many([x for x, _ in events], [y for _, y in events])
    probe = [x for x, _ in stream(50, seed=7)]
    assert one.score_many(probe).tolist() == many.score_many(probe).tolist()
