"""Half-Space Trees in plain Python, written from the paper and river's semantics: the reference
the numba kernels are checked against. Slow and obvious on purpose: node objects, an eager
pivot of every node at the end of each window, dict features.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Node:
    feature: str = ""
    threshold: float = 0.0
    children: list[Node] = field(default_factory=list)
    latest: int = 0
    reference: int = 0


def _grow(limits: dict[str, tuple[float, float]], height: int, rng: random.Random) -> Node:
    if height == 0:
        return Node()
    names = list(limits)
    on = rng.choices(population=names, weights=[limits[n][1] - limits[n][0] for n in names])[0]
    low, high = limits[on]
    at = rng.uniform(low + 0.15 * (high - low), high - 0.15 * (high - low))
    limits[on] = (low, at)
    left = _grow(limits, height - 1, rng)
    limits[on] = (at, high)
    right = _grow(limits, height - 1, rng)
    limits[on] = (low, high)
    return Node(on, at, [left, right])


def _walk(node: Node, x: Mapping[str, float]) -> Node:
    value = x.get(node.feature, math.nan)
    left, right = node.children
    if math.isnan(value):
        return right if left.latest < right.latest else left
    return left if value < node.threshold else right


def _nodes(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        out += _nodes(child)
    return out


class ReferenceHST:
    """The reference: same parameters and meaning as :class:`models.hst.HalfSpaceTrees`."""

    def __init__(self, n_trees: int, height: int, window_size: int, seed: int) -> None:
        self.n_trees, self.height, self.window_size = n_trees, height, window_size
        self.rng = random.Random(seed)
        self.trees: list[Node] = []
        self.counter = 0
        self.windows = 0

    def learn_one(self, x: Mapping[str, float]) -> None:
        if not self.trees:
            limits = dict.fromkeys(sorted(x), (0.0, 1.0))
            self.trees = [_grow(dict(limits), self.height, self.rng) for _ in range(self.n_trees)]
        for tree in self.trees:
            node = tree
            for _ in range(self.height):
                node.latest += 1
                node = _walk(node, x)
            node.latest += 1
        self.counter += 1
        if self.counter == self.window_size:
            for tree in self.trees:
                for node in _nodes(tree):
                    node.reference, node.latest = node.latest, 0
            self.counter = 0
            self.windows += 1

    def score_one(self, x: Mapping[str, float]) -> float:
        if self.windows == 0:
            return 0.0
        total = 0.0
        for tree in self.trees:
            node, weight = tree, 1
            for depth in range(self.height + 1):
                total += node.reference * weight
                if depth == self.height or node.reference < 0.1 * self.window_size:
                    break
                node = _walk(node, x)
                weight *= 2
        return 1.0 - total / (self.n_trees * self.window_size * (2 ** (self.height + 1) - 1))

    def masses(self) -> tuple[list[list[int]], list[list[int]]]:
        """Latest and reference mass of each node of each tree, heap order."""
        latest, reference = [], []
        for tree in self.trees:
            level, order = [tree], []
            while level:
                order += level
                level = [child for node in level for child in node.children]
            latest.append([node.latest for node in order])
            reference.append([node.reference for node in order])
        return latest, reference
