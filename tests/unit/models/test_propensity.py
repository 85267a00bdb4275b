"""Offer propensity: Bayesian logistic posteriors and Thompson sampling per segment."""

from __future__ import annotations

import numpy as np
import pytest

from models.propensity import BayesianLogistic, ThompsonPolicy

#: Hidden acceptance chances: segment -> variant -> chance.
TRUTH = {
    "young": {"cashback": 0.02, "points": 0.12, "travel": 0.04},
    "family": {"cashback": 0.10, "points": 0.03, "travel": 0.05},
}


def run(policy: ThompsonPolicy, n: int, seed: int) -> list[tuple[str, str, bool]]:
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(n):
        segment = "young" if rng.random() < 0.5 else "family"
        x = {f"segment={segment}": 1.0}
        variant = policy.choose(x)
        accepted = bool(rng.random() < TRUTH[segment][variant])
        policy.learn(x, variant, accepted)
        history.append((segment, variant, accepted))
    return history


def test_thompson_sampling_finds_each_segments_best_variant() -> None:
    policy = ThompsonPolicy(["cashback", "points", "travel"], seed=1)
    history = run(policy, 6000, seed=2)
    late = history[-2000:]
    for segment, best in (("young", "points"), ("family", "cashback")):
        chosen = [v for s, v, _ in late if s == segment]
        assert chosen.count(best) / len(chosen) > 0.8, segment
    scores = policy.scores({"segment=young": 1.0})
    assert max(scores, key=scores.get) == "points"  # type: ignore[arg-type]
    assert scores["points"] == pytest.approx(0.12, abs=0.03)


def test_seeded_policies_choose_alike() -> None:
    first = run(ThompsonPolicy(["cashback", "points"], seed=4), 300, seed=5)
    second = run(ThompsonPolicy(["cashback", "points"], seed=4), 300, seed=5)
    assert first == second


def test_posterior_narrows_with_evidence() -> None:
    model = BayesianLogistic(prior_accept=0.1)
    rng = np.random.default_rng(0)
    x = {"segment=young": 1.0, "cust_count_30d": 12.0}
    before = np.std([model.sample_one(x, rng) for _ in range(500)])
    for i in range(2000):
        model.learn_one(x, i % 4 == 0)
    after = np.std([model.sample_one(x, rng) for _ in range(500)])
    assert after < before / 3
    assert model.score_one(x) == pytest.approx(0.25, abs=0.03)


def test_bad_variants_are_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        ThompsonPolicy(["a", "a"])
    with pytest.raises(ValueError, match="unknown variant"):
        ThompsonPolicy(["a"]).learn({}, "b", accepted=True)
