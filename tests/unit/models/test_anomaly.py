"""The anomaly model: calibration as a percentile, behaviour components, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from models.anomaly import BEHAVIOUR, TREES, AnomalyModel


def traffic(n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "amount": float(rng.lognormal(3.5, 0.5)),
            "cust_amount_mean_30d": 35.0,
            "cust_amount_zscore_30d": float(rng.normal()),
            "cust_count_1h": float(rng.poisson(0.3)),
            "cust_count_1d": float(rng.poisson(2.0)),
            "cust_count_30d": 60.0,
            "cust_new_device": float(rng.random() < 0.02),
            "term_fraud_rate_30d": 0.0,
        }
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def model() -> AnomalyModel:
    trained = AnomalyModel(n_trees=10, height=6, window_size=100, seed=3)
    trained.score_learn_many(traffic(6000))
    return trained


def test_scores_of_usual_traffic_are_spread_like_percentiles(model: AnomalyModel) -> None:
    scores = model.score_many(traffic(3000, seed=1))
    assert 0.3 < float(np.median(scores)) < 0.7
    assert 0.05 < float(np.mean(scores > 0.9)) < 0.2  # binned: close to, not exactly, 10 %
    assert 0.001 < float(np.mean(scores > 0.99)) < 0.03


def test_each_kind_of_oddity_scores_high_and_is_named(model: AnomalyModel) -> None:
    usual = traffic(1, seed=2)[0]
    cases = {  # component: (change, lowest score): a new device is seen in 2 % of traffic
        "large_amount": ({"amount": 5000.0, "cust_amount_zscore_30d": 0.0}, 0.99),
        "new_device": ({"cust_new_device": 1.0}, 0.9),
        "velocity_1h": ({"cust_count_1h": 9.0}, 0.99),
        "terminal_fraud_history": ({"term_fraud_rate_30d": 0.4}, 0.99),
    }
    assert model.score_one(usual) < 0.9
    for component, (change, lowest) in cases.items():
        odd = usual | change
        assert model.score_one(odd) > lowest, component
        named = [name for name, _ in model.explain(odd, k=3)]
        assert component in named, (component, named)


def test_explanations_name_known_aspects(model: AnomalyModel) -> None:
    names = {name for name, _ in model.explain(traffic(1, seed=4)[0], k=20)}
    assert names <= set(BEHAVIOUR) | {TREES}


def test_fused_and_separate_paths_agree() -> None:
    events = traffic(500, seed=5)
    fused = AnomalyModel(n_trees=4, height=4, window_size=30, seed=1)
    separate = AnomalyModel(n_trees=4, height=4, window_size=30, seed=1)
    got = [fused.score_learn_one(x) for x in events]
    expected = []
    for x in events:
        expected.append(separate.score_one(x) if separate.index.names else 0.5)
        separate.learn_one(x)
    np.testing.assert_allclose(got[1:], expected[1:], rtol=0, atol=1e-12)


def test_unknown_component_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown behaviour"):
        AnomalyModel(weights={"shoe_size": 1.0})
