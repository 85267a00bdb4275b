"""numba kernels of the FTRL-proximal logistic regression (McMahan et al. 2013) of
:mod:`models.ftrl`, on a fixed encoding of each numeric feature.

Each feature (a column of the event's row; NaN = missing) becomes up to three weighted slots
of a block of ``block`` slots:

- slot 0: its squashed value ``u = sign(v) log2(1 + |v|)``, standardised with a running mean and
  variance, clipped to +-``CLIP``: the linear part;
- slot 1: present only when the feature is missing (missingness is information);
- one coarse bin and one fine bin of ``u`` (``coarse`` and ``fine`` bins per octave of
  ``|v|``): the one-hot parts that let a linear model follow a threshold (amount above 220) or
  any other bend, like a generalised additive model.

Slot 0 of the weight vector is the intercept. ``z`` and ``n`` are FTRL's per-coordinate state;
``stats[j]`` is ``[weight, mean, m2]`` of feature ``j``'s squashed value. ``config`` is
``[alpha, beta, l1, l2, coarse, fine, octaves, decay]``.
"""

from __future__ import annotations

import math

import numpy as np

from models.jit import FloatArray, LongArray, kernel

ALPHA, BETA, L1, L2, COARSE, FINE, OCTAVES, DECAY = range(8)
#: Standardised values are clipped to this many standard deviations.
CLIP = 5.0


def block_size(coarse: int, fine: int, octaves: int) -> int:
    """Slots per feature: linear, missing, then the coarse and fine bins of both signs."""
    return 2 + (2 * coarse * octaves + 1) + (2 * fine * octaves + 1)


@kernel
def _squash(value: float) -> float:
    return math.copysign(math.log2(1.0 + abs(value)), value)


@kernel
def _bin(u: float, per_octave: float, octaves: float) -> int:
    """Offset (from 0) of ``u``'s bin among ``2 * per_octave * octaves + 1``."""
    top = per_octave * octaves
    return int(min(max(math.floor(u * per_octave), -top), top) + top)


@kernel
def encode(
    x: FloatArray, stats: FloatArray, config: FloatArray, slots: LongArray, values: FloatArray
) -> int:
    """Fill ``slots``/``values`` with the active coordinates of ``x``; how many there are."""
    coarse, fine, octaves = config[COARSE], config[FINE], config[OCTAVES]
    n_coarse = int(2 * coarse * octaves + 1)
    block = 2 + n_coarse + int(2 * fine * octaves + 1)
    slots[0] = 0
    values[0] = 1.0
    m = 1
    for j in range(x.shape[0]):
        base = 1 + j * block
        v = x[j]
        if np.isnan(v):
            slots[m] = base + 1
            values[m] = 1.0
            m += 1
            continue
        u = _squash(v)
        weight, mean, m2 = stats[j, 0], stats[j, 1], stats[j, 2]
        standard = 0.0
        if weight > 1.0 and m2 > 0.0:
            standard = (u - mean) / math.sqrt(m2 / weight)
            standard = min(max(standard, -CLIP), CLIP)
        slots[m] = base
        values[m] = standard
        slots[m + 1] = base + 2 + _bin(u, coarse, octaves)
        values[m + 1] = 1.0
        slots[m + 2] = base + 2 + n_coarse + _bin(u, fine, octaves)
        values[m + 2] = 1.0
        m += 3
    return m


@kernel
def _weight(z: float, n: float, config: FloatArray) -> float:
    if abs(z) <= config[L1]:
        return 0.0
    shrunk = z - math.copysign(config[L1], z)
    return float(-shrunk / ((config[BETA] + math.sqrt(n)) / config[ALPHA] + config[L2]))


@kernel
def _logit(
    slots: LongArray, values: FloatArray, m: int, z: FloatArray, n: FloatArray, config: FloatArray
) -> float:
    total = 0.0
    for k in range(m):
        s = slots[k]
        total += _weight(z[s], n[s], config) * values[k]
    return total


@kernel
def logit_rows(
    rows: FloatArray, z: FloatArray, n: FloatArray, stats: FloatArray, config: FloatArray
) -> FloatArray:
    """The model's logit for each row (no learning)."""
    slots = np.zeros(3 * rows.shape[1] + 1, dtype=np.int64)
    values = np.zeros(3 * rows.shape[1] + 1)
    out = np.zeros(rows.shape[0])
    for i in range(rows.shape[0]):
        m = encode(rows[i], stats, config, slots, values)
        out[i] = _logit(slots, values, m, z, n, config)
    return out


@kernel
def learn_rows(
    rows: FloatArray,
    ys: FloatArray,
    ws: FloatArray,
    z: FloatArray,
    n: FloatArray,
    stats: FloatArray,
    config: FloatArray,
) -> FloatArray:
    """One FTRL-proximal step per row (label ``ys[i]``, sample weight ``ws[i]``), in order;
    then the row's values join the running means and variances (with ``decay``). Returns the
    logit of each row just before its own step (what :func:`logit_rows` said of it then)."""
    slots = np.zeros(3 * rows.shape[1] + 1, dtype=np.int64)
    values = np.zeros(3 * rows.shape[1] + 1)
    before = np.zeros(rows.shape[0])
    alpha = config[ALPHA]
    decay = config[DECAY]
    for i in range(rows.shape[0]):
        m = encode(rows[i], stats, config, slots, values)
        logit = _logit(slots, values, m, z, n, config)
        before[i] = logit
        p = 1.0 / (1.0 + math.exp(-min(max(logit, -35.0), 35.0)))
        g = (p - ys[i]) * ws[i]
        for k in range(m):
            s = slots[k]
            gi = g * values[k]
            if gi == 0.0:
                continue
            sigma = (math.sqrt(n[s] + gi * gi) - math.sqrt(n[s])) / alpha
            z[s] += gi - sigma * _weight(z[s], n[s], config)
            n[s] += gi * gi
        x = rows[i]
        for j in range(x.shape[0]):  # Welford's update with exponential forgetting
            v = x[j]
            if np.isnan(v):
                continue
            u = _squash(v)
            weight = stats[j, 0] * decay + 1.0
            delta = u - stats[j, 1]
            stats[j, 1] += delta / weight
            stats[j, 2] = stats[j, 2] * decay + delta * (u - stats[j, 1])
            stats[j, 0] = weight
    return before


@kernel
def contributions(
    x: FloatArray, z: FloatArray, n: FloatArray, stats: FloatArray, config: FloatArray
) -> FloatArray:
    """Each feature's share of the logit of ``x`` (the intercept left out)."""
    slots = np.zeros(3 * x.shape[0] + 1, dtype=np.int64)
    values = np.zeros(3 * x.shape[0] + 1)
    m = encode(x, stats, config, slots, values)
    block = (
        2
        + int(2 * config[COARSE] * config[OCTAVES] + 1)
        + int(2 * config[FINE] * config[OCTAVES] + 1)
    )
    out = np.zeros(x.shape[0])
    for k in range(1, m):
        s = slots[k]
        out[(s - 1) // block] += _weight(z[s], n[s], config) * values[k]
    return out
