"""FTRL-proximal logistic regression in plain Python, from McMahan et al. (2013) and the
encoding described in :mod:`models.ftrl_kernels`: the reference of the numba kernels."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

Slot = tuple[object, ...]


class ReferenceFTRL:
    def __init__(
        self,
        alpha: float = 0.2,
        beta: float = 1.0,
        l1: float = 0.1,
        l2: float = 1.0,
        coarse: int = 2,
        fine: int = 8,
        octaves: int = 24,
        decay: float = 0.99999,
        positive_weight: float = 1.0,
    ) -> None:
        self.alpha, self.beta, self.l1, self.l2 = alpha, beta, l1, l2
        self.coarse, self.fine, self.octaves, self.decay = coarse, fine, octaves, decay
        self.positive_weight = positive_weight
        self.z: defaultdict[Slot, float] = defaultdict(float)
        self.n: defaultdict[Slot, float] = defaultdict(float)
        self.stats: dict[str, list[float]] = {}
        self.names: list[str] = []

    @staticmethod
    def squash(v: float) -> float:
        return math.copysign(math.log2(1.0 + abs(v)), v)

    def bin(self, u: float, per_octave: int) -> int:
        top = per_octave * self.octaves
        return min(max(math.floor(u * per_octave), -top), top)

    def slots(self, x: Mapping[str, float]) -> list[tuple[Slot, float]]:
        out: list[tuple[Slot, float]] = [(("bias",), 1.0)]
        for name in self.names:
            v = x.get(name, math.nan)
            if math.isnan(v):
                out.append(((name, "missing"), 1.0))
                continue
            u = self.squash(v)
            weight, mean, m2 = self.stats.get(name, [0.0, 0.0, 0.0])
            standard = 0.0
            if weight > 1.0 and m2 > 0.0:
                standard = max(-5.0, min(5.0, (u - mean) / math.sqrt(m2 / weight)))
            out.append(((name, "linear"), standard))
            out.append(((name, "coarse", self.bin(u, self.coarse)), 1.0))
            out.append(((name, "fine", self.bin(u, self.fine)), 1.0))
        return out

    def weight(self, slot: Slot) -> float:
        z, n = self.z[slot], self.n[slot]
        if abs(z) <= self.l1:
            return 0.0
        return -(z - math.copysign(self.l1, z)) / (
            (self.beta + math.sqrt(n)) / self.alpha + self.l2
        )

    def logit(self, x: Mapping[str, float]) -> float:
        return sum(self.weight(slot) * value for slot, value in self.slots(x))

    def learn(self, x: Mapping[str, float], y: bool) -> None:
        for name in x:
            if name not in self.names:
                self.names.append(name)
        slots = self.slots(x)
        p = 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, self.logit(x)))))
        g = (p - float(y)) * (self.positive_weight if y else 1.0)
        for slot, value in slots:
            gi = g * value
            if gi == 0.0:
                continue
            sigma = (math.sqrt(self.n[slot] + gi * gi) - math.sqrt(self.n[slot])) / self.alpha
            self.z[slot] += gi - sigma * self.weight(slot)
            self.n[slot] += gi * gi
        for name in self.names:
            v = x.get(name, math.nan)
            if math.isnan(v):
                continue
            u = self.squash(v)
            stats = self.stats.setdefault(name, [0.0, 0.0, 0.0])
            weight = stats[0] * self.decay + 1.0
            delta = u - stats[1]
            stats[1] += delta / weight
            stats[2] = stats[2] * self.decay + delta * (u - stats[1])
            stats[0] = weight

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]:
        out = dict.fromkeys(self.names, 0.0)
        for slot, value in self.slots(x)[1:]:
            out[str(slot[0])] += self.weight(slot) * value
        return out
