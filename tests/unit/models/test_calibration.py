"""Online calibrators: they learn the frequency behind a raw score and never reorder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.calibration import (
    IdentityCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    logit,
    make_calibrator,
    pool_adjacent_violators,
    sigmoid,
)


def truth(raw: float) -> float:
    """What a raw score means for a model trained with positives weighed 10: odds / 10."""
    return sigmoid(logit(raw) - math.log(10.0))


def biased_stream(n: int, seed: int = 0) -> list[tuple[float, bool]]:
    rng = np.random.default_rng(seed)
    raw = rng.beta(0.7, 1.5, size=n)
    return [(float(r), bool(rng.random() < truth(float(r)))) for r in raw]


@pytest.mark.parametrize("calibrator", [PlattCalibrator(), IsotonicCalibrator()])
def test_calibrated_scores_match_observed_frequencies(calibrator: PlattCalibrator) -> None:
    for raw, y in biased_stream(60_000):
        calibrator.learn_one(raw, y)
    for raw in (0.2, 0.5, 0.8):
        assert calibrator.calibrate(raw) == pytest.approx(truth(raw), abs=0.03)


@pytest.mark.parametrize(
    "calibrator", [PlattCalibrator(), IsotonicCalibrator(), IdentityCalibrator()]
)
def test_calibration_keeps_the_order(calibrator: PlattCalibrator) -> None:
    for raw, y in biased_stream(5000, seed=1):
        calibrator.learn_one(raw, y)
    grid = np.linspace(0.0, 1.0, 501)
    calibrated = calibrator.calibrate_many(grid)
    assert np.all(np.diff(calibrated) > 0) or isinstance(calibrator, IdentityCalibrator)
    assert np.all((calibrated >= 0) & (calibrated <= 1))
    one_by_one = [calibrator.calibrate(float(r)) for r in grid]
    np.testing.assert_allclose(calibrated, one_by_one, rtol=1e-9, atol=1e-12)


def test_pool_adjacent_violators_is_the_closest_increasing_sequence() -> None:
    values = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    weights = np.array([1.0, 2.0, 1.0, 1.0, 3.0])
    pooled = pool_adjacent_violators(values, weights)
    assert np.all(np.diff(pooled) >= 0)
    assert pooled.tolist() == pytest.approx([5 / 3, 5 / 3, 2.0, 4.25, 4.25])


def test_calibrators_by_name() -> None:
    assert isinstance(make_calibrator("platt"), PlattCalibrator)
    with pytest.raises(ValueError, match="unknown calibrator"):
        make_calibrator("magic")
