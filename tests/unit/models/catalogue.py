"""Every model of models/, built small, for the conformance suite; and a stream to feed them.

A new model is one new line in :data:`MODELS`; the suite then runs every case over it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.anomaly import AnomalyModel
from models.base import OnlineModel
from models.fraud import FraudModel
from models.ftrl import FTRLClassifier
from models.hst import HalfSpaceTrees
from models.propensity import BayesianLogistic
from models.river_models import RiverClassifier
from models.suite import ModelSuite

#: Model name -> factory taking a seed.
MODELS: dict[str, Callable[[int], OnlineModel]] = {
    "anomaly": lambda seed: AnomalyModel(n_trees=4, height=4, window_size=20, seed=seed),
    "hst": lambda seed: HalfSpaceTrees(n_trees=5, height=4, window_size=20, seed=seed),
    "ftrl": lambda seed: FTRLClassifier(),
    "river_logistic": lambda seed: RiverClassifier("logistic", seed=seed),
    "river_hat": lambda seed: RiverClassifier("hat", seed=seed),
    "river_arf": lambda seed: RiverClassifier("arf", n_models=3, seed=seed),
    "fraud_ftrl_platt": lambda seed: FraudModel("ftrl", "platt", seed=seed),
    "fraud_ftrl_isotonic": lambda seed: FraudModel("ftrl", "isotonic", seed=seed),
    "fraud_hat_platt": lambda seed: FraudModel("hat", "platt", seed=seed),
    "propensity_bayes_logistic": lambda seed: BayesianLogistic(),
    "suite_anomaly_fraud": lambda seed: ModelSuite(
        AnomalyModel(n_trees=3, height=3, window_size=10, seed=seed), FraudModel(seed=seed)
    ),
}


def labelled_stream(n: int, seed: int = 0) -> list[tuple[dict[str, float], bool]]:
    """Feature-store-like events (heavy-tailed amounts, counts, flags) and fraud labels.

    About one event in eight is fraud, more likely with big amounts, velocity and new devices.
    From the middle on, a new feature appears and one of the others is often missing.
    """
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        amount = float(rng.lognormal(3.5, 1.0))
        count = float(rng.poisson(1.0))
        new_device = float(rng.random() < 0.1)
        logit = -3.0 + 0.02 * (amount - 40) + 0.8 * count + 2.0 * new_device
        y = bool(rng.random() < 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30))))
        x = {
            "amount": amount,
            "cust_count_1h": count,
            "cust_new_device": new_device,
            "is_night": float(rng.random() < 0.3),
            "cust_amount_zscore_30d": float(rng.normal()),
        }
        if i >= n // 2:
            x["term_fraud_rate_7d"] = float(rng.beta(1, 30))
            if rng.random() < 0.3:
                del x["cust_amount_zscore_30d"]
        events.append((x, y))
    return events
