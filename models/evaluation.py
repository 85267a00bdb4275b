"""Quality metrics of the fraud handbook: ROC AUC, average precision, card precision@k per day.

Plain numpy, no scikit-learn: the definitions are those of scikit-learn (``roc_auc_score``,
``average_precision_score``) and of the handbook's ``card_precision_top_k``.

>>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
0.8333
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

ArrayLike = Sequence[float] | Sequence[bool] | Sequence[int] | npt.NDArray[np.generic]


def _checked(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be two equal 1-d arrays")
    if np.isnan(s).any():
        raise ValueError("scores hold NaN")
    return y, s


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    boundaries = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    mean_rank = (starts + ends + 1) / 2.0  # ranks start..end-1, from 1
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic; ties count one half).

    NaN when only one class is present.
    """
    y, s = _checked(y_true, scores)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum = float(_average_ranks(s)[y].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Average precision: the sum over distinct thresholds of precision x recall gained.

    NaN when there is no positive.
    """
    y, s = _checked(y_true, scores)
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.concatenate((np.flatnonzero(np.diff(s)), [len(s) - 1]))
    true_positives = np.cumsum(y)[last_of_tie]
    precision = true_positives / (last_of_tie + 1)
    recall_gain = np.diff(np.concatenate(([0], true_positives))) / positives
    return float(np.sum(precision * recall_gain))


def card_precision_at_k(
    days: ArrayLike,
    cards: Sequence[str] | npt.NDArray[np.generic],
    y_true: ArrayLike,
    scores: ArrayLike,
    k: int = 100,
) -> tuple[float, list[float]]:
    """The handbook's card precision@k: the mean over days, and the value of each day.

    Each day, every card's score is its highest transaction score of that day and its label
    whether it had a fraud that day; the share of frauds among the ``k`` top cards is the day's
    precision. A card found compromised (a fraud among a day's top ``k``) is left out of the
    following days, as the handbook does: it is blocked, there is nothing left to find.
    """
    day = np.asarray(days)
    y, s = _checked(y_true, scores)
    if not (len(day) == len(cards) == len(y)):
        raise ValueError("days, cards, labels and scores must have the same length")
    card_ids, card = np.unique(np.asarray(cards), return_inverse=True)
    known = np.zeros(len(card_ids), dtype=bool)
    order = np.argsort(day, kind="stable")  # each day's rows in their order
    bounds = np.append(np.flatnonzero(np.diff(day[order], prepend=np.nan)), len(order))
    per_day: list[float] = []
    for lo, hi in pairwise(bounds):  # one day's rows: order[lo:hi]
        rows = order[lo:hi]
        rows = rows[~known[card[rows]]]
        # each card of the day once: where it first appears, its best score, any fraud
        cards_today, first, of_row = np.unique(card[rows], return_index=True, return_inverse=True)
        best = np.full(len(cards_today), -np.inf)
        np.maximum.at(best, of_row, s[rows])
        fraud = np.bincount(of_row, weights=y[rows], minlength=len(cards_today)) > 0
        top = np.lexsort((first, -best))[:k]  # highest score first, ties by first appearance
        found = cards_today[top[fraud[top]]]
        per_day.append(len(found) / k)
        known[found] = True
    mean = float(np.mean(per_day)) if per_day else float("nan")
    return mean, per_day
