"""The handbook's metrics against brute-force computations of their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.evaluation import average_precision, card_precision_at_k, roc_auc

labels_scores = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]) | st.floats(0, 1),
            min_size=n,
            max_size=n,
        ),
    )
)


def pairwise_auc(y: list[bool], s: list[float]) -> float:
    pos = [b for b, label in zip(s, y, strict=True) if label]
    neg = [b for b, label in zip(s, y, strict=True) if not label]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def threshold_ap(y: list[bool], s: list[float]) -> float:
    total = sum(y)
    ap, previous_recall = 0.0, 0.0
    for threshold in sorted(set(s), reverse=True):
        chosen = [label for label, score in zip(y, s, strict=True) if score >= threshold]
        recall = sum(chosen) / total
        ap += (recall - previous_recall) * sum(chosen) / len(chosen)
        previous_recall = recall
    return ap


@settings(max_examples=200)
@given(labels_scores)
def test_auc_is_the_share_of_pairs_ranked_right(data: tuple[list[bool], list[float]]) -> None:
    y, s = data
    if all(y) or not any(y):
        assert math.isnan(roc_auc(y, s))
    else:
        assert roc_auc(y, s) == pytest.approx(pairwise_auc(y, s))


@settings(max_examples=200)
@given(labels_scores)
def test_average_precision_sums_precision_over_recall_steps(
    data: tuple[list[bool], list[float]],
) -> None:
    y, s = data
    if not any(y):
        assert math.isnan(average_precision(y, s))
    else:
        assert average_precision(y, s) == pytest.approx(threshold_ap(y, s))


def test_known_values() -> None:
    assert roc_auc([0, 1], [0.2, 0.2]) == 0.5
    assert roc_auc([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.3]) == 1.0
    assert average_precision([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.3]) == 1.0
    assert average_precision([0, 1], [0.9, 0.1]) == 0.5
    with pytest.raises(ValueError, match="equal"):
        roc_auc([0, 1], [0.5])


def test_card_precision_per_day_leaves_found_cards_out() -> None:
    #        day 0: cards a (fraud, top), b, c       day 1: a again (top, left out), b fraud
    days = [0, 0, 0, 0, 1, 1, 1]
    cards = ["a", "a", "b", "c", "a", "b", "c"]
    y = [0, 1, 0, 0, 1, 1, 0]
    s = [0.1, 0.9, 0.5, 0.2, 0.99, 0.3, 0.4]
    mean, per_day = card_precision_at_k(days, cards, y, s, k=1)
    assert per_day == [1.0, 0.0]  # day 1: a is known, c (0.4) outranks b (0.3)
    mean2, per_day2 = card_precision_at_k(days, cards, y, s, k=2)
    assert per_day2 == [0.5, 0.5]
    assert mean == 0.5
    assert mean2 == 0.5


def test_card_precision_of_nothing_is_nan() -> None:
    mean, per_day = card_precision_at_k([], [], [], [])
    assert math.isnan(mean)
    assert per_day == []


@pytest.mark.parametrize("decimals", [None, 1])
def test_card_precision_matches_a_naive_version(decimals: int | None) -> None:
    """With scores rounded to one decimal, most cards tie: the first to appear that day ranks
    first, as in a stable sort of the cards in the order they appear."""
    rng = np.random.default_rng(0)
    n = 3000
    days = rng.integers(0, 10, n)
    cards = rng.integers(0, 150, n).astype(str)
    y = rng.random(n) < 0.05
    s = rng.random(n) + 0.3 * y
    if decimals is not None:
        s = np.round(s, decimals)
    known: set[str] = set()
    expected = []
    for day in range(10):
        best: dict[str, list[float]] = {}
        for i in np.flatnonzero(days == day):
            if cards[i] in known:
                continue
            entry = best.setdefault(str(cards[i]), [-1.0, 0.0])
            entry[0] = max(entry[0], float(s[i]))
            entry[1] = max(entry[1], float(y[i]))
        top = sorted(best, key=lambda c: -best[c][0])[:20]
        found = [c for c in top if best[c][1]]
        expected.append(len(found) / 20)
        known.update(found)
    mean, per_day = card_precision_at_k(days, cards, y, s, k=20)
    assert per_day == expected
    assert mean == pytest.approx(np.mean(expected))
