"""numba kernels of Half-Space Trees over trees stored as arrays (see :mod:`models.hst`).

Layout: tree ``t`` is a complete binary tree in heap order (node ``i`` has children ``2i+1``
and ``2i+2``); ``feature[t, i]`` and ``threshold[t, i]`` are the split of internal node ``i``;
``mass[t, i]`` holds three int32: the latest window's mass, the reference window's mass and the
stamp (below). ``state`` is ``[window, counter, height, window_size]``: the windows completed,
the events learnt in the current one, and the two parameters. A missing feature is NaN.

Two things make this fast, beside compilation:

- River pivots every node of every tree at the end of each window (``r = l; l = 0``): at 25
  trees of height 15, 1.6 million nodes every 250 events, most of its cost. Here a node is
  pivoted when a walk reaches it: its stamp is the window its latest mass was counted in, so a
  node last touched one window ago has reference mass = its stored latest mass and an empty
  latest window; touched earlier, both are zero. The masses read are those river would hold.
- The walks go level by level across all trees, not tree by tree, so the trees' memory reads
  are independent of each other and overlap, instead of one dependent chain per tree.
"""

from __future__ import annotations

import numpy as np

from models.jit import FloatArray, IntArray, LongArray, kernel

#: Indices into ``mass[t, node]``.
LATEST, REFERENCE, STAMP = 0, 1, 2
#: Indices into ``state``.
WINDOW, COUNTER, HEIGHT, WINDOW_SIZE = 0, 1, 2, 3
#: Walks stop below a node whose reference mass is under this share of the window (the paper's).
SIZE_LIMIT_SHARE = 0.1


@kernel
def learn_row(
    x: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray,
    nodes: LongArray,
) -> None:  # fmt: skip
    window = state[WINDOW]
    height = state[HEIGHT]
    nodes[:] = 0
    for level in range(height + 1):
        for t in range(feature.shape[0]):
            node = nodes[t]
            here = mass[t, node]
            age = window - here[STAMP]
            if age != 0:  # the lazy pivot
                here[REFERENCE] = here[LATEST] if age == 1 else 0
                here[LATEST] = 0
                here[STAMP] = window
            here[LATEST] += 1
            if level < height:
                # Written out, not called: a helper here halves the speed (numba's calls).
                value = x[feature[t, node]]
                left = 2 * node + 1
                if np.isnan(value):  # missing: the child the latest window used more
                    a = mass[t, left]
                    b = mass[t, left + 1]
                    a_latest = a[LATEST] if a[STAMP] == window else 0
                    b_latest = b[LATEST] if b[STAMP] == window else 0
                    nodes[t] = left + 1 if a_latest < b_latest else left
                else:
                    nodes[t] = left if value < threshold[t, node] else left + 1
    state[COUNTER] += 1
    if state[COUNTER] == state[WINDOW_SIZE]:
        state[WINDOW] += 1
        state[COUNTER] = 0


@kernel
def score_row(
    x: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray,
    nodes: LongArray, tree_score: LongArray,
) -> float:  # fmt: skip
    window = state[WINDOW]
    if window == 0:  # no reference window yet
        return 0.0
    height = state[HEIGHT]
    size_limit = SIZE_LIMIT_SHARE * state[WINDOW_SIZE]
    n_trees = feature.shape[0]
    nodes[:] = 0
    tree_score[:] = 0
    depth_pow = 1
    for level in range(height + 1):
        for t in range(n_trees):
            node = nodes[t]
            if node < 0:  # this tree's walk has stopped
                continue
            here = mass[t, node]
            age = window - here[STAMP]
            reference = here[REFERENCE] if age == 0 else (here[LATEST] if age == 1 else 0)
            tree_score[t] += reference * depth_pow
            if level == height or reference < size_limit:
                nodes[t] = -1
                continue
            value = x[feature[t, node]]
            left = 2 * node + 1
            if np.isnan(value):
                a = mass[t, left]
                b = mass[t, left + 1]
                a_latest = a[LATEST] if a[STAMP] == window else 0
                b_latest = b[LATEST] if b[STAMP] == window else 0
                nodes[t] = left + 1 if a_latest < b_latest else left
            else:
                nodes[t] = left if value < threshold[t, node] else left + 1
        depth_pow *= 2
    score = 0.0
    for t in range(n_trees):
        score += tree_score[t]  # exact: integers below 2**53, as river's float sum
    max_score = n_trees * state[WINDOW_SIZE] * (2 ** (height + 1) - 1)
    return float(1.0 - score / max_score)


@kernel
def score_rows(
    rows: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray
) -> FloatArray:
    """Scores of ``rows``, no learning (river's score; 0 before the first window)."""
    nodes = np.zeros(feature.shape[0], dtype=np.int64)
    tree_score = np.zeros(feature.shape[0], dtype=np.int64)
    out = np.zeros(rows.shape[0])
    for i in range(rows.shape[0]):
        out[i] = score_row(rows[i], feature, threshold, mass, state, nodes, tree_score)
    return out


@kernel
def learn_rows(
    rows: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray
) -> None:
    """Learn ``rows`` in order: count each in its path's latest mass, pivot windows."""
    nodes = np.zeros(feature.shape[0], dtype=np.int64)
    for i in range(rows.shape[0]):
        learn_row(rows[i], feature, threshold, mass, state, nodes)


@kernel
def score_learn_row(
    x: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray,
    nodes: LongArray, tree_score: LongArray,
) -> float:  # fmt: skip
    """Score then learn in one walk: both follow the same path, since learning only changes a
    node's own latest mass and a walk reads the children's; the window pivots after both."""
    window = state[WINDOW]
    height = state[HEIGHT]
    size_limit = SIZE_LIMIT_SHARE * state[WINDOW_SIZE]
    n_trees = feature.shape[0]
    nodes[:] = 0
    tree_score[:] = 0  # a tree's score so far; -1 - score once its walk has stopped
    depth_pow = 1
    for level in range(height + 1):
        for t in range(n_trees):
            node = nodes[t]
            here = mass[t, node]
            age = window - here[STAMP]
            partial = tree_score[t]
            if partial >= 0:
                reference = here[REFERENCE] if age == 0 else (here[LATEST] if age == 1 else 0)
                partial += reference * depth_pow
                tree_score[t] = -1 - partial if reference < size_limit else partial
            if age != 0:
                here[REFERENCE] = here[LATEST] if age == 1 else 0
                here[LATEST] = 0
                here[STAMP] = window
            here[LATEST] += 1
            if level < height:
                value = x[feature[t, node]]
                left = 2 * node + 1
                if np.isnan(value):
                    a = mass[t, left]
                    b = mass[t, left + 1]
                    a_latest = a[LATEST] if a[STAMP] == window else 0
                    b_latest = b[LATEST] if b[STAMP] == window else 0
                    nodes[t] = left + 1 if a_latest < b_latest else left
                else:
                    nodes[t] = left if value < threshold[t, node] else left + 1
        depth_pow *= 2
    state[COUNTER] += 1
    if state[COUNTER] == state[WINDOW_SIZE]:
        state[WINDOW] += 1
        state[COUNTER] = 0
    if window == 0:
        return 0.0
    score = 0.0
    for t in range(n_trees):
        score += tree_score[t] if tree_score[t] >= 0 else -1 - tree_score[t]
    max_score = n_trees * state[WINDOW_SIZE] * (2 ** (height + 1) - 1)
    return float(1.0 - score / max_score)


@kernel
def score_learn_rows(
    rows: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray
) -> FloatArray:
    """Prequential pass: score each row with the model as it stands, then learn it."""
    nodes = np.zeros(feature.shape[0], dtype=np.int64)
    tree_score = np.zeros(feature.shape[0], dtype=np.int64)
    out = np.zeros(rows.shape[0])
    for i in range(rows.shape[0]):
        out[i] = score_learn_row(rows[i], feature, threshold, mass, state, nodes, tree_score)
    return out


@kernel
def score_one(
    x: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray
) -> float:
    """The score of one row."""
    nodes = np.zeros(feature.shape[0], dtype=np.int64)
    tree_score = np.zeros(feature.shape[0], dtype=np.int64)
    return score_row(x, feature, threshold, mass, state, nodes, tree_score)


@kernel
def learn_one(
    x: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray
) -> None:
    """Learn one row."""
    nodes = np.zeros(feature.shape[0], dtype=np.int64)
    learn_row(x, feature, threshold, mass, state, nodes)


@kernel
def score_learn_one(
    x: FloatArray, feature: IntArray, threshold: FloatArray, mass: IntArray, state: LongArray
) -> float:
    """Score one row, then learn it."""
    nodes = np.zeros(feature.shape[0], dtype=np.int64)
    tree_score = np.zeros(feature.shape[0], dtype=np.int64)
    return score_learn_row(x, feature, threshold, mass, state, nodes, tree_score)
