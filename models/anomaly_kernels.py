"""numba kernels of the anomaly model (:mod:`models.anomaly`): online histograms and one pass
per event through the trees, the behaviour components and the final calibration.

Every quantity the model watches (each feature, each behaviour component, the trees' score and
the combined surprise) has an online histogram: ``per_octave`` bins per octave of ``|v|``,
both signs, held as a Fenwick tree so that a tail probability and an update each take a few
steps. Old events fade: counts are added with a weight that grows by ``1 / decay`` per event
(one shared ``scale``), which is the same as multiplying the past by ``decay`` each time.

Histogram rows: ``0..C-1`` the components, ``C`` the trees' score, ``C+1`` the combined
surprise, then one per feature (the model's ``FeatureIndex`` order).
"""

from __future__ import annotations

import math

import numpy as np

from models import hst_kernels
from models.jit import FloatArray, IntArray, LongArray, kernel

#: Indices into ``config``.
PER_OCTAVE, OCTAVES, DECAY, TREE_WEIGHT, TREE_FEATURES, TREES_ON_BEHAVIOUR = 0, 1, 2, 3, 4, 5
#: Share of the final score given to the raw surprise, so that events beyond everything seen
#: (all at percentile 1) keep their order.
TIE_BREAK = 1e-3
#: Rescale the stored counts before the growing weight overflows.
RESCALE_AT = 1e150
#: Surprises are capped here (a tail probability of about 1e-9).
MAX_SURPRISE = 20.0


def n_bins(per_octave: int, octaves: int) -> int:
    """Bins of one histogram: both signs, plus zero."""
    return 2 * per_octave * octaves + 1


@kernel
def _bin(value: float, per_octave: float, octaves: float) -> int:
    u = math.copysign(math.log2(1.0 + abs(value)), value)
    top = per_octave * octaves
    return int(min(max(math.floor(u * per_octave), -top), top) + top)


@kernel
def _below(tree: FloatArray, k: int, b: int) -> float:
    """Sum of the counts of bins ``0..b-1`` of histogram ``k``."""
    total = 0.0
    i = b
    while i > 0:
        total += tree[k, i]
        i -= i & (-i)
    return total


@kernel
def _add(tree: FloatArray, k: int, b: int, weight: float) -> None:
    i = b + 1
    while i < tree.shape[1]:
        tree[k, i] += weight
        i += i & (-i)


@kernel
def _tail(tree: FloatArray, totals: FloatArray, k: int, value: float, config: FloatArray) -> float:
    """P(V >= the bin of ``value``) in histogram ``k``; 1 while it is empty."""
    total = float(totals[k])
    if total <= 0.0:
        return 1.0
    b = _bin(value, config[PER_OCTAVE], config[OCTAVES])
    return max(total - _below(tree, k, b), 0.0) / total


@kernel
def _percentile(
    tree: FloatArray, totals: FloatArray, k: int, value: float, config: FloatArray
) -> float:
    """Share of histogram ``k`` below ``value``, interpolated inside its bin; 0.5 if empty."""
    total = float(totals[k])
    if total <= 0.0:
        return 0.5
    per_octave = config[PER_OCTAVE]
    b = _bin(value, per_octave, config[OCTAVES])
    below = _below(tree, k, b)
    inside = _below(tree, k, b + 1) - below
    position = math.copysign(math.log2(1.0 + abs(value)), value) * per_octave
    within = min(max(position - math.floor(position), 0.0), 1.0)
    return float(min(max((below + within * inside) / total, 0.0), 1.0))


@kernel
def _surprise(tail: float) -> float:
    return min(-math.log(max(tail, 1e-300)), MAX_SURPRISE)


@kernel
def _observe(
    tree: FloatArray, totals: FloatArray, scale: FloatArray, values: FloatArray, config: FloatArray
) -> None:
    """Add one event's values (NaN: absent) to every histogram, with the event's weight."""
    scale[0] /= config[DECAY]
    if scale[0] > RESCALE_AT:
        tree /= scale[0]
        totals /= scale[0]
        scale[0] = 1.0
    weight = scale[0]
    for k in range(values.shape[0]):
        v = values[k]
        if not np.isnan(v):
            _add(tree, k, _bin(v, config[PER_OCTAVE], config[OCTAVES]), weight)
            totals[k] += weight


@kernel
def components(
    row: FloatArray, numerator: LongArray, denominator: LongArray, per: FloatArray
) -> FloatArray:
    """Behaviour components: ``row[num]``, or ``row[num] / (row[den] * per + 1)``."""
    out = np.full(numerator.shape[0], np.nan)
    for c in range(numerator.shape[0]):
        j = numerator[c]
        if j < 0 or np.isnan(row[j]):
            continue
        d = denominator[c]
        if d < 0:
            out[c] = row[j]
        elif not np.isnan(row[d]):
            out[c] = row[j] / (max(row[d], 0.0) * per[c] + 1.0)
    return out


@kernel
def score_rows(
    rows: FloatArray,
    learn: bool,
    numerator: LongArray,
    denominator: LongArray,
    per: FloatArray,
    weights: FloatArray,
    tree: FloatArray,
    totals: FloatArray,
    scale: FloatArray,
    config: FloatArray,
    feature: IntArray,
    threshold: FloatArray,
    mass: IntArray,
    state: LongArray,
    surprises: FloatArray,
) -> FloatArray:
    """Anomaly scores of ``rows`` (each scored, then learnt when ``learn``).

    ``surprises[i]`` receives row ``i``'s surprise per component and, last, the trees'.
    """
    n_comp = numerator.shape[0]
    n_trees = feature.shape[0]
    n_tree_features = int(config[TREE_FEATURES])
    base = n_comp + 2
    values = np.full(base + rows.shape[1], np.nan)
    tree_input = np.zeros(max(n_tree_features, 1))
    nodes = np.zeros(n_trees, dtype=np.int64)
    tree_score = np.zeros(n_trees, dtype=np.int64)
    out = np.zeros(rows.shape[0])
    for i in range(rows.shape[0]):
        row = rows[i]
        comps = components(row, numerator, denominator, per)
        on_behaviour = config[TREES_ON_BEHAVIOUR] > 0.0
        for j in range(n_tree_features):  # trees see each input as its surprise, in [0, 1]
            if on_behaviour:
                v, h = comps[j], j
            else:
                v, h = (row[j] if j < row.shape[0] else np.nan), base + j
            if np.isnan(v):
                tree_input[j] = np.nan
            else:
                tree_input[j] = _surprise(_tail(tree, totals, h, v, config)) / MAX_SURPRISE
        if n_tree_features == 0:  # no trees before the first event with features
            trees = 0.0
        elif learn:
            trees = hst_kernels.score_learn_row(
                tree_input, feature, threshold, mass, state, nodes, tree_score
            )
        else:
            trees = hst_kernels.score_row(
                tree_input, feature, threshold, mass, state, nodes, tree_score
            )
        combined = 0.0  # log-sum-exp of the weighted surprises: a soft maximum
        for c in range(n_comp):
            s = 0.0 if np.isnan(comps[c]) else _surprise(_tail(tree, totals, c, comps[c], config))
            surprises[i, c] = s
            combined += math.exp(weights[c] * s)
        s = _surprise(_tail(tree, totals, n_comp, trees, config))
        surprises[i, n_comp] = s
        combined = math.log(combined + math.exp(config[TREE_WEIGHT] * s))
        out[i] = (1.0 - TIE_BREAK) * _percentile(
            tree, totals, n_comp + 1, combined, config
        ) + TIE_BREAK * (1.0 - math.exp(-combined / MAX_SURPRISE))
        if learn:
            values[:n_comp] = comps
            values[n_comp] = trees
            values[n_comp + 1] = combined
            values[base : base + row.shape[0]] = row
            _observe(tree, totals, scale, values, config)
    return out
