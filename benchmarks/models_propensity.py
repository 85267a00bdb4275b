"""Offer propensity: Thompson sampling against an oracle and a random choice, same customers.

A response model stands in for the customers (the simulator has no offers of its own): each
customer segment has a hidden chance of accepting each variant of an offer, moved up or down
by how much the customer spends (:data:`BASE`, :data:`SPEND_EFFECT`). Offers are made on the
simulated stream, at each customer's first transaction of each week, from the customer's
features at that moment (and the segment as an indicator feature); the response arrives
1 to 3 days later and only then teaches the policy. Goals: after a warm-up, at least 80 % of
the acceptance an oracle (which knows the hidden chances) gets, and 1.5 times a random choice.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np

from benchmarks.harness import BenchContext, BenchResult
from benchmarks.models_data import DAY_S, FeatureStream, load_stream
from models.calibration import logit, sigmoid
from models.propensity import ThompsonPolicy
from replay.simulator import SimulationConfig

VARIANTS = ("cashback", "points", "travel_insurance", "premium_card")
#: Hidden acceptance chance per segment and variant (for a customer of median spending).
BASE = {
    "mass": {"cashback": 0.09, "points": 0.05, "travel_insurance": 0.02, "premium_card": 0.01},
    "mass_affluent": {
        "cashback": 0.04,
        "points": 0.08,
        "travel_insurance": 0.05,
        "premium_card": 0.03,
    },
    "affluent": {"cashback": 0.02, "points": 0.04, "travel_insurance": 0.07, "premium_card": 0.10},
}
#: Change of the log-odds of accepting per standard deviation of log monthly spending.
SPEND_EFFECT = {"cashback": -0.3, "points": 0.0, "travel_insurance": 0.3, "premium_card": 0.6}
FEATURES = ("cust_amount_sum_30d", "cust_count_30d", "cust_amount_mean_30d")
WARM_UP_SHARE = 0.25


class ResponseModel:
    """The customers' hidden chances of accepting each variant."""

    def __init__(self, spend_mean: float, spend_sd: float) -> None:
        self.spend_mean = spend_mean
        self.spend_sd = spend_sd

    def chances(self, segment: str, monthly_spend: float) -> dict[str, float]:
        z = (math.log1p(monthly_spend) - self.spend_mean) / self.spend_sd
        base = BASE.get(segment, BASE["mass"])
        return {v: sigmoid(logit(base[v]) + SPEND_EFFECT[v] * z) for v in VARIANTS}


def offers(stream: FeatureStream) -> np.ndarray:
    """Rows of each customer's first transaction of each week (after a first month)."""
    week = (stream.day // 7).astype(np.int64)
    key = stream.customer.astype(np.int64) * 10_000 + week
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)
    chosen: np.ndarray = first[stream.day[first] >= 30]
    return chosen


Policy = Callable[[dict[str, float], dict[str, float]], str]


def simulate_offers(
    stream: FeatureStream, choose: Policy, learn: Callable[[dict[str, float], str, bool], None]
) -> np.ndarray:
    """Make every offer with ``choose``; ``learn`` gets each response when it arrives.

    ``choose`` gets the features and the hidden chances (only the oracle may look).
    Returns 1 per accepted offer, 0 per refused one, in offer order.
    """
    rows = offers(stream)
    spend = stream.features[rows, stream.names.index("cust_amount_sum_30d")].astype(float)
    logs = np.log1p(spend)
    model = ResponseModel(float(logs.mean()), float(logs.std()) or 1.0)
    rng = np.random.default_rng(5)
    pending: list[tuple[float, int, dict[str, float], str, bool]] = []
    accepted = np.zeros(len(rows))
    columns = [stream.names.index(name) for name in FEATURES]
    for i, row in enumerate(rows.tolist()):
        now = float(stream.ts[row])
        while pending and pending[0][0] <= now:
            _, _, x, variant, answer = heapq.heappop(pending)
            learn(x, variant, answer)
        segment = stream.segments[int(stream.segment[row])]
        x = {
            name: float(stream.features[row, j]) for name, j in zip(FEATURES, columns, strict=True)
        }
        x[f"segment={segment}"] = 1.0
        chances = model.chances(segment, float(spend[i]))
        variant = choose(x, chances)
        answer = bool(rng.random() < chances[variant])
        accepted[i] = answer
        delay = rng.uniform(1.0, 3.0) * DAY_S
        heapq.heappush(pending, (now + delay, i, x, variant, answer))
    return accepted


def run(ctx: BenchContext) -> BenchResult:
    """Acceptance after warm-up of Thompson sampling, an oracle, a greedy and a random choice."""
    config = (
        SimulationConfig(customers=1000, terminals=2000, days=120, seed=1)
        if ctx.quick
        else SimulationConfig(customers=5000, terminals=10000, days=183, seed=1)
    )
    stream, origin = load_stream(config)
    rng = np.random.default_rng(9)
    thompson = ThompsonPolicy(VARIANTS, prior_accept=0.05, seed=11)
    greedy = ThompsonPolicy(VARIANTS, prior_accept=0.05, seed=11)
    results = {
        "thompson": simulate_offers(stream, lambda x, _: thompson.choose(x), thompson.learn),
        "greedy": simulate_offers(
            stream,
            lambda x, _: max(greedy.scores(x).items(), key=lambda kv: kv[1])[0],
            greedy.learn,
        ),
        "oracle": simulate_offers(stream, lambda _, p: max(p, key=p.__getitem__), _ignore),
        "random": simulate_offers(stream, lambda *_: str(rng.choice(VARIANTS)), _ignore),
    }
    start = int(len(results["oracle"]) * WARM_UP_SHARE)
    rate = {name: float(values[start:].mean()) for name, values in results.items()}
    metrics = {
        "offers": float(len(results["oracle"])),
        "acceptance_thompson": rate["thompson"],
        "share_of_oracle": rate["thompson"] / rate["oracle"],
        "times_random": rate["thompson"] / rate["random"],
        "share_of_oracle_greedy": rate["greedy"] / rate["oracle"],
    }
    return BenchResult(
        name="propensity",
        metrics=metrics,
        baseline={f"acceptance_{k}": v for k, v in rate.items() if k != "thompson"},
        goals={"share_of_oracle": ">= 0.8", "times_random": ">= 1.5"},
        notes=[
            f"stream: {origin}; an offer at each customer's first transaction of each week "
            "from day 30; responses 1-3 days later",
            f"acceptance counted after the first {WARM_UP_SHARE:.0%} of offers (warm-up)",
            "hidden chances: per segment and variant, moved by the customer's 30-day spending",
            "greedy: the same model without exploration (posterior mean)",
        ],
    )


def _ignore(x: dict[str, float], variant: str, accepted: bool) -> None:
    return None
